#include "render.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

namespace tour {

namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> lines;
    while (true) {
        auto nl = s.find('\n');
        lines.push_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
    return lines;
}

std::string spaces(std::size_t n) {
    return std::string(n, ' ');
}

/// Splits one paragraph into lines of at most `width` columns, breaking at spaces.
std::vector<std::string> wrap(std::string_view text, std::size_t width) {
    std::vector<std::string> out;
    std::string line;
    std::size_t line_w = 0;
    while (!text.empty()) {
        auto sp = text.find(' ');
        std::string_view word = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
        if (word.empty()) continue;
        std::size_t w = display_width(word);
        if (line_w > 0 && line_w + 1 + w > width) {
            out.push_back(std::move(line));
            line.clear();
            line_w = 0;
        }
        if (line_w > 0) {
            line += ' ';
            ++line_w;
        }
        line += word;
        line_w += w;
    }
    if (!line.empty()) out.push_back(std::move(line));
    return out;
}

}  // namespace

Style detect_style() {
    Style st;
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        st.width = ws.ws_col;
    } else if (const char* c = std::getenv("COLUMNS"); c != nullptr && std::atoi(c) > 0) {
        st.width = std::atoi(c);
    }
    st.color = isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
    return st;
}

std::size_t display_width(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string paint(const Style& st, std::string_view text, const char* code) {
    if (!st.color) return std::string(text);
    return "\x1b[" + std::string(code) + "m" + std::string(text) + "\x1b[0m";
}

void print_wrapped(std::FILE* out, const Style& st, std::string_view text, int indent) {
    auto width = static_cast<std::size_t>(std::max(20, st.width - indent - 1));
    for (std::string_view para : split_lines(text)) {
        if (para.empty()) {
            std::fputc('\n', out);
            continue;
        }
        // Bullets ("* ") and list lines that start with spaces keep a hanging indent.
        std::size_t lead = para.find_first_not_of(' ');
        if (lead == std::string_view::npos) lead = 0;
        std::size_t hang = lead;
        std::string_view head = para.substr(lead);
        if (head.starts_with("* ") || head.starts_with("- ")) {
            hang = lead + 2;
        } else if (head.starts_with("→ ")) {
            hang = lead + 2;
        } else if (head.size() > 3 && head[2] == ' ' && (head[1] == '.' || head[1] == ')') &&
                   std::isalnum(static_cast<unsigned char>(head[0]))) {
            hang = lead + 3;  // "1. question", "a) option"
        }
        auto lines = wrap(para.substr(lead), width - std::min(width - 10, hang));
        for (std::size_t i = 0; i < lines.size(); ++i) {
            std::fprintf(out, "%s%s%s\n", spaces(static_cast<std::size_t>(indent)).c_str(),
                         spaces(i == 0 ? lead : hang).c_str(), lines[i].c_str());
        }
    }
}

void print_rule(std::FILE* out, const Style& st, std::string_view text, std::string_view right,
                const char* color) {
    std::string line = "── " + std::string(text) + " ";
    std::size_t used = display_width(line) + (right.empty() ? 0 : display_width(right) + 1);
    std::size_t total = static_cast<std::size_t>(std::max(st.width - 1, 20));
    if (used + 3 > total) {  // too narrow for one line: the title, then the right part under it
        std::fprintf(out, "%s\n", paint(st, "── " + std::string(text), color).c_str());
        if (!right.empty())
            std::fprintf(out, "%s\n", paint(st, "   " + std::string(right), color).c_str());
        return;
    }
    std::string fill;
    for (std::size_t i = used; i < total; ++i) fill += "─";
    if (!right.empty()) fill += " " + std::string(right);
    std::fprintf(out, "%s\n", paint(st, line + fill, color).c_str());
}

/// A code line cut into rows of at most `avail` columns: at a space where there is one,
/// each continuation indented four columns more than the line.
static std::vector<std::string> code_rows(std::string_view line, std::size_t avail) {
    std::vector<std::string> rows;
    std::size_t indent = std::min(line.find_first_not_of(' '), line.size());
    std::string pad(indent + 4, ' ');
    std::string rest(line);
    bool first = true;
    while (true) {
        std::string row = first ? rest : pad + rest;
        if (display_width(row) <= avail) {
            rows.push_back(row);
            break;
        }
        // the byte where column `avail` starts, then back to a space after the indentation
        std::size_t cut = 0, cols = 0;
        while (cut < row.size() && cols < avail) {
            ++cut;
            while (cut < row.size() && (static_cast<unsigned char>(row[cut]) & 0xC0) == 0x80) ++cut;
            ++cols;
        }
        std::size_t from = first ? indent : pad.size();
        std::size_t space = row.rfind(' ', cut);
        if (space != std::string::npos && space > from + 8) cut = space;
        rows.push_back(row.substr(0, cut));
        std::size_t next = row.find_first_not_of(' ', cut);
        if (next == std::string::npos) break;
        rest = row.substr(next);
        first = false;
    }
    return rows;
}

bool print_code_pair(std::FILE* out, const Style& st, std::string_view left_title,
                     std::string_view left, std::string_view right_title, std::string_view right) {
    auto l = split_lines(left), r = split_lines(right);
    std::size_t lw = display_width(left_title), rw = display_width(right_title);
    for (auto s : l) lw = std::max(lw, display_width(s));
    for (auto s : r) rw = std::max(rw, display_width(s));
    // "│ " + left + " │ " + right
    bool side = 2 + lw + 3 + rw <= static_cast<std::size_t>(st.width);
    auto head = [&](std::string_view t, const char* color) { return paint(st, t, color); };
    if (side) {
        std::fprintf(out, "  %s%s   %s\n", head(left_title, ansi::yellow).c_str(),
                     spaces(lw - display_width(left_title)).c_str(),
                     head(right_title, ansi::cyan).c_str());
        for (std::size_t i = 0; i < std::max(l.size(), r.size()); ++i) {
            std::string_view a = i < l.size() ? l[i] : "", b = i < r.size() ? r[i] : "";
            std::fprintf(out, "  %s%s %s %s\n", std::string(a).c_str(),
                         spaces(lw - display_width(a)).c_str(), paint(st, "│", ansi::dim).c_str(),
                         std::string(b).c_str());
        }
    } else {
        // One after the other; a line wider than the terminal goes on below, indented further.
        auto avail = static_cast<std::size_t>(std::max(st.width - 5, 20));
        auto listing = [&](const std::vector<std::string_view>& lines) {
            for (auto s : lines) {
                for (const auto& row : code_rows(s, avail))
                    std::fprintf(out, "  %s %s\n", paint(st, "│", ansi::dim).c_str(), row.c_str());
            }
        };
        std::fprintf(out, "  %s\n", head(left_title, ansi::yellow).c_str());
        listing(l);
        std::fprintf(out, "\n  %s\n", head(right_title, ansi::cyan).c_str());
        listing(r);
    }
    return side;
}

}  // namespace tour

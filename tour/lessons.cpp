// The lessons as data: tour/lessons/<id>.<lang>.md parsed into Lesson (see lessons.hpp
// and tour/lessons/README.md for the format), and the code regions of the examples.
#include "lessons.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <stdexcept>

#include "embedded.hpp"

namespace tour {

namespace {

// ---- one file, one language ----------------------------------------------------------

struct QuestionText {
    std::string text, why;
    std::vector<std::string> options;
    int correct = -1;
    int part = -1;
};

struct PartText {
    std::string title, note, python, after;
    std::vector<std::string> programs, code;
};

struct LessonText {
    std::string file, lang, id, alias, title, intro;
    std::vector<PartText> parts;
    std::vector<QuestionText> questions;
};

[[noreturn]] void fail(const std::string& file, std::size_t line, const std::string& what) {
    throw std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : "") + ": " + what);
}

std::string trimmed(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> words(std::string_view s) {
    std::istringstream in{std::string(s)};
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

/// "tour/lessons/a.es.md" → ("a", "es"); empty when the name is not of that shape.
std::pair<std::string, std::string> id_and_lang(std::string_view path) {
    constexpr std::string_view dir = "tour/lessons/";
    if (!path.starts_with(dir) || !path.ends_with(".md")) return {};
    std::string_view name = path.substr(dir.size(), path.size() - dir.size() - 3);
    auto dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return {};
    return {std::string(name.substr(0, dot)), std::string(name.substr(dot + 1))};
}

LessonText parse_lesson(const std::string& file, std::string_view text) {
    LessonText l;
    l.file = file;
    std::vector<std::string> lines;
    {
        std::istringstream in{std::string(text)};
        for (std::string s; std::getline(in, s);) {
            if (!s.empty() && s.back() == '\r') s.pop_back();
            lines.push_back(s);
        }
    }
    std::size_t n = 0;  // index of the next line; line numbers shown are n (1-based after ++)
    if (lines.empty() || lines[0] != "---")
        fail(file, 1,
             "a lesson file starts with a front matter: '---', id:, alias:, title:, '---'");
    for (n = 1; n < lines.size() && lines[n] != "---"; ++n) {
        auto colon = lines[n].find(':');
        if (colon == std::string::npos)
            fail(file, n + 1, "expected 'key: value' in the front matter");
        std::string key = lines[n].substr(0, colon), value = trimmed(lines[n].substr(colon + 1));
        if (key == "id") {
            l.id = value;
        } else if (key == "alias") {
            l.alias = value;
        } else if (key == "title") {
            l.title = value;
        } else {
            fail(file, n + 1, "unknown key '" + key + "' (the front matter has id, alias, title)");
        }
    }
    if (n == lines.size()) fail(file, n, "the front matter does not end with '---'");
    if (l.id.empty() || l.alias.empty() || l.title.empty())
        fail(file, n + 1, "the front matter needs id:, alias: and title:");
    ++n;

    enum class In { intro, part, question } in = In::intro;
    bool fenced_done = false;  // the part's ```python block was read
    for (; n < lines.size(); ++n) {
        const std::string& s = lines[n];
        const std::size_t at = n + 1;
        if (s.starts_with("## ")) {
            std::string head = s.substr(3);
            if (head.starts_with("part:")) {
                l.parts.push_back({});
                l.parts.back().title = trimmed(head.substr(5));
                if (l.parts.back().title.empty()) fail(file, at, "'## part:' needs a title");
                in = In::part;
                fenced_done = false;
            } else if (head == "question" || head == "predict") {
                if (head == "predict" && l.parts.empty())
                    fail(file, at, "'## predict' belongs to a part: put it after a '## part:'");
                l.questions.push_back({});
                l.questions.back().part =
                    head == "predict" ? static_cast<int>(l.parts.size()) - 1 : -1;
                in = In::question;
            } else {
                fail(file, at,
                     "unknown section '" + s +
                         "' (use '## part: TITLE', '## predict' or '## question')");
            }
            continue;
        }
        if (in == In::intro) {
            l.intro += s + "\n";
        } else if (in == In::part) {
            PartText& p = l.parts.back();
            if (!fenced_done && s.starts_with("note:")) {
                p.note = trimmed(s.substr(5));
            } else if (!fenced_done && s.starts_with("run:")) {
                p.programs = words(s.substr(4));
            } else if (!fenced_done && s.starts_with("code:")) {
                p.code = words(s.substr(5));
            } else if (!fenced_done && s == "```python") {
                std::size_t open = at;
                for (++n; n < lines.size() && lines[n] != "```"; ++n) p.python += lines[n] + "\n";
                if (n == lines.size())
                    fail(file, open, "this ```python block is never closed with ```");
                if (!p.python.empty()) p.python.pop_back();
                fenced_done = true;
            } else if (!fenced_done && !trimmed(s).empty()) {
                fail(file, at,
                     "before its ```python block a part has only note:, run: and code: lines");
            } else if (fenced_done) {
                p.after += s + "\n";
            }
        } else {
            QuestionText& q = l.questions.back();
            if (s.starts_with("? ")) {
                q.text = trimmed(s.substr(2));
            } else if (s.starts_with("- ") || s.starts_with("+ ")) {
                if (s[0] == '+') {
                    if (q.correct >= 0)
                        fail(file, at,
                             "a second right answer ('+'): only one option starts with '+'");
                    q.correct = static_cast<int>(q.options.size());
                }
                q.options.push_back(trimmed(s.substr(2)));
            } else if (s.starts_with("why:")) {
                q.why = trimmed(s.substr(4));
            } else if (!trimmed(s).empty()) {
                fail(file, at,
                     "a question has lines '? text', '- wrong option', '+ right option' and 'why: "
                     "…'");
            }
        }
    }
    l.intro = trimmed(l.intro);
    for (std::size_t i = 0; i < l.parts.size(); ++i) {
        auto& p = l.parts[i];
        p.after = trimmed(p.after);
        if (p.python.empty()) fail(file, 0, "part '" + p.title + "' has no ```python block");
        if (p.code.empty())
            fail(file, 0, "part '" + p.title + "' has no code: line (example#region …)");
    }
    for (const auto& q : l.questions) {
        if (q.text.empty() || q.why.empty() || q.options.size() < 2 || q.correct < 0)
            fail(file, 0,
                 "the question '" + q.text +
                     "' needs a '? ' line, two options or more, one right answer ('+ ') and a "
                     "'why:' line");
    }
    return l;
}

// ---- code regions --------------------------------------------------------------------

/// `line` without its `//` comment (a `//` inside a string or character literal stays).
std::string without_comment(const std::string& line) {
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote != 0) {
            if (c == '\\') {
                ++i;
            } else if (c == quote) {
                quote = 0;
            }
        } else if (c == '"') {
            quote = c;
        } else if (c == '\'' &&
                   (i == 0 || !std::isalnum(static_cast<unsigned char>(line[i - 1])))) {
            quote = c;  // a character literal (a digit separator follows a digit)
        } else if (c == '/' && i + 1 < line.size() && line[i + 1] == '/') {
            std::string code = line.substr(0, i);
            while (!code.empty() && code.back() == ' ') code.pop_back();
            return code;
        }
    }
    return line;
}

std::string example_path(std::string_view name) {
    return "examples/" + std::string(name) + ".cpp";
}

/// The code of a part: its regions, each file named once in a comment, "…" between regions.
std::string part_code(const SourceFiles& files, const LessonText& l, const PartText& p,
                      bool keep_comments) {
    std::string out, last_file;
    for (const auto& ref : p.code) {
        auto hash = ref.find('#');
        if (hash == std::string::npos)
            fail(l.file, 0, "code: '" + ref + "' should be example#region, e.g. 01_process#main");
        std::string file = example_path(ref.substr(0, hash));
        auto it = files.find(file);
        if (it == files.end())
            fail(l.file, 0, "code: '" + ref + "' names " + file + ", which does not exist");
        std::string code;
        try {
            code = region(it->second, ref.substr(hash + 1), keep_comments);
        } catch (const std::exception& e) {
            fail(l.file, 0, "code: '" + ref + "': " + e.what());
        }
        if (file != last_file) {
            out += (out.empty() ? "" : "\n") + std::string("// ") + file + "\n";
        } else {
            out += "// …\n";
        }
        out += code;
        last_file = file;
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// ---- all files, all languages --------------------------------------------------------

void same(const LessonText& a, const LessonText& b, std::size_t na, std::size_t nb,
          const std::string& what) {
    if (na != nb)
        fail(b.file, 0,
             std::to_string(nb) + " " + what + " where " + a.file + " has " + std::to_string(na) +
                 ": every language has the same lessons, parts and questions");
}

void check_same_shape(const LessonText& a, const LessonText& b) {
    if (a.alias != b.alias)
        fail(b.file, 0, "alias '" + b.alias + "' differs from " + a.file + "'s '" + a.alias + "'");
    same(a, b, a.parts.size(), b.parts.size(), "parts");
    for (std::size_t i = 0; i < a.parts.size(); ++i) {
        if (a.parts[i].programs != b.parts[i].programs || a.parts[i].code != b.parts[i].code)
            fail(b.file, 0,
                 "part " + std::to_string(i + 1) + " ('" + b.parts[i].title +
                     "') runs or shows other code than in " + a.file +
                     ": run: and code: are the same in every language");
    }
    same(a, b, a.questions.size(), b.questions.size(), "questions");
    for (std::size_t i = 0; i < a.questions.size(); ++i) {
        const auto &qa = a.questions[i], &qb = b.questions[i];
        if (qa.part != qb.part || qa.options.size() != qb.options.size() ||
            qa.correct != qb.correct)
            fail(b.file, 0,
                 "question " + std::to_string(i + 1) + " ('" + qb.text + "') differs from " +
                     a.file + " in its place, its number of options or its right answer");
    }
}

Text both(const std::string& en, const std::string& es) {
    return {en, es};
}

}  // namespace

std::string region(std::string_view source, std::string_view name, bool keep_comments) {
    const std::string begin = "// tour:begin " + std::string(name),
                      end = "// tour:end " + std::string(name);
    std::istringstream in{std::string(source)};
    std::vector<std::string> body;
    bool inside = false, found = false, closed = false;
    for (std::string line; std::getline(in, line);) {
        std::string t = trimmed(line);
        if (t == begin) {
            if (found)
                throw std::runtime_error("region '" + std::string(name) + "' is marked twice");
            inside = found = true;
            continue;
        }
        if (t == end && inside) {
            inside = false;
            closed = true;
            continue;
        }
        if (!inside || t.starts_with("// tour:")) continue;
        if (!keep_comments) {
            std::string code = without_comment(line);
            if (trimmed(code).empty() && !t.empty()) continue;  // a comment line
            line = code;
        }
        body.push_back(line);
    }
    if (!found)
        throw std::runtime_error("no region '" + std::string(name) + "': mark it with '" + begin +
                                 "' and '" + end + "' lines in the example");
    if (!closed)
        throw std::runtime_error("region '" + std::string(name) + "' has no '" + end + "' line");
    std::size_t indent = std::string::npos;
    for (const auto& l : body) {
        if (auto first = l.find_first_not_of(' '); first != std::string::npos)
            indent = std::min(indent, first);
    }
    std::string out;
    for (const auto& l : body) out += (l.size() > indent ? l.substr(indent) : trimmed(l)) + "\n";
    return out;
}

std::vector<Lesson> load_lessons(const SourceFiles& files) {
    std::map<std::string, std::map<std::string, LessonText>> by_id;  // id → lang → text
    std::set<std::string> langs;
    for (const auto& [path, text] : files) {
        auto [id, lang] = id_and_lang(path);
        if (id.empty()) continue;
        LessonText l = parse_lesson(path, text);
        if (l.id != id)
            fail(path, 2, "id: " + l.id + " but the file is named for lesson '" + id + "'");
        l.lang = lang;
        langs.insert(lang);
        by_id[id].emplace(lang, std::move(l));
    }
    if (by_id.empty())
        throw std::runtime_error("no lesson files (tour/lessons/<id>.<lang>.md) were found");
    for (const char* needed : {"en", "es"}) {
        if (!langs.contains(needed))
            throw std::runtime_error(std::string("no lesson is in '") + needed +
                                     "': the tour speaks en and es");
    }
    for (const auto& [id, per_lang] : by_id) {
        for (const auto& lang : langs) {
            if (!per_lang.contains(lang))
                throw std::runtime_error("tour/lessons/" + id + "." + lang +
                                         ".md is missing: every language has every lesson (copy " +
                                         per_lang.begin()->second.file + " and translate it)");
        }
        const LessonText& en = per_lang.at("en");
        for (const auto& [lang, l] : per_lang) check_same_shape(en, l);
        for (const auto& [lang, l] : per_lang) {
            for (const auto& p : l.parts) {
                for (const auto& prog : p.programs) {
                    if (!files.contains(example_path(prog)))
                        fail(l.file, 0,
                             "run: " + prog + " is not an example (no " + example_path(prog) + ")");
                }
                part_code(files, l, p, false);  // every region exists
            }
        }
    }

    std::vector<Lesson> all;
    for (const auto& [id, per_lang] : by_id) {
        const LessonText &en = per_lang.at("en"), &es = per_lang.at("es");
        Lesson l;
        l.id = id;
        l.alias = en.alias;
        l.title = both(en.title, es.title);
        l.intro = both(en.intro, es.intro);
        for (std::size_t i = 0; i < en.parts.size(); ++i) {
            const auto &pe = en.parts[i], &ps = es.parts[i];
            Part p;
            p.title = both(pe.title, ps.title);
            p.python_note = both(pe.note, ps.note);
            p.python = both(pe.python, ps.python);
            p.mp = both(part_code(files, en, pe, true), part_code(files, es, ps, false));
            p.programs = pe.programs;
            p.code = pe.code;
            p.after = both(pe.after, ps.after);
            l.parts.push_back(std::move(p));
        }
        for (std::size_t i = 0; i < en.questions.size(); ++i) {
            const auto &qe = en.questions[i], &qs = es.questions[i];
            Question q;
            q.text = both(qe.text, qs.text);
            for (std::size_t k = 0; k < qe.options.size(); ++k)
                q.options.push_back(both(qe.options[k], qs.options[k]));
            q.correct = qe.correct;
            q.explanation = both(qe.why, qs.why);
            q.part = qe.part;
            l.questions.push_back(std::move(q));
        }
        all.push_back(std::move(l));
    }
    return all;  // by id: "a" … "k" is the guides' order
}

SourceFiles builtin_files() {
    SourceFiles files;
    for (const auto& f : embedded_files()) files.emplace(std::string(f.path), std::string(f.text));
    return files;
}

const std::vector<Lesson>& lessons() {
    static const std::vector<Lesson> all = load_lessons(builtin_files());
    return all;
}

}  // namespace tour

// How the tour writes to the terminal: width, colours, wrapped paragraphs, and
// two code listings side by side (or one after the other when they do not fit).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace tour {

struct Style {
    int width = 80;      ///< columns available
    bool color = false;  ///< ANSI colours and the spinner (a terminal, not a pipe)
};

/// The terminal's width (ioctl, then $COLUMNS, else 80) and whether to use colour
/// (stdout is a terminal and NO_COLOR is unset).
Style detect_style();

/// Columns a UTF-8 string takes (one per code point).
std::size_t display_width(std::string_view s);

/// An ANSI-coloured span, or the plain text when colour is off.
std::string paint(const Style& st, std::string_view text, const char* ansi);

namespace ansi {
inline constexpr const char* bold = "1";
inline constexpr const char* dim = "2";
inline constexpr const char* yellow = "33";
inline constexpr const char* cyan = "36";
inline constexpr const char* green = "32";
inline constexpr const char* red = "31";
inline constexpr const char* magenta = "35";
}  // namespace ansi

/// Prints paragraphs wrapped to the width. Lines starting with "* " are bullets
/// (continuation lines indented under the text); a blank line separates paragraphs.
void print_wrapped(std::FILE* out, const Style& st, std::string_view text, int indent = 0);

/// A heading line: "── text ───── right" filling the width.
void print_rule(std::FILE* out, const Style& st, std::string_view text, std::string_view right = {},
                const char* color = ansi::bold);

/// The two listings side by side if both fit in the width, otherwise one after the other.
/// Returns true when they were printed side by side.
bool print_code_pair(std::FILE* out, const Style& st, std::string_view left_title,
                     std::string_view left, std::string_view right_title, std::string_view right);

}  // namespace tour

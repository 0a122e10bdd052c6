// Text read from the target is untrusted: escape it before it reaches a terminal.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace objspy {

// Printable form of bytes from the target: valid UTF-8 printable characters pass through;
// control characters (C0, DEL, C1), invalid UTF-8 and backslash are written Python-style
// (\x1b, \n, \\), so the result is one line and carries no terminal escape sequence.
std::string escape_for_terminal(std::string_view raw);

// Number of code points (terminal columns for the common case) of a valid UTF-8 string.
std::size_t display_width(std::string_view utf8);

// Replace invalid UTF-8 sequences with U+FFFD (for JSON output).
std::string sanitize_utf8(std::string_view raw);

}  // namespace objspy

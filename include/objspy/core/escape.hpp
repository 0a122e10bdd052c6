// Text read from the target is untrusted: escape it before it reaches a terminal.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace objspy {

// Printable form of bytes from the target: valid UTF-8 printable characters pass through;
// control characters (C0, DEL, C1), invalid UTF-8 and backslash are written Python-style
// (\x1b, \n, \\), and so is every code point that is invisible or changes the direction of
// the text around it (\u200e, \u202e, \ufeff, \U000e0041: see is_invisible), so the result is
// one line, carries no terminal escape sequence, and shows every code point it stands for.
std::string escape_for_terminal(std::string_view raw);

// The same, cut to at most `max_columns` display columns: when the escaped text is wider, its
// start and its end are kept around a "…" (U+2026), so a qualified name keeps its module and
// its class. Cuts fall between escaped characters, never inside an escape sequence.
// `max_columns` below 8 is taken as 8.
std::string escape_for_terminal(std::string_view raw, std::size_t max_columns);

// Code points escaped although valid and not controls: format characters (Unicode category
// Cf: bidi marks, embeddings, overrides and isolates, zero-width spaces and joiners, the word
// joiner and invisible operators, soft hyphen, BOM, Arabic and Syriac marks, tags), line and
// paragraph separators, spaces other than U+0020, blank fillers (Hangul fillers, braille
// blank, combining grapheme joiner, Khmer inherent vowels), variation selectors, and
// noncharacters. Each can make two different names look alike or reorder what follows.
bool is_invisible(char32_t cp);

// Terminal columns of a valid UTF-8 string: 2 for East Asian wide and fullwidth characters
// and emoji, 0 for the common combining-mark blocks, 1 otherwise (an approximation of
// wcwidth that needs no locale; escaped text is mostly ASCII).
std::size_t display_width(std::string_view utf8);

// Replace invalid UTF-8 sequences with U+FFFD (for JSON output).
std::string sanitize_utf8(std::string_view raw);

}  // namespace objspy

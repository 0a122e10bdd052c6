#include "objspy/core/escape.hpp"

#include <algorithm>
#include <iterator>

namespace objspy {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not valid (overlong forms,
// surrogates and code points past U+10FFFF are invalid).
std::size_t utf8_seq_len(std::string_view s, std::size_t i, char32_t* cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) { *cp = c; return 1; }
  std::size_t n;
  char32_t v;
  char32_t min;
  if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; min = 0x10000; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

struct Range {
  char32_t lo, hi;
};

template <std::size_t N>
bool in(const Range (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp, [](char32_t c, const Range& r) { return c < r.lo; });
  return it != std::begin(table) && cp <= std::prev(it)->hi;
}

// Sorted. Every Unicode 17 Cf code point is here (checked against Python 3.15's unicodedata,
// and by a unit test for those the issue names); the rest are invisible by appearance.
constexpr Range kInvisible[] = {
    {0x00A0, 0x00A0},    // no-break space
    {0x00AD, 0x00AD},    // soft hyphen
    {0x034F, 0x034F},    // combining grapheme joiner
    {0x0600, 0x0605},    // Arabic number signs (Cf)
    {0x061C, 0x061C},    // Arabic letter mark
    {0x06DD, 0x06DD},    // Arabic end of ayah (Cf)
    {0x070F, 0x070F},    // Syriac abbreviation mark (Cf)
    {0x0890, 0x0891},    // Arabic pound and piastre marks (Cf)
    {0x08E2, 0x08E2},    // Arabic disputed end of ayah (Cf)
    {0x115F, 0x1160},    // Hangul choseong and jungseong fillers
    {0x1680, 0x1680},    // Ogham space mark
    {0x17B4, 0x17B5},    // Khmer inherent vowels (not to be displayed)
    {0x180B, 0x180F},    // Mongolian free variation selectors, vowel separator
    {0x2000, 0x200F},    // spaces, zero-width space/non-joiner/joiner, LRM, RLM
    {0x2028, 0x202F},    // line and paragraph separators, LRE RLE PDF LRO RLO, narrow no-break space
    {0x205F, 0x206F},    // medium math space, word joiner, invisible operators, isolates, deprecated formats
    {0x2800, 0x2800},    // braille pattern blank
    {0x3000, 0x3000},    // ideographic space
    {0x3164, 0x3164},    // Hangul filler
    {0xFDD0, 0xFDEF},    // noncharacters
    {0xFE00, 0xFE0F},    // variation selectors
    {0xFEFF, 0xFEFF},    // zero-width no-break space (BOM)
    {0xFFA0, 0xFFA0},    // halfwidth Hangul filler
    {0xFFF0, 0xFFFB},    // unassigned specials, interlinear annotation (Cf)
    {0x110BD, 0x110BD},  // Kaithi number sign (Cf)
    {0x110CD, 0x110CD},  // Kaithi number sign above (Cf)
    {0x13430, 0x1343F},  // Egyptian hieroglyph format controls (Cf)
    {0x1BCA0, 0x1BCA3},  // shorthand format controls (Cf)
    {0x1D173, 0x1D17A},  // musical symbol format controls (Cf)
    {0xE0000, 0xE0FFF},  // language tag, tag characters (Cf), variation selectors supplement
};

// East Asian wide and fullwidth blocks and the emoji blocks (Markus Kuhn's wcwidth ranges).
constexpr Range kWide[] = {
    {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},
    {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

// Combining marks that take no column of their own (the common blocks only).
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x20D0, 0x20FF}, {0xFE20, 0xFE2F},
};

std::size_t columns(char32_t cp) {
  if (cp < 0x300) return 1;
  if (in(kZeroWidth, cp)) return 0;
  return in(kWide, cp) ? 2 : 1;
}

// One character of the input in its printable form: the bytes as they were, or an escape.
struct Piece {
  char text[12];
  unsigned char size = 0;
  unsigned char width = 0;
  std::string_view view() const { return {text, size}; }
};

void hex_escape(Piece& p, char kind, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  p.text[0] = '\\';
  p.text[1] = kind;
  for (int k = 0; k < digits; ++k) p.text[2 + k] = kHex[(value >> (4 * (digits - 1 - k))) & 0xF];
  p.size = static_cast<unsigned char>(2 + digits);
  p.width = p.size;
}

// The piece for the character at raw[i]; `*consumed` gets its length in raw.
Piece piece_at(std::string_view raw, std::size_t i, std::size_t* consumed) {
  Piece p;
  char32_t cp = 0;
  const std::size_t n = utf8_seq_len(raw, i, &cp);
  if (n == 0) {
    *consumed = 1;
    hex_escape(p, 'x', static_cast<unsigned char>(raw[i]), 2);
    return p;
  }
  *consumed = n;
  auto simple = [&](char c) {
    p.text[0] = '\\';
    p.text[1] = c;
    p.size = p.width = 2;
  };
  if (cp == '\\') simple('\\');
  else if (cp == '\n') simple('n');
  else if (cp == '\r') simple('r');
  else if (cp == '\t') simple('t');
  else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) hex_escape(p, 'x', static_cast<unsigned>(cp), 2);
  else if (is_invisible(cp)) {
    if (cp > 0xFFFF) hex_escape(p, 'U', static_cast<unsigned>(cp), 8);
    else hex_escape(p, 'u', static_cast<unsigned>(cp), 4);
  } else {
    for (std::size_t k = 0; k < n; ++k) p.text[k] = raw[i + k];
    p.size = static_cast<unsigned char>(n);
    p.width = static_cast<unsigned char>(columns(cp));
  }
  return p;
}

}  // namespace

bool is_invisible(char32_t cp) {
  if ((cp & 0xFFFE) == 0xFFFE) return true;  // U+FFFE, U+FFFF and their kin in every plane: noncharacters
  return cp >= 0xA0 && in(kInvisible, cp);
}

std::string escape_for_terminal(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0, n = 0; i < raw.size(); i += n) out += piece_at(raw, i, &n).view();
  return out;
}

std::string escape_for_terminal(std::string_view raw, std::size_t max_columns) {
  max_columns = std::max<std::size_t>(max_columns, 8);
  std::size_t total = 0;
  for (std::size_t i = 0, n = 0; i < raw.size(); i += n) total += piece_at(raw, i, &n).width;
  if (total <= max_columns) return escape_for_terminal(raw);
  // Two passes, so a name of any length costs no more memory than what is shown.
  const std::size_t head_budget = (max_columns - 1) / 2, tail_budget = max_columns - 1 - head_budget;
  std::string out;
  std::size_t i = 0, n = 0, used = 0;
  for (; i < raw.size(); i += n) {
    Piece p = piece_at(raw, i, &n);
    if (used + p.width > head_budget) break;
    out += p.view();
    used += p.width;
  }
  std::size_t remaining = total - used;
  for (; i < raw.size() && remaining > tail_budget; i += n) remaining -= piece_at(raw, i, &n).width;
  out += "\u2026";
  for (; i < raw.size(); i += n) out += piece_at(raw, i, &n).view();
  return out;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    char32_t cp = 0;
    std::size_t n = utf8_seq_len(utf8, i, &cp);
    if (n == 0) { ++w; ++i; continue; }
    w += columns(cp);
    i += n;
  }
  return w;
}

std::string sanitize_utf8(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    char32_t cp = 0;
    std::size_t n = utf8_seq_len(raw, i, &cp);
    if (n == 0) { out += "\xEF\xBF\xBD"; i += 1; continue; }
    out.append(raw.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace objspy

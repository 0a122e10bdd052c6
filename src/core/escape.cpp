#include "objspy/core/escape.hpp"

#include <fmt/format.h>

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

}  // namespace

std::string escape_for_terminal(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    char32_t cp = 0;
    std::size_t n = utf8_seq_len(raw, i, &cp);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(raw[i]));
      i += 1;
      continue;
    }
    if (cp == '\\') out += "\\\\";
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
    else if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(cp));  // line separators, bidi overrides
    else out.append(raw.substr(i, n));
    i += n;
  }
  return out;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t w = 0;
  for (unsigned char c : utf8)
    if ((c & 0xC0) != 0x80) ++w;
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

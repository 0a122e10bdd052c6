#include <doctest/doctest.h>

#include <fmt/format.h>

#include "objspy/census/census.hpp"
#include "objspy/census/series.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/render.hpp"
#include "objspy/python/version.hpp"

TEST_CASE("escaping makes target text inert on a terminal") {
  using objspy::escape_for_terminal;
  CHECK(escape_for_terminal("Foo") == "Foo");
  CHECK(escape_for_terminal("ÜniClass") == "ÜniClass");
  CHECK(escape_for_terminal("\x1b[31mred") == "\\x1b[31mred");
  CHECK(escape_for_terminal("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(escape_for_terminal("back\\slash") == "back\\\\slash");
  CHECK(escape_for_terminal(std::string("\xff\xfe", 2)) == "\\xff\\xfe");
  CHECK(escape_for_terminal("\xed\xb3\xbf") == "\\xed\\xb3\\xbf");   // a lone surrogate
  CHECK(escape_for_terminal("\xc2\x9b" "2J") == "\\x9b2J");          // C1 CSI
  CHECK(escape_for_terminal("abc\u202edcba") == "abc\\u202edcba");     // bidi override
  CHECK(escape_for_terminal(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(objspy::sanitize_utf8(std::string("a\xffz", 3)) == "a\xEF\xBF\xBDz");
}

namespace {

std::string utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else if (cp < 0x800) { s += static_cast<char>(0xC0 | (cp >> 6)); s += static_cast<char>(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

TEST_CASE("every invisible or direction-changing code point is escaped, each on its own") {
  using objspy::escape_for_terminal;
  std::vector<char32_t> cps;
  auto span = [&](char32_t lo, char32_t hi) {
    for (char32_t c = lo; c <= hi; ++c) cps.push_back(c);
  };
  span(0x200B, 0x200F);  // zero-width space, non-joiner, joiner, LRM, RLM
  span(0x202A, 0x202E);  // embeddings, pop, overrides
  span(0x2060, 0x2064);  // word joiner, invisible operators
  span(0x2066, 0x2069);  // isolates
  // Arabic letter mark, BOM, Mongolian vowel separator, soft hyphen, line/paragraph separators
  for (char32_t c : {0x061C, 0xFEFF, 0x180E, 0x00AD, 0x2028, 0x2029}) cps.push_back(c);
  // Every other Unicode 17 Cf (format) character.
  span(0x0600, 0x0605);
  for (char32_t c : {0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD, 0xE0001}) cps.push_back(c);
  span(0x206A, 0x206F);
  span(0xFFF9, 0xFFFB);
  span(0x13430, 0x1343F);
  span(0x1BCA0, 0x1BCA3);
  span(0x1D173, 0x1D17A);
  span(0xE0020, 0xE007F);  // tags: invisible ASCII
  // Invisible by appearance: odd spaces, fillers, variation selectors, noncharacters.
  for (char32_t c : {0x00A0, 0x034F, 0x115F, 0x1160, 0x1680, 0x17B4, 0x17B5, 0x202F, 0x205F, 0x2800, 0x3000, 0x3164, 0xFFA0, 0xFFFE,
                     0xFFFF, 0x1FFFE, 0x10FFFF})
    cps.push_back(c);
  span(0x2000, 0x200A);
  span(0xFE00, 0xFE0F);
  span(0xE0100, 0xE01EF);
  span(0xFDD0, 0xFDEF);
  for (char32_t cp : cps) {
    CAPTURE(static_cast<unsigned>(cp));
    CHECK(objspy::is_invisible(cp));
    const std::string want = cp > 0xFFFF ? fmt::format("a\\U{:08x}b", static_cast<unsigned>(cp)) : fmt::format("a\\u{:04x}b", static_cast<unsigned>(cp));
    CHECK(escape_for_terminal("a" + utf8(cp) + "b") == want);
  }
  // C1 controls, each of them.
  for (char32_t cp = 0x80; cp < 0xA0; ++cp) {
    CAPTURE(static_cast<unsigned>(cp));
    CHECK(escape_for_terminal(utf8(cp)) == fmt::format("\\x{:02x}", static_cast<unsigned>(cp)));
  }
  // Visible text around them passes as it is: punctuation between the ranges, CJK, emoji,
  // accents, the Hangul syllables next to the fillers.
  for (const char* ok : {"\u2010\u2013\u2014\u2019\u201c\u2022\u2026\u2030", "\u65e5\u672c", "\U0001F600", "e\u0301", "\u1100\uAC00",
                         "\u00A9\u00AE\u00B7", "\u2070\u20AC"})
    CHECK(escape_for_terminal(ok) == ok);
  CHECK_FALSE(objspy::is_invisible(U' '));
  CHECK_FALSE(objspy::is_invisible(0xFFFD));
}

TEST_CASE("names cut to a width: start and end kept, never inside an escape") {
  using objspy::display_width;
  using objspy::escape_for_terminal;
  CHECK(escape_for_terminal("short", 60) == "short");
  CHECK(escape_for_terminal(std::string(60, 'a'), 60) == std::string(60, 'a'));
  const std::string long_name = "package.module." + std::string(100, 'x') + ".ClassName";
  auto cut = escape_for_terminal(long_name, 60);
  CHECK(display_width(cut) == 60);
  CHECK(cut.starts_with("package.module.xx"));
  CHECK(cut.ends_with("xx.ClassName"));
  CHECK(cut.find("\u2026") != std::string::npos);
  // Escapes are whole or gone: a run of ESC bytes cut anywhere leaves only "\x1b" units.
  const std::string evil(500, '\x1b');
  for (std::size_t w : {8, 9, 10, 11, 12, 13, 60, 61, 62, 63}) {
    CAPTURE(w);
    auto s = escape_for_terminal(evil, w);
    CHECK(display_width(s) <= w);
    auto mark = s.find("\u2026");
    REQUIRE(mark != std::string::npos);
    auto head = s.substr(0, mark), tail = s.substr(mark + 3);
    CHECK(head.size() % 4 == 0);
    CHECK(tail.size() % 4 == 0);
    for (std::size_t i = 0; i < head.size(); i += 4) CHECK(head.substr(i, 4) == "\\x1b");
    for (std::size_t i = 0; i < tail.size(); i += 4) CHECK(tail.substr(i, 4) == "\\x1b");
  }
  // Wide characters count two columns; a name of thousands of them still fits.
  std::string wide;
  for (int i = 0; i < 3000; ++i) wide += "\u65e5";
  CHECK(display_width(escape_for_terminal(wide, 60)) <= 60);
  CHECK(display_width("\u65e5\u672c") == 4);
  CHECK(display_width("e\u0301") == 1);
  CHECK(escape_for_terminal(std::string(100, 'z'), 0).size() == 8 + 2);  // 8 columns at least (… is 3 bytes, 1 column)
}

TEST_CASE("one hostile name of thousands of characters does not widen a table") {
  objspy::Census c;
  const std::string hostile = "Evil" + std::string(5000, 'A') + "\x1b[2J\u202e" + std::string(3000, 'B');
  c.types = {{1, "dict", "builtins.dict", 120, 0, false}, {2, hostile, "m." + hostile, 7, 0, false}};
  for (int i = 0; i < 8; ++i) c.types.push_back({static_cast<std::uint64_t>(10 + i), fmt::format("T{}", i), fmt::format("m.T{}", i), 5, 0, false});
  auto table = objspy::render_table(c, {});
  std::size_t rows = 0;
  for (std::size_t at = 0, nl; (nl = table.find('\n', at)) != std::string::npos; at = nl + 1, ++rows) {
    auto line = table.substr(at, nl - at);
    CHECK(objspy::display_width(line) <= objspy::kNameColumns + 1 + 3);  // name, space, count
    CHECK(line.find('\x1b') == std::string::npos);
  }
  CHECK(rows == 10);
  CHECK(table.size() < 10 * 80);
  CHECK(table.find("dict" + std::string(objspy::kNameColumns - 4, ' ') + " 120\n") != std::string::npos);
  // The analysis tables cut the same way.
  std::vector<objspy::Change> changes = {{hostile, 1, 2}, {"dict", 3, 4}};
  for (const auto& t : {objspy::render_growth(changes), objspy::render_diff(changes)}) {
    CHECK(t.size() < 4 * 120);
    CHECK(t.find("Evil") != std::string::npos);
    CHECK(t.find("\u2026") != std::string::npos);
  }
  std::vector<objspy::Suspect> suspects(1);
  suspects[0].name = hostile;
  objspy::RankedOver over;
  over.samples = 5;
  over.hours = 1.0;
  CHECK(objspy::render_suspects(suspects, over).size() < 4 * 140);
}

TEST_CASE("the table is objgraph's: names padded to the widest, then the count") {
  objspy::Census c;
  c.types = {{1, "dict", "builtins.dict", 120, 0, false},
             {2, "function", "builtins.function", 300, 0, false},
             {3, "Foo", "app.Foo", 120, 5, false},
             {4, "Foo", "other.Foo", 3, 0, false},
             {5, "Frozen", "x.Frozen", 0, 9, false},
             {6, "Ünï", "m.Ünï", 1, 0, false}};
  objspy::RenderOptions o;
  CHECK(objspy::render_table(c, o) ==
        "function 300\n"
        "Foo      123\n"
        "dict     120\n"
        "Ünï      1\n");
  o.limit = 2;
  o.names = objspy::NameForm::qualified;
  CHECK(objspy::render_table(c, o) ==
        "builtins.function 300\n"
        "app.Foo           120\n");
}

TEST_CASE("JSON carries the documented fields") {
  objspy::Census c;
  c.pid = 42;
  c.python_version = "3.12.1";
  c.total = 10;
  c.frozen = 2;
  c.generations = {7, 2, 1};
  c.types = {{1, "Evil\x1b", "m.Evil\x1b", 10, 2, false}};
  c.walk.warnings = {"w"};
  auto j = objspy::census_to_json(c, {});
  for (const char* k : {"pid", "python", "total_objects", "generations", "frozen", "types", "walk", "interpreters", "duration_ms"})
    CHECK_MESSAGE(j.contains(k), k);
  CHECK(j["types"][0]["name"] == "Evil\x1b");
  std::string text = objspy::render_json(c, {}, false);
  CHECK(text.find('\x1b') == std::string::npos);  // escaped as \u001b
  CHECK(j["walk"]["complete"] == true);
}

TEST_CASE("versions from file names and hex") {
  auto v = objspy::version_from_file_name("/usr/lib/x86_64-linux-gnu/libpython3.11d.so.1.0");
  REQUIRE(v);
  CHECK(v->minor == 11);
  CHECK(objspy::version_from_file_name("python2.7")->major == 2);
  CHECK(objspy::version_from_file_name("libpython3.7m.so.1.0")->minor == 7);
  CHECK_FALSE(objspy::version_from_file_name("python3.11-config"));
  CHECK_FALSE(objspy::version_from_file_name("libc.so.6"));
  CHECK(objspy::PyVersion::from_hex(0x030E00C1).str() == "3.14.0rc1");
  CHECK(objspy::PyVersion::from_hex(0x030D12F0).str() == "3.13.18");
}

#include <doctest/doctest.h>

#include "objspy/census/census.hpp"
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

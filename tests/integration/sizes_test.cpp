// Bytes per type: on an idle target that holds one of each kind of object whose
// sys.getsizeof() has its own formula, objspy's bytes per type equal the target's own
// sum(sys.getsizeof(o)) over gc.get_objects(), type by type, exactly, by both census methods,
// on every interpreter; a type whose __sizeof__ is Python code is counted and marked estimated.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

struct Measure {
  long long count = 0, bytes = 0;
  bool estimated = false;
};
using Table = std::map<std::string, Measure>;

Table from_target(const json& truth) {
  Table t;
  for (auto& [k, v] : truth.at("count").items()) t[objspy::sanitize_utf8(itest::hex_decode(k))].count += v.get<long long>();
  for (auto& [k, v] : truth.at("bytes").items()) t[objspy::sanitize_utf8(itest::hex_decode(k))].bytes += v.get<long long>();
  return t;
}

Table from_objspy(const json& j) {
  Table t;
  for (const auto& e : j.at("types")) {
    Measure& m = t[e.at("name").get<std::string>()];
    m.count += e.at("count").get<long long>();
    m.bytes += e.at("bytes").get<long long>();
    m.estimated = m.estimated || e.value("bytes_estimated", false);
  }
  return t;
}

}  // namespace

TEST_CASE("bytes per type equal the target's own sum of sys.getsizeof, by both methods, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "sized_heap.py", {{"OBJSPY_TARGET_ESTIMATED", "1"}});
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, "target did not start: " << objspy::escape_for_terminal(err.substr(0, 300)));
    const json truth = json::parse(*line);
    const Table want = from_target(truth);
    const std::string pid = std::to_string(t.pid());
    for (const char* method : {"scan", "walk"}) {
      INFO("method " << std::string(method));
      auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "--qualified", "--method", method}));
      REQUIRE_MESSAGE(r.exit_code == 0, objspy::escape_for_terminal(r.err.substr(0, 400)));
      const json j = json::parse(r.out);
      const Table got = from_objspy(j);
      long long sum = 0;
      for (const auto& [name, m] : got) sum += m.bytes;
      CHECK(j.at("total_bytes").get<long long>() == sum);
      CHECK(j.at("bytes_unmeasured").get<long long>() == 0);
      std::size_t compared = 0;
      std::string detail;
      for (const auto& [name, w] : want) {
        auto it = got.find(name);
        const Measure g = it == got.end() ? Measure{} : it->second;
        if (g.count != w.count) detail += fmt::format("  {}: count {} objspy {}\n", objspy::escape_for_terminal(name), w.count, g.count);
        if (g.estimated) continue;  // object.__sizeof__ in place of one objspy cannot run
        ++compared;
        if (g.bytes != w.bytes)
          detail += fmt::format("  {}: bytes {} objspy {} ({:+})\n", objspy::escape_for_terminal(name), w.bytes, g.bytes, g.bytes - w.bytes);
      }
      CHECK_MESSAGE(detail.empty(), "differences:\n" << detail);
      // The kinds the target holds were all compared, and the one with Python code was not.
      for (const char* name : {"builtins.list", "builtins.dict", "builtins.set", "builtins.frozenset", "builtins.tuple", "collections.deque",
                               "collections.OrderedDict", "__main__.Plain", "__main__.Slotted", "__main__.MyDict", "__main__.MyInt",
                               "__main__.MyStr", "__main__.MyBytearray", "__main__.Color", "__main__.Word", "builtins.generator",
                               "builtins.coroutine", "builtins.type", "_io.BytesIO", "_io.BufferedReader"}) {
        INFO(std::string(name));
        REQUIRE(got.count(name));
        CHECK_FALSE(got.at(name).estimated);
      }
      // Not GC-tracked before 3.10; when it is, its formula is known.
      for (const char* name : {"array.array", "_struct.Struct"})
        if (got.count(name)) CHECK_MESSAGE(!got.at(name).estimated, name);
      CHECK(compared >= 40);
      REQUIRE(got.count("__main__.WithSizeof"));
      CHECK(got.at("__main__.WithSizeof").estimated);
      CHECK(got.at("__main__.WithSizeof").count == 3);
    }
    // --no-bytes: counts alone.
    auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "--no-bytes"}));
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    CHECK(j.at("total_bytes").is_null());
    for (const auto& e : j.at("types")) CHECK_FALSE(e.contains("bytes"));
    itest::record({py.label, truth.at("version").get<std::string>(), "-", "-", "bytes per type exact (scan and walk)"});
  }
}

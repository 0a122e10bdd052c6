// Saved censuses read back from files anyone may have written: every wrong type, huge count
// or deep nesting is an error value naming the field (and the line, in NDJSON), never an
// exception; differences of counts keep their sign.
#include <doctest/doctest.h>

#include <string>

#include "objspy/census/series.hpp"

namespace {

// The error message of parsing `doc` as one census ("" when it parsed).
std::string error_of(const std::string& doc) {
  auto s = objspy::parse_snapshot(doc);
  if (s.ok()) return "";
  CHECK(s.error().code == objspy::Errc::io);
  return s.error().message;
}

}  // namespace

TEST_CASE("a field of the wrong type is an error that names it, for every field objspy reads") {
  const std::string types = R"("types": [{"name": "a", "count": 1}])";
  struct Case {
    std::string doc, field;
  };
  const Case cases[] = {
      {R"({"pid": "7", )" + types + "}", "\"pid\" is a string"},
      {R"({"pid": -1, )" + types + "}", "\"pid\" is a negative number"},
      {R"({"pid": 1.5, )" + types + "}", "\"pid\""},
      {R"({"pid": 4294967296, )" + types + "}", "\"pid\" is a number too large"},
      {R"({"pid": null, )" + types + "}", "\"pid\" is null"},
      {R"({"timestamp": "now", )" + types + "}", "\"timestamp\" is a string"},
      {R"({"timestamp": [1], )" + types + "}", "\"timestamp\" is an array"},
      {R"({"total_objects": -3, )" + types + "}", "\"total_objects\" is a negative number"},
      {R"({"total_objects": {}, )" + types + "}", "\"total_objects\" is an object"},
      {R"({"walk": {"complete": "yes"}, )" + types + "}", "\"walk.complete\" is a string"},
      {R"({"walk": {"complete": 1}, )" + types + "}", "\"walk.complete\" is a number"},
      {R"({"walk": {"uncertain": true}, )" + types + "}", "\"walk.uncertain\" is a boolean"},
      {R"({"walk": {"torn": "no"}, )" + types + "}", "\"walk.torn\" is a string"},
      {R"({"walk": [], )" + types + "}", "\"walk\" is an array"},
      {R"({"walk": 3, )" + types + "}", "\"walk\" is a number"},
      {R"({"types": {"a": 1}})", "\"types\" is an object"},
      {R"({"types": "a"})", "\"types\" is a string"},
      {R"({"types": [{"name": "a", "count": 1}, 5]})", "\"types[1]\" is a number"},
      {R"({"types": [{"name": 1, "count": 1}]})", "\"types[0].name\" is a number"},
      {R"({"types": [{"name": "a", "count": "1"}]})", "\"types[0].count\" is a string"},
      {R"({"types": [{"name": "a", "count": 1.5}]})", "\"types[0].count\" is a fractional or huge number"},
      {R"({"types": [{"name": "a", "count": -1}]})", "\"types[0].count\" is a negative number"},
      {R"({"types": [{"name": "a", "count": 1}, {"name": "b"}]})", "\"types[1]\" has no \"count\""},
      {R"({"types": [{"count": 1}]})", "\"types[0]\" has no \"name\""},
      {R"({"pid": 1})", "no \"types\" array"},
      {R"([1, 2])", "no \"types\" array"},
      {R"("types")", "no \"types\" array"},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    const std::string e = error_of(c.doc);
    CHECK(e.find(c.field) != std::string::npos);
  }
  // What objspy itself writes parses, unknown fields and all.
  auto ok = objspy::parse_snapshot(R"({"objspy_version": "0.1.0", "pid": 7, "timestamp": 5.5, "total_objects": 3, "python": {"version": "3.12"},
      "types": [{"name": "a", "count": 2, "extra": [1, {"x": null}]}, {"name": "b", "count": 1}],
      "walk": {"complete": false, "uncertain": 1, "torn": false, "warnings": ["w"], "coverage": 0.75}, "pause_ms": null})");
  REQUIRE(ok.ok());
  CHECK(ok->pid == 7);
  CHECK(ok->timestamp == 5.5);
  CHECK(ok->total == 3);
  CHECK_FALSE(ok->complete);
  CHECK(ok->uncertain == 1);
  CHECK(ok->counts.size() == 2);
  CHECK(ok->counts.at("a") == 2);
  // A negative or integral timestamp is a number like any other.
  CHECK(objspy::parse_snapshot(R"({"timestamp": -5, "types": []})")->timestamp == -5);
  CHECK(objspy::parse_snapshot(R"({"timestamp": 17, "types": []})")->timestamp == 17);
}

TEST_CASE("counts above 2^62 are corrupt, and differences of counts keep their sign") {
  CHECK(error_of(R"({"types": [{"name": "a", "count": 18446744073709551615}]})").find("above 2^62") != std::string::npos);
  CHECK(error_of(R"({"types": [{"name": "a", "count": 4611686018427387905}]})").find("above 2^62") != std::string::npos);
  CHECK(error_of(R"({"total_objects": 4611686018427387905, "types": []})").find("\"total_objects\"") != std::string::npos);
  CHECK(error_of(R"({"walk": {"uncertain": 18446744073709551615}, "types": []})").find("\"walk.uncertain\"") != std::string::npos);
  // Beyond 64 bits the number arrives as a float: still an error, not a wrapped count.
  CHECK(error_of(R"({"types": [{"name": "a", "count": 99999999999999999999999}]})").find("\"types[0].count\"") != std::string::npos);
  // Two entries of one name that add up past the cap.
  CHECK(error_of(R"({"types": [{"name": "a", "count": 4611686018427387904}, {"name": "a", "count": 1}]})").find("add up") != std::string::npos);
  // At the cap itself: exact deltas both ways.
  auto top = objspy::parse_snapshot(R"({"types": [{"name": "a", "count": 4611686018427387904}]})");
  REQUIRE(top.ok());
  objspy::Snapshot one;
  one.counts["a"] = 1;
  auto up = objspy::diff(one, *top, 0);
  REQUIRE(up.size() == 1);
  CHECK(up[0].delta() == 4611686018427387903);
  auto down = objspy::diff(*top, one, 0);
  REQUIRE(down.size() == 1);
  CHECK(down[0].delta() == -4611686018427387903);
  auto grown = objspy::growth(one, *top, 0);
  REQUIRE(grown.size() == 1);
  CHECK(grown[0].delta() > 0);
  // Live counts are not capped: a delta saturates rather than wrap to the wrong sign.
  CHECK(objspy::Change{"x", 0, ~std::uint64_t{0}}.delta() == INT64_MAX);
  CHECK(objspy::Change{"x", ~std::uint64_t{0}, 0}.delta() == -INT64_MAX);
  CHECK(objspy::Change{"x", 5, 5}.delta() == 0);
}

TEST_CASE("diff merges the two censuses name by name") {
  objspy::Snapshot a, b;
  a.counts = {{"gone", 4}, {"same", 2}, {"up", 1}};
  b.counts = {{"new", 3}, {"same", 2}, {"up", 6}};
  auto rows = objspy::diff(a, b, 0);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].name == "up");
  CHECK(rows[0].delta() == 5);
  CHECK(rows[1].name == "gone");
  CHECK(rows[1].delta() == -4);
  CHECK(rows[2].name == "new");
  CHECK(rows[2].before == 0);
}

TEST_CASE("NDJSON errors name their line; event lines are skipped whatever they hold") {
  const std::string good = R"({"timestamp": 1, "types": [{"name": "a", "count": 1}]})";
  auto bad_type = objspy::parse_series(good + "\n\n" + good + "\n" + R"({"timestamp": 3, "types": [{"name": "a", "count": "x"}]})" + "\n");
  REQUIRE_FALSE(bad_type.ok());
  CHECK(bad_type.error().message.find("line 4: \"types[0].count\" is a string") == 0);
  auto not_json = objspy::parse_series(good + "\n{\"types\": [\n");
  REQUIRE_FALSE(not_json.ok());
  CHECK(not_json.error().message == "line 2 is not JSON");
  // diff takes the last census of a recording: the same errors, by line.
  auto snap = objspy::parse_snapshot(good + "\n" + R"({"pid": "x", "types": []})" + "\n");
  REQUIRE_FALSE(snap.ok());
  CHECK(snap.error().message.find("line 2: \"pid\" is a string") == 0);
  // record's event lines may carry anything: they are not censuses.
  auto events = objspy::parse_series(good + "\n" + R"({"event": "suspects", "pid": "x", "suspects": [{"name": 1}], "samples": -1})" + "\n" +
                                     R"({"pid": [], "event": "census_failed"})" + "\n" + good + "\n");
  REQUIRE(events.ok());
  CHECK(events->size() == 2);
  // A single event document is not a census to compare.
  CHECK(error_of(R"({"event": "target_exited", "pid": 1})").find("event") != std::string::npos);
  CHECK(error_of("").find("no census") != std::string::npos);
  CHECK(error_of("\n\n").find("no census") != std::string::npos);
}

TEST_CASE("nesting is bounded: a deep document is refused without a deep stack") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(error_of(deep).find("nested deeper than 64") != std::string::npos);
  const std::string deep_inside = R"({"types": [], "x": )" + std::string(65, '[') + std::string(65, ']') + "}";
  CHECK(error_of(deep_inside).find("nested deeper") != std::string::npos);
  const std::string fine = R"({"types": [], "x": )" + std::string(60, '[') + std::string(60, ']') + "}";
  CHECK(objspy::parse_snapshot(fine).ok());
  // Invalid UTF-8 in a name is not JSON (nlohmann checks it): an error, not a name that would
  // later fail to print.
  CHECK_FALSE(objspy::parse_snapshot("{\"types\": [{\"name\": \"\xff\", \"count\": 1}]}").ok());
}

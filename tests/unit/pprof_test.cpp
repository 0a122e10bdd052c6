// render_pprof: a census as pprof's profile, decoded back with the same schema.
#include <doctest/doctest.h>

#include <zlib.h>

#include <map>

#include "objspy/output/pprof.hpp"
#include "profile.pb.h"

namespace {

namespace pp = perftools::profiles;

std::string gunzip(const std::string& gz) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(inflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

objspy::Census census(pid_t pid, bool bytes) {
  objspy::Census c;
  c.pid = pid;
  c.python_version = "3.12.1";
  c.python_binary = "/usr/lib/libpython3.12.so";
  c.measured_bytes = bytes;
  c.types.push_back({1, "dict", "builtins.dict", 10, 0, 640, false, false});
  c.types.push_back({2, "Node", "app.Node", 5, 0, 280, false, false});
  c.types.push_back({3, "Node", "other.Node", 2, 0, 112, false, false});
  c.types.push_back({4, "NoMod", "NoMod", 1, 0, 56, false, false});
  c.types.push_back({5, "Evil\x1b[31m", "m.Evil\x1b[31m", 3, 0, 90, false, false});
  c.types.push_back({6, "unused", "builtins.unused", 0, 0, 0, false, false});
  return c;
}

struct Row {
  std::vector<std::string> frames;  // leaf first
  std::vector<std::int64_t> values;
  std::string pid;
};

std::vector<Row> rows(const pp::Profile& p) {
  std::map<std::uint64_t, std::string> fn, loc;
  for (const auto& f : p.function()) fn[f.id()] = p.string_table(static_cast<int>(f.name()));
  for (const auto& l : p.location()) loc[l.id()] = fn.at(l.line(0).function_id());
  std::vector<Row> out;
  for (const auto& s : p.sample()) {
    Row r;
    for (auto id : s.location_id()) r.frames.push_back(loc.at(id));
    r.values.assign(s.value().begin(), s.value().end());
    for (const auto& l : s.label())
      if (p.string_table(static_cast<int>(l.key())) == "pid") r.pid = p.string_table(static_cast<int>(l.str()));
    out.push_back(r);
  }
  return out;
}

}  // namespace

TEST_CASE("pprof: one sample per type under its module, counts and bytes, pid label, escaped names") {
  const auto c = census(42, true);
  auto gz = objspy::render_pprof({&c}, objspy::NameForm::short_name);
  REQUIRE(gz.ok());
  REQUIRE(gz->substr(0, 2) == "\x1f\x8b");
  pp::Profile p;
  REQUIRE(p.ParseFromString(gunzip(*gz)));
  REQUIRE(p.string_table(0).empty());
  REQUIRE(p.sample_type_size() == 2);
  CHECK(p.string_table(static_cast<int>(p.sample_type(0).type())) == "objects");
  CHECK(p.string_table(static_cast<int>(p.sample_type(0).unit())) == "count");
  CHECK(p.string_table(static_cast<int>(p.sample_type(1).type())) == "space");
  CHECK(p.string_table(static_cast<int>(p.sample_type(1).unit())) == "bytes");
  CHECK(p.string_table(static_cast<int>(p.default_sample_type())) == "objects");
  REQUIRE(p.mapping_size() == 1);
  CHECK(p.mapping(0).has_functions());
  std::map<std::vector<std::string>, std::vector<std::int64_t>> got;
  for (const auto& r : rows(p)) {
    CHECK(r.pid == "42");
    got[r.frames] = r.values;
  }
  // Types of no object are left out; a type without a module is a lone frame; two Nodes of
  // two modules stay apart; names are escaped as for a terminal.
  const std::map<std::vector<std::string>, std::vector<std::int64_t>> want{
      {{"dict", "builtins"}, {10, 640}},
      {{"Node", "app"}, {5, 280}},
      {{"Node", "other"}, {2, 112}},
      {{"NoMod"}, {1, 56}},
      {{"Evil\\x1b[31m", "m"}, {3, 90}},
  };
  CHECK(got == want);
  for (const auto& s : p.string_table()) CHECK(s.find('\x1b') == std::string::npos);
}

TEST_CASE("pprof: several processes, each sample labelled; no bytes value when one census has none") {
  const auto a = census(1, true), b = census(2, false);
  auto gz = objspy::render_pprof({&a, &b}, objspy::NameForm::qualified);
  REQUIRE(gz.ok());
  pp::Profile p;
  REQUIRE(p.ParseFromString(gunzip(*gz)));
  CHECK(p.sample_type_size() == 1);
  std::map<std::string, std::int64_t> per_pid;
  for (const auto& r : rows(p)) {
    REQUIRE(r.values.size() == 1);
    per_pid[r.pid] += r.values[0];
    if (r.frames.size() == 2 && r.frames[1] == "app") CHECK(r.frames[0] == "app.Node");  // --qualified names the leaf
  }
  CHECK(per_pid == std::map<std::string, std::int64_t>{{"1", 21}, {"2", 21}});
  CHECK(p.comment_size() == 2);
  CHECK_FALSE(objspy::render_pprof({}, objspy::NameForm::short_name).ok());
}

TEST_CASE("sum_censuses: counts, bytes and generations added, types merged by name and module") {
  auto a = census(1, true), b = census(2, true);
  a.total = 21; b.total = 21;
  a.generations = {1, 2, 3}; b.generations = {10, 20, 30};
  a.bytes = 1178; b.bytes = 1178;
  b.python_version = "3.11.7";
  b.walk.complete = false;
  b.walk.uncertain = 3;
  a.memory = objspy::ProcessMemory{100, 50, 10, 0};
  const auto s = objspy::sum_censuses({&a, &b});
  CHECK(s.pid == 0);
  CHECK(s.total == 42);
  CHECK(s.bytes == 2356);
  CHECK(s.measured_bytes);
  CHECK(s.generations == std::array<std::uint64_t, 3>{11, 22, 33});
  CHECK(s.python_version == "mixed");
  CHECK_FALSE(s.walk.complete);
  CHECK(s.walk.uncertain == 3);
  CHECK_FALSE(s.memory);  // b has none: a partial sum would understate it
  std::map<std::string, std::uint64_t> by;
  for (const auto& t : s.types) by[t.qualified] += t.count;
  CHECK(by.at("app.Node") == 10);
  CHECK(by.at("other.Node") == 4);
  CHECK(s.types.size() == 6);
  auto rows = objspy::most_common(s, objspy::NameForm::short_name);
  CHECK(rows.at(0).name == "dict");
  CHECK(rows.at(0).count == 20);
  CHECK(rows.at(1).name == "Node");
  CHECK(rows.at(1).count == 14);
  b.measured_bytes = false;
  CHECK_FALSE(objspy::sum_censuses({&a, &b}).measured_bytes);
}

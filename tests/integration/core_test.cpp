// Core files as targets, on every interpreter: an `objspy snapshot` and a gdb `gcore` core of
// an idle target, read after the target has exited, give the target's own census type by
// type and the same bytes as the live census; the kernel's own core of a crashed target too.
// gdb opens the snapshot with its threads. Files that are no core, or cut short, get one line
// and exit 14.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Counts = std::map<std::string, long long>;

Counts own_counts(const json& truth) {
  Counts c;
  for (const auto& [hex, n] : truth.at("short").items()) c[itest::hex_decode(hex)] += n.get<long long>();
  return c;
}

Counts counts_of(const json& census, const char* what) {
  Counts c;
  for (const auto& t : census.at("types")) c[t.at("name").get<std::string>()] += t.at(what).get<long long>();
  return c;
}

std::string differences(const Counts& want, const Counts& got) {
  std::string d;
  for (const auto& [k, v] : want)
    if (!got.count(k) || got.at(k) != v) d += fmt::format("{}: want {} got {}; ", k, v, got.count(k) ? got.at(k) : 0);
  for (const auto& [k, v] : got)
    if (!want.count(k)) d += fmt::format("{}: want 0 got {}; ", k, v);
  return d;
}

bool chrooted(const itest::Interpreter& py) { return py.label.find("chroot") != std::string::npos; }

json dump_core(const std::string& core, std::string* err) {
  auto r = itest::run(itest::objspy({"dump", "--core", core, "--format", "json", "-q"}), itest::kPatience);
  *err = fmt::format("exit {}: {}", r.exit_code, r.err);
  if (r.exit_code != 0) return json();
  return json::parse(r.out);
}

}  // namespace

TEST_CASE("dump --core: a snapshot and a gcore core of every interpreter, read after the target exited, give its own census and bytes") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "known_heap.py");
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, err);
    const json truth = json::parse(*line);
    const std::string pid = std::to_string(t.pid());
    itest::TempDir dir;
    if (chrooted(py)) itest::copy_mapped_files(t.pid(), dir.path);  // the chroot's files, as from another machine
    auto live = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "-q"}));
    REQUIRE(live.exit_code == 0);
    const json live_census = json::parse(live.out);

    if (itest::heap_in_sanitizer_reservation(py)) {
      MESSAGE("no core of the ASan-built embedding host: its heap is inside ASan's allocator reservation");
      continue;
    }
    const std::string snap = dir.path + "/snapshot.core";
    auto s = itest::run(itest::objspy({"snapshot", "--pid", pid, "-o", snap}));
    INFO(s.err);
    REQUIRE(s.exit_code == 0);
    CHECK(s.err.find("held") != std::string::npos);
    auto g = itest::run({"/usr/bin/gcore", "-o", dir.path + "/gcore", pid}, itest::kPatience);
    const std::string gcore = dir.path + "/gcore." + pid;
    REQUIRE_MESSAGE(fs::exists(gcore), std::string(g.out + g.err));
    // gdb opens the snapshot and lists the target's threads.
    auto gdb = itest::run({"/usr/bin/gdb", "-batch", "-nx", "-ex", "info threads", "-c", snap}, itest::kPatience);
    CHECK_MESSAGE(gdb.out.find("LWP " + pid) != std::string::npos, std::string(gdb.out + gdb.err));
    t.kill_now();
    t.wait_exit(itest::kPatience);

    for (const std::string& core : {snap, gcore}) {
      INFO(core);
      const json c = dump_core(core, &err);
      REQUIRE_MESSAGE(!c.is_null(), err);
      CHECK(c.at("pid").get<long long>() == t.pid());
      CHECK(c.at("walk").at("complete").get<bool>());
      const std::string d = differences(own_counts(truth), counts_of(c, "count"));
      CHECK_MESSAGE(d.empty(), d);
      const std::string b = differences(counts_of(live_census, "bytes"), counts_of(c, "bytes"));
      CHECK_MESSAGE(b.empty(), b);
    }
    auto info = itest::run(itest::objspy({"info", "--core", snap, "--json"}));
    REQUIRE(info.exit_code == 0);
    const json ij = json::parse(info.out);
    CHECK(ij.at("python").at("version").get<std::string>() == live_census.at("python").at("version").get<std::string>());
    CHECK(ij.at("objects").at("total").get<long long>() == live_census.at("total_objects").get<long long>());
  }
}

TEST_CASE("dump --core: the kernel's core of a crashed target") {
  std::ifstream pat("/proc/sys/kernel/core_pattern");
  std::string pattern;
  std::getline(pat, pattern);
  if (pattern.empty() || pattern[0] == '|' || pattern.find('%') != std::string::npos || pattern.find('/') != std::string::npos) {
    itest::missing("kernel core", fmt::format("core_pattern is {:?}: the kernel does not write a plain core file in the process's directory", pattern));
    return;
  }
  const auto* py = itest::plain_python();
  REQUIRE(py);
  struct rlimit old {};
  getrlimit(RLIMIT_CORE, &old);
  struct rlimit unlimited {RLIM_INFINITY, RLIM_INFINITY};
  REQUIRE(setrlimit(RLIMIT_CORE, &unlimited) == 0);  // inherited by the target
  itest::Target t(*py, "known_heap.py");
  setrlimit(RLIMIT_CORE, &old);
  std::string err;
  auto line = t.ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(line, err);
  const json truth = json::parse(*line);
  const std::string cwd = fs::read_symlink(fmt::format("/proc/{}/cwd", t.pid())).string();
  std::ifstream uses_pid_f("/proc/sys/kernel/core_uses_pid");
  int uses_pid = 0;
  uses_pid_f >> uses_pid;
  const std::string core = cwd + "/" + pattern + (uses_pid ? fmt::format(".{}", t.pid()) : "");
  std::error_code ec;
  fs::remove(core, ec);
  kill(t.pid(), SIGABRT);
  const int status = t.wait_exit(itest::kPatience);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE_MESSAGE(WCOREDUMP(status), "the kernel wrote no core");
  REQUIRE(fs::exists(core));
  struct Remove {
    std::string p;
    ~Remove() {
      std::error_code e;
      fs::remove(p, e);
    }
  } remove{core};
  const json c = dump_core(core, &err);
  REQUIRE_MESSAGE(!c.is_null(), err);
  const std::string d = differences(own_counts(truth), counts_of(c, "count"));
  CHECK_MESSAGE(d.empty(), d);
}

TEST_CASE("dump --core: files that are no usable core get one line and exit 14") {
  itest::TempDir dir;
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.path + "/" + name, std::ios::binary) << bytes;
    return dir.path + "/" + name;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {write("empty", ""), "no ELF header"},
      {write("text", "hello, not a core\n"), "no ELF header"},
      {"/bin/true", "not a core"},
      {dir.path, "not a regular file"},
  };
  for (const auto& [path, why] : cases) {
    INFO(path);
    auto r = itest::run(itest::objspy({"dump", "--core", path}));
    CHECK(r.exit_code == 14);
    CHECK(r.out.empty());
    CHECK_MESSAGE(r.err.find(why) != std::string::npos, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  auto missing_file = itest::run(itest::objspy({"info", "--core", dir.path + "/nothing-here"}));
  CHECK(missing_file.exit_code == 12);
  // A snapshot cut short: a census of what remains is refused or incomplete, never a crash.
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "known_heap.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  const std::string snap = dir.path + "/snap.core";
  REQUIRE(itest::run(itest::objspy({"snapshot", "--pid", std::to_string(t.pid()), "-o", snap, "-q"})).exit_code == 0);
  for (std::uintmax_t keep : {std::uintmax_t{100}, std::uintmax_t{70000}, fs::file_size(snap) / 2}) {
    INFO(keep);
    const std::string cut = dir.path + "/cut.core";
    fs::copy_file(snap, cut, fs::copy_options::overwrite_existing);
    fs::resize_file(cut, keep);
    auto r = itest::run(itest::objspy({"dump", "--core", cut, "-q"}));
    CHECK(r.exit_code != 0);
    CHECK(r.exit_code < 64);  // an error exit, not a signal
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') >= 1);
  }
  // With --pid: usage errors.
  CHECK(itest::run(itest::objspy({"dump", "--core", snap, "--pid", "1"})).exit_code == 2);
  CHECK(itest::run(itest::objspy({"dump", "--core", snap, "--growth"})).exit_code == 2);
}

// record's census before the OOM kill: a target in a memory cgroup with a limit grows until
// the kernel kills it; the census record's trigger took is on disk before the kill and names
// the growing type first. On every interpreter.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/process/cgroup.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A child of this process's memory cgroup with a limit and no swap; removed at the end.
struct LimitedCgroup {
  std::string dir;
  int version = 0;
  std::string error;
  explicit LimitedCgroup(std::uint64_t limit) {
    auto mine = objspy::read_cgroup_memory(getpid());
    if (!mine.ok()) { error = mine.error().message; return; }
    version = mine->cgroup.version;
    dir = fmt::format("{}/objspy-itest-{}", mine->dir, getpid());
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) { error = fmt::format("cannot create {}: {}", dir, std::strerror(errno)); dir.clear(); return; }
    if (version == 1) {
      write_file(dir + "/memory.limit_in_bytes", std::to_string(limit));
      if (std::filesystem::exists(dir + "/memory.memsw.limit_in_bytes")) write_file(dir + "/memory.memsw.limit_in_bytes", std::to_string(limit));
      write_file(dir + "/memory.swappiness", "0");
    } else {
      write_file(dir + "/memory.max", std::to_string(limit));
      if (std::filesystem::exists(dir + "/memory.swap.max")) write_file(dir + "/memory.swap.max", "0");
    }
    std::ifstream f(dir + (version == 1 ? "/memory.limit_in_bytes" : "/memory.max"));
    std::uint64_t set = 0;
    if (!(f >> set) || set > limit) error = fmt::format("the limit of {} could not be set", dir);
  }
  ~LimitedCgroup() {
    if (!dir.empty()) ::rmdir(dir.c_str());  // empty once its processes are gone
  }
  bool add(pid_t pid) {
    std::ofstream f(dir + "/cgroup.procs");
    f << pid << "\n";
    f.flush();
    return static_cast<bool>(f);
  }
};

}  // namespace

TEST_CASE("record --trigger-limit-share: the census before the OOM kill is on disk first and names the growing type, on every interpreter") {
  constexpr std::uint64_t kLimit = 128ull << 20;
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    LimitedCgroup cg(kLimit);
    if (!cg.error.empty()) {
      itest::missing("memory cgroup", "no memory cgroup can be made here with a limit (root, cgroup v1 memory or v2): " + cg.error);
      return;
    }
    itest::Target t(py, "oom_grow.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    REQUIRE(cg.add(t.pid()));
    itest::TempDir dir;
    itest::Target rec(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--interval", "1h", "--trigger-limit-share", "50",
                                     "--trigger-dir", dir.path, "--trigger-poll", "50ms", "-q"}));
    REQUIRE_MESSAGE(rec.ready_line(itest::kPatience, &err), err);  // the first census line
    REQUIRE(t.ask("go", itest::kPatience) == "growing");
    std::string seen;
    auto written = rec.stderr_line("census written to", itest::kPatience, &seen);
    REQUIRE_MESSAGE(written, seen);
    // The kernel ends it: killed, not exited.
    const int status = t.wait_exit(itest::kPatience);
    const auto exited_at = std::chrono::system_clock::now();
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(rec.wait_exit(itest::kPatience) == 0);
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) files.push_back(e.path());
    REQUIRE(files.size() == 1);  // once per window
    struct stat st {};
    REQUIRE(::stat(files[0].c_str(), &st) == 0);
    const auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    CHECK(mtime <= exited_at);
    std::ifstream f(files[0]);
    const json c = json::parse(f);
    CHECK(c.at("pid") == t.pid());
    CHECK(c.at("types").at(0).at("name") == "Leak");
    CHECK(c.at("trigger").at("limit_bytes") == kLimit);
    CHECK(c.at("trigger").at("rss_bytes").get<double>() > 0.5 * static_cast<double>(kLimit));
    CHECK(c.at("trigger").at("reason").get<std::string>().find("of the cgroup's memory limit") != std::string::npos);
  }
}

TEST_CASE("record --trigger-*: bad thresholds and a missing directory are usage lines") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  const std::string pid = std::to_string(t.pid());
  auto no_dir = itest::run(itest::objspy({"record", "--pid", pid, "--trigger-rss", "1G", "-n", "1"}));
  CHECK(no_dir.exit_code == 2);
  CHECK(no_dir.err.find("--trigger-dir") != std::string::npos);
  auto not_dir = itest::run(itest::objspy({"record", "--pid", pid, "--trigger-rss", "1G", "--trigger-dir", "/etc/passwd", "-n", "1"}));
  CHECK(not_dir.exit_code == 12);
  auto growth = itest::run(itest::objspy({"record", "--pid", pid, "--trigger-growth", "100M", "--trigger-dir", "/tmp", "-n", "1"}));
  CHECK(growth.exit_code == 2);
  auto share = itest::run(itest::objspy({"record", "--pid", pid, "--trigger-limit-share", "150", "--trigger-dir", "/tmp", "-n", "1"}));
  CHECK(share.exit_code == 2);
  // A low RSS threshold fires at once: the first census after it is written.
  itest::TempDir dir;
  auto low = itest::run(itest::objspy({"record", "--pid", pid, "--trigger-rss", "1M", "--trigger-dir", dir.path, "--trigger-poll", "10ms",
                                       "--interval", "200ms", "-n", "3", "-q"}));
  CHECK(low.exit_code == 0);
  CHECK(low.out.find("\"event\":\"trigger\"") != std::string::npos);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);
}

TEST_CASE("agent --trigger-limit-share: the census before the OOM kill, for a process the agent watches") {
  constexpr std::uint64_t kLimit = 128ull << 20;
  const auto* py = itest::plain_python();
  REQUIRE(py);
  LimitedCgroup cg(kLimit);
  if (!cg.error.empty()) {
    itest::missing("memory cgroup", "no memory cgroup can be made here with a limit (root, cgroup v1 memory or v2): " + cg.error);
    return;
  }
  itest::Target t(*py, "oom_grow.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  REQUIRE(cg.add(t.pid()));
  itest::TempDir dir;
  itest::Target agent(itest::objspy({"agent", "--listen", "127.0.0.1:0", "--interval", "1h", "--discover-interval", "200ms", "--include",
                                     "cmdline=oom_grow\\.py", "--trigger-limit-share", "50", "--trigger-dir", dir.path, "--trigger-poll", "50ms", "-v"}));
  std::string seen;
  REQUIRE_MESSAGE(agent.stderr_line(fmt::format("watching pid {}", t.pid()), itest::kPatience, &seen), seen);
  REQUIRE(t.ask("go", itest::kPatience) == "growing");
  REQUIRE_MESSAGE(agent.stderr_line("census written to", itest::kPatience, &seen), seen);
  const int status = t.wait_exit(itest::kPatience);
  REQUIRE(WIFSIGNALED(status));
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  std::ifstream f(files[0]);
  const json c = json::parse(f);
  CHECK(c.at("pid") == t.pid());
  CHECK(c.at("types").at(0).at("name") == "Leak");
  CHECK(c.at("trigger").at("limit_bytes") == kLimit);
}

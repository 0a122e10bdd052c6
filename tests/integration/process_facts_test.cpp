// Facts about the target that change what objspy can do: a main thread that has exited (the
// process is alive, read through another thread), and another tracer (named under --pause).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

char leader_state(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto close = s.rfind(')');
  return close == std::string::npos || close + 2 >= s.size() ? '?' : s[close + 2];
}

long long count_of(const nlohmann::json& census, const std::string& name) {
  for (const auto& t : census.at("types"))
    if (t.at("name") == name) return t.at("count").get<long long>();
  return 0;
}

}  // namespace

TEST_CASE("a process whose main thread has exited is read through a live thread, with and without --pause") {
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "main_thread_exit.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(120, &err), err);
    // The worker says ready once pthread_join on the main thread returned; the kernel marks
    // the leader a zombie right after.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (leader_state(t.pid()) != 'Z' && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(leader_state(t.pid()) == 'Z');
    for (bool pause : {false, true}) {
      CAPTURE(pause);
      std::vector<std::string> args{"dump", "--pid", std::to_string(t.pid()), "--format", "json", "--limit", "0"};
      if (pause) args.push_back("--pause");
      auto r = itest::run(itest::objspy(args), 60);
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      auto j = nlohmann::json::parse(r.out);
      CHECK(count_of(j, "Survivor") == 3217);  // main_thread_exit.py's SURVIVORS
      CHECK(j.at("walk").at("complete").get<bool>());
    }
    CHECK(t.ask("ping", 10) == "pong");
  }
}

TEST_CASE("--pause on a target another process traces names the tracer; without --pause it is read") {
  // dump under every interpreter; record, top and serve under the plain one.
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  const auto* host = itest::plain_python();
  REQUIRE(host);
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(120, &err), err);
    itest::Target tracer({host->argv[0], itest::source_dir() + "/tests/targets/ptrace_holder.py", std::to_string(t.pid())});
    REQUIRE_MESSAGE(tracer.ready_line(30, &err), err);
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause"}), 60);
    INFO(r.err);
    CHECK(r.exit_code == 6);
    CHECK(r.err.find(fmt::format("another tracer (PID {}, ", tracer.pid())) != std::string::npos);
    CHECK(r.err.find(fmt::format(") holds process {}: --pause cannot hold it", t.pid())) != std::string::npos);
    CHECK(r.err.find("CAP_SYS_PTRACE") == std::string::npos);  // not a missing permission
    CHECK(r.err.find("root") == std::string::npos);
    auto plain = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid())}), 60);
    INFO(plain.err);
    CHECK(plain.exit_code == 0);
    if (py.label != host->label) continue;
    // The commands that take censuses on an interval refuse to start the same way.
    const std::string pid = std::to_string(t.pid());
    for (const auto& args : std::vector<std::vector<std::string>>{{"record", "--pid", pid, "--pause", "--count", "2", "-o", "/dev/null"},
                                                                  {"top", "--pid", pid, "--pause", "--count", "2"},
                                                                  {"serve", "--pid", pid, "--pause", "--listen", "127.0.0.1:0"}}) {
      auto c = itest::run(itest::objspy(args), 60);
      INFO(args[0] << ": " << c.err);
      CHECK(c.exit_code == 6);
      CHECK(c.err.find(fmt::format("another tracer (PID {}, ", tracer.pid())) != std::string::npos);
      CHECK(c.err.find("CAP_SYS_PTRACE") == std::string::npos);
    }
  }
}

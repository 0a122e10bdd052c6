// --pause: an exact snapshot of a busy target, and the target is never left stopped.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

char task_state(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto close = s.rfind(')');
  return close == std::string::npos || close + 2 >= s.size() ? '?' : s[close + 2];
}

// Every thread of the target, not only the main one, must be running (or sleeping).
bool no_thread_stopped(pid_t pid) {
  std::string dir = fmt::format("/proc/{}/task", pid);
  auto r = itest::run({"ls", dir}, 10);
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    auto nl = r.out.find('\n', pos);
    std::string tid = r.out.substr(pos, nl - pos);
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
    if (tid.empty()) continue;
    std::ifstream f(dir + "/" + tid + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), {});
    auto close = s.rfind(')');
    if (close != std::string::npos && close + 2 < s.size() && (s[close + 2] == 'T' || s[close + 2] == 't')) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("--pause gives a complete census of a busy target and resumes it") {
  for (const auto& py : itest::interpreters()) {
    itest::Target t(py, "churn.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause", "--format", "json"}));
    INFO(py.label << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(no_thread_stopped(t.pid()));
    if (r.exit_code != 0) continue;  // failed, and said so: go on to the other interpreters
    auto j = nlohmann::json::parse(r.out);
    CHECK(j.at("walk").at("complete").get<bool>());
    CHECK(j.at("walk").at("broken_links").get<int>() == 0);
    CHECK(j.at("pause_ms").get<double>() > 0);
  }
}

TEST_CASE("--pause waits out a collection in progress instead of holding the target inside it") {
  for (const auto& py : itest::interpreters()) {
    itest::Target t(py, "slow_gc.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    // The target is collecting about half the time: a census held inside a collection would
    // be incomplete (a quarter of the time even after objspy's one retry).
    for (int i = 0; i < 6; ++i) {
      auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause", "--format", "json", "--retries", "0"}));
      INFO(py.label << ": " << r.err);
      CHECK(r.exit_code == 0);
      CHECK(no_thread_stopped(t.pid()));
      if (r.exit_code != 0) continue;  // failed, and said so: try again, and the other interpreters
      CHECK(nlohmann::json::parse(r.out).at("walk").at("complete").get<bool>());
    }
  }
}

TEST_CASE("SIGKILL of objspy in the middle of --pause leaves the target running") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  // --pause copies the heap in few large reads under the hold: the first, second and fifth.
  for (int kill_at : {1, 2, 5}) {
    itest::Target t(*py, "churn.py");
    std::string err;
    REQUIRE(t.ready_line(itest::kPatience, &err));
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--pause"}), itest::kPatience,
                        {{"LD_PRELOAD", OBJSPY_EXIT_SHIM}, {"OBJSPY_TEST_SELF_KILL_IN_PAUSE", std::to_string(kill_at)}});
    CAPTURE(kill_at);
    INFO(r.err);
    CHECK(r.exit_code == 128 + 9);  // objspy really was killed during the pause
    CHECK(no_thread_stopped(t.pid()));
    CHECK(task_state(t.pid()) != 'T');
    CHECK(t.ask("ping", itest::kPatience) == "pong");  // and the target still answers
  }
}

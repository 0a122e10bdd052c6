// The target's memory next to every census: what the kernel says of it (smaps_rollup), on
// every interpreter, against the target's own /proc/PID/status read at the same moment.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

// A field of /proc/PID/status in bytes ("VmRSS:  13920 kB"), 0 if absent.
std::uint64_t status_bytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

}  // namespace

TEST_CASE("every census carries the target's memory: RSS as /proc/PID/status has it, PSS and anonymous within it, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    const auto before = status_bytes(t.pid(), "VmRSS");
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json", "-q"}));
    const auto after = status_bytes(t.pid(), "VmRSS");
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    REQUIRE(j.at("memory").is_object());
    const auto& m = j.at("memory");
    const auto rss = m.at("rss_bytes").get<std::uint64_t>();
    // An idle target: the same pages before, during and after (a page or two of slack).
    CHECK(rss + 64 * 1024 >= std::min(before, after));
    CHECK(rss <= std::max(before, after) + 64 * 1024);
    CHECK(m.at("pss_bytes").get<std::uint64_t>() > 0);
    CHECK(m.at("pss_bytes").get<std::uint64_t>() <= rss);
    CHECK(m.at("anonymous_bytes").get<std::uint64_t>() > 0);
    CHECK(m.at("anonymous_bytes").get<std::uint64_t>() <= rss);
    CHECK(m.at("swap_bytes").get<std::uint64_t>() == status_bytes(t.pid(), "VmSwap"));
  }
}

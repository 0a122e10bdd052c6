// The target's memory next to every census: what the kernel says of it (smaps_rollup), on
// every interpreter, against the target's own /proc/PID/status read at the same moment.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support.hpp"


TEST_CASE("every census carries the target's memory: RSS as /proc/PID/status has it, PSS and anonymous within it, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    const auto before = static_cast<std::uint64_t>(itest::status_kib(t.pid(), "VmRSS")) * 1024;
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json", "-q"}));
    const auto after = static_cast<std::uint64_t>(itest::status_kib(t.pid(), "VmRSS")) * 1024;
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
    CHECK(m.at("swap_bytes").get<std::uint64_t>() == static_cast<std::uint64_t>(itest::status_kib(t.pid(), "VmSwap")) * 1024);
  }
}

// objspy serve under a slow-client flood from the scraper's own address: 500 connections that
// never finish a request (silent, a byte now and then, an endless header), each renewed as
// soon as objspy closes it. Scrapes must still be answered within a second, every time, from
// the census that runs meanwhile, with objspy's open files bounded.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "../flood_client.hpp"
#include "support.hpp"

namespace {

std::size_t open_files(pid_t pid) {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it(fmt::format("/proc/{}/fd", pid), ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

// The number after `key` in a metrics text, or -1.
double metric(const std::string& body, const std::string& key) {
  auto at = body.find("\n" + key + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + key.size() + 2));
}

}  // namespace

TEST_CASE("a slow-client flood of 500 connections: every scrape answered within a second, objspy's open files bounded") {
  flood::raise_open_file_limit();
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  itest::Target exporter(itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--listen", "127.0.0.1:0", "--interval", "200ms"}));
  std::string seen;
  auto line = exporter.stderr_line("serving metrics", itest::kPatience, &seen);
  REQUIRE_MESSAGE(line, seen);
  const auto colon = line->rfind(':'), slash = line->find("/metrics");
  const int port = std::stoi(line->substr(colon + 1, slash - colon - 1));
  const auto to = flood::loopback("127.0.0.1", port);
  const std::size_t idle_files = open_files(exporter.pid());

  const auto before = flood::scrape(to, "127.0.0.1");
  REQUIRE(before.status == 200);
  {
    flood::SlowFlood attack(to, 500, "127.0.0.1");
    // The flood is on once objspy holds (nearly) all of it.
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
         open_files(exporter.pid()) < idle_files + 450 && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::size_t least = SIZE_MAX, most = 0, sum = 0;
    double slowest = 0;
    std::string first, last;
    // 20 scrapes over 6 s: three times the 2 s request deadline, so the flood renews itself.
    for (int i = 0; i < 20; ++i) {
      const std::size_t files = open_files(exporter.pid());
      least = std::min(least, files);
      most = std::max(most, files);
      sum += files;
      auto r = flood::scrape(to, "127.0.0.1", "/metrics", 5);
      CAPTURE(i);
      CAPTURE(r.why);
      CHECK(r.answered);
      CHECK(r.status == 200);
      CHECK(r.seconds < 1.0);
      CHECK(r.body.find("\nobjspy_up 1\n") != std::string::npos);
      slowest = std::max(slowest, r.seconds);
      (i == 0 ? first : last) = r.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    const std::size_t mean = sum / 20;
    MESSAGE(fmt::format("slowest scrape {:.1f} ms; objspy's open files {} idle, {}-{} (mean {}) in the flood; flood: {} connects, {} "
                        "closed by objspy, {} answered 431",
                        slowest * 1000, idle_files, least, most, mean, attack.connects(), attack.closed_by_server(), attack.answered_431()));
    // The flood was held, not refused (the count dips while a wave of connections that came
    // together is closed together at its deadline and comes back)...
    CHECK(mean >= idle_files + 400);
    CHECK(least >= idle_files + 200);
    CHECK(most <= idle_files + 1024 + 16);    // ...within the connection cap
    CHECK(attack.closed_by_server() >= 250);  // the request deadline ended the slow ones, and they came back
    CHECK(attack.answered_431() > 0);         // the endless headers were answered
    // Censuses went on during the flood, and the scrapes saw them.
    CHECK(metric(last, "objspy_censuses_total") > metric(first, "objspy_censuses_total"));
  }
  kill(exporter.pid(), SIGTERM);
  CHECK(exporter.stderr_line("exporter stopped", itest::kPatience, &seen));
}

TEST_CASE("under a low open file limit the caps shrink to fit, and a flood far over them still leaves every scrape answered") {
  flood::raise_open_file_limit();
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  // 256 files: 192 connections in all, 96 per client; the flood of 500 from the scraper's
  // address keeps pushing its own oldest connections out.
  itest::Target exporter({"prlimit", "--nofile=256:256", "--", itest::objspy({})[0], "serve", "--pid", std::to_string(t.pid()), "--listen",
                          "127.0.0.1:0", "--interval", "200ms"});
  std::string seen;
  REQUIRE_MESSAGE(exporter.stderr_line("serving at most 192 HTTP connections", itest::kPatience, &seen), seen);
  auto line = exporter.stderr_line("serving metrics", itest::kPatience, &seen);
  REQUIRE_MESSAGE(line, seen);
  const auto colon = line->rfind(':'), slash = line->find("/metrics");
  const auto to = flood::loopback("127.0.0.1", std::stoi(line->substr(colon + 1, slash - colon - 1)));
  {
    flood::SlowFlood attack(to, 500, "127.0.0.1");
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
         attack.connects() < 2000 && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(attack.connects() >= 2000);  // over the cap: connections pushed out and renewed
    double slowest = 0;
    std::size_t most = 0;
    for (int i = 0; i < 20; ++i) {
      most = std::max(most, open_files(exporter.pid()));
      auto r = flood::scrape(to, "127.0.0.1", "/metrics", 5);
      CAPTURE(i);
      CAPTURE(r.why);
      CHECK(r.answered);
      CHECK(r.status == 200);
      CHECK(r.seconds < 1.0);
      slowest = std::max(slowest, r.seconds);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    MESSAGE(fmt::format("slowest scrape {:.1f} ms; objspy's open files at most {}; flood: {} connects", slowest * 1000, most,
                        attack.connects()));
    CHECK(most <= 256);
  }
  kill(exporter.pid(), SIGTERM);
  CHECK(exporter.stderr_line("exporter stopped", itest::kPatience, &seen));
}

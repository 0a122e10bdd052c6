// objspy serve against real interpreters and a real Prometheus server (Debian's prometheus
// package): every interpreter's exporter is scraped by one Prometheus on loopback, and the
// series Prometheus stored must equal the census, type by type.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

constexpr std::size_t kTop = 12;

std::string temp_dir() {
  char tmpl[] = "/tmp/objspy-itest-XXXXXX";
  return mkdtemp(tmpl);
}

// A loopback port nobody listens on right now (for Prometheus, which cannot take port 0).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string http_get(const std::string& url) { return itest::run({"curl", "-sS", "--max-time", "60", url}, itest::kPatience).out; }

// The exporter's address from its ready line on stderr.
std::string exporter_address(itest::Target& exporter, std::string* seen) {
  auto line = exporter.stderr_line("serving metrics", itest::kPatience, seen);
  if (!line) return {};
  auto b = line->find("http://"), e = line->find("/metrics");
  return line->substr(b + 7, e - b - 7);
}

// What objspy_type_objects must hold for these counts: the kTop largest by name (ties by
// name), the rest summed under "other".
std::map<std::string, long long> expected_series(const std::map<std::string, long long>& counts) {
  std::vector<std::pair<std::string, long long>> rows(counts.begin(), counts.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::map<std::string, long long> out;
  long long other = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i < kTop) out[rows[i].first] = rows[i].second;
    else other += rows[i].second;
  }
  out["other"] = other;
  return out;
}

std::map<std::string, long long> target_counts(const json& truth) {
  std::map<std::string, long long> c;
  for (auto& [k, v] : truth.at("short").items()) c[objspy::sanitize_utf8(itest::hex_decode(k))] += v.get<long long>();
  return c;
}

struct Watched {
  std::string label;
  std::unique_ptr<itest::Target> target, exporter;
  json truth;
  std::string address;  // host:port of its exporter
};

}  // namespace

TEST_CASE("Prometheus scrapes the exporter; the stored series equal the target's own census") {
  REQUIRE_MESSAGE(itest::run({"prometheus", "--version"}).exit_code == 0, "prometheus is missing: tools/setup.sh installs it");
  std::vector<Watched> all;
  for (const auto& py : itest::interpreters()) {
    Watched w;
    w.label = py.label;
    w.target = std::make_unique<itest::Target>(py, "known_heap.py");
    all.push_back(std::move(w));
  }
  for (auto& w : all) {
    std::string err;
    auto line = w.target->ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, w.label << ": " << err);
    w.truth = json::parse(*line);
    w.exporter = std::make_unique<itest::Target>(itest::objspy({"serve", "--pid", std::to_string(w.target->pid()), "--listen",
                                                                "127.0.0.1:0", "--interval", "1s", "--top", std::to_string(kTop), "-v"}));
  }
  for (auto& w : all) {
    std::string seen;
    w.address = exporter_address(*w.exporter, &seen);
    REQUIRE_MESSAGE(!w.address.empty(), w.label << ": " << seen);
    // promtool, the reference linter, accepts the exposition.
    auto body = http_get("http://" + w.address + "/metrics");
    std::string dir = temp_dir();
    std::ofstream(dir + "/m.txt") << body;
    auto lint = itest::run({"sh", "-c", "promtool check metrics < " + dir + "/m.txt"});
    CHECK_MESSAGE(lint.exit_code == 0, w.label << ": " << lint.out << lint.err);
    std::filesystem::remove_all(dir);
  }

  const std::string dir = temp_dir();
  std::string targets;
  for (const auto& w : all) targets += fmt::format("'{}',", w.address);
  std::ofstream(dir + "/prometheus.yml") << fmt::format(
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: objspy\n"
      "    static_configs:\n      - targets: [{}]\n",
      targets);
  const int port = free_port();
  itest::Target prom({"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                      fmt::format("--web.listen-address=127.0.0.1:{}", port), "--log.level=info"});
  std::string seen;
  REQUIRE_MESSAGE(prom.stderr_line("Server is ready to receive web requests", itest::kPatience, &seen), seen);
  // Each exporter logs the scrapes it answers: the handshake that Prometheus has been there.
  for (auto& w : all) REQUIRE_MESSAGE(w.exporter->stderr_line("scrape from", itest::kPatience, &seen), w.label << ": " << seen);

  const std::string api = fmt::format("http://127.0.0.1:{}/api/v1/query?query=", port);
  // Stored series per instance; the sample is appended right after the scrape, so a query can
  // briefly miss the newest targets: ask again, bounded.
  std::map<std::string, std::map<std::string, long long>> stored;  // instance -> type -> value
  std::map<std::string, std::map<std::string, double>> scalars;    // instance -> metric -> value
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(itest::kPatience);
  for (;;) {
    stored.clear();
    scalars.clear();
    auto types = json::parse(http_get(api + "objspy_type_objects"), nullptr, false);
    auto others = json::parse(http_get(api + "%7B__name__%3D~%22objspy_gc_objects%7Cobjspy_gc_frozen_objects%7Cobjspy_up%7Cobjspy_census_complete%22%7D"), nullptr, false);
    if (!types.is_discarded() && !others.is_discarded()) {
      for (const auto& r : types["data"]["result"])
        stored[r["metric"]["instance"]][r["metric"]["type"]] = std::stoll(r["value"][1].get<std::string>());
      for (const auto& r : others["data"]["result"])
        scalars[r["metric"]["instance"]][r["metric"]["__name__"]] = std::stod(r["value"][1].get<std::string>());
    }
    if ((stored.size() == all.size() && scalars.size() == all.size()) || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& w : all) {
    INFO(w.label);
    REQUIRE(stored.count(w.address));
    auto want = expected_series(target_counts(w.truth));
    const auto& got = stored[w.address];
    CHECK(got.size() == want.size());
    for (const auto& [name, n] : want) {
      auto it = got.find(name);
      CHECK_MESSAGE((it != got.end() && it->second == n), name << ": target " << n << ", Prometheus "
                                                               << (it == got.end() ? std::string("missing") : std::to_string(it->second)));
    }
    auto& s = scalars[w.address];
    CHECK(s["objspy_up"] == 1);
    CHECK(s["objspy_census_complete"] == 1);
    CHECK(s["objspy_gc_objects"] == w.truth.at("total").get<double>());
    CHECK(s["objspy_gc_frozen_objects"] == w.truth.at("frozen").get<double>());
  }
  prom.kill_now();
  std::filesystem::remove_all(dir);
}

TEST_CASE("the exporter reports objspy_up 0 once its target exits, and keeps serving") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    itest::Target exporter(itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--listen", "127.0.0.1:0", "--interval", "200ms"}));
    std::string seen;
    auto address = exporter_address(exporter, &seen);
    REQUIRE_MESSAGE(!address.empty(), seen);
    auto before = http_get("http://" + address + "/metrics");
    CHECK(before.find("\nobjspy_up 1\n") != std::string::npos);
    CHECK(before.find("objspy_type_objects{type=\"other\"}") != std::string::npos);
    t.kill_now();
    REQUIRE_MESSAGE(exporter.stderr_line("exited; serving objspy_up 0", itest::kPatience, &seen), seen);
    auto after = http_get("http://" + address + "/metrics");
    CHECK(after.find("\nobjspy_up 0\n") != std::string::npos);
    CHECK(after.find("objspy_type_objects") == std::string::npos);  // no stale counts
    CHECK(after.find("objspy_census_failures_total 1") != std::string::npos);
    CHECK(http_get("http://" + address + "/nothing-here").find("not found") != std::string::npos);
    kill(exporter.pid(), SIGTERM);
    CHECK(exporter.stderr_line("exporter stopped", itest::kPatience, &seen));
  }
}

TEST_CASE("hostile type names reach the exposition escaped, and promtool still accepts it") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "known_heap.py", {{"OBJSPY_TARGET_HOSTILE", "1"}});
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  itest::Target exporter(itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--listen", "127.0.0.1:0", "--top", "0"}));
  std::string seen;
  auto address = exporter_address(exporter, &seen);
  REQUIRE_MESSAGE(!address.empty(), seen);
  auto body = http_get("http://" + address + "/metrics");
  CHECK(body.find('\x1b') == std::string::npos);
  CHECK(body.find('\r') == std::string::npos);
  CHECK(body.find("type=\"line1\\nline2\xEF\xBF\xBDline3\"") != std::string::npos);
  const std::string dir = temp_dir();
  std::ofstream(dir + "/m.txt") << body;
  auto lint = itest::run({"sh", "-c", "promtool check metrics < " + dir + "/m.txt"});
  CHECK_MESSAGE(lint.exit_code == 0, lint.out << lint.err);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a scrape is answered from the last census while the next one is still running") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "idle.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  // Every read of target memory takes 100 ms: a census takes seconds. The exporter is ready
  // after its first census, and the second starts right away (the interval is shorter).
  itest::Target exporter(itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--listen", "127.0.0.1:0", "--interval", "100ms"}),
                         {{"LD_PRELOAD", OBJSPY_EXIT_SHIM}, {"OBJSPY_TEST_READ_DELAY_US", "100000"}});
  std::string seen;
  auto address = exporter_address(exporter, &seen);
  REQUIRE_MESSAGE(!address.empty(), seen);
  auto start = std::chrono::steady_clock::now();
  auto body = http_get("http://" + address + "/metrics");
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string key = "\nobjspy_census_duration_seconds ";
  auto duration_at = body.find(key);
  REQUIRE(duration_at != std::string::npos);
  const double census_s = std::stod(body.substr(duration_at + key.size()));
  INFO("census " << census_s << " s, scrape " << took << " s");
  CHECK(census_s > 1.0);                                                      // the shim made it slow
  CHECK(body.find("\nobjspy_censuses_total 1\n") != std::string::npos);   // the second is not done...
  CHECK(took < census_s / 2);                                                 // ...and was not waited for
}

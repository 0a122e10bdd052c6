// Long-running modes follow a target that execs in place (same PID, new image), as gunicorn
// and uWSGI reloads do: serve is back to objspy_up 1 with the new image's census, record keeps
// writing censuses after a "reattached" event. tests/targets/exec_self.py has BeforeExec
// instances in its first image and AfterExec instances (none of BeforeExec) in its second.
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

using nlohmann::json;

namespace {

constexpr long long kBeforeExec = 777;  // as in exec_self.py
constexpr long long kAfterExec = 4321;

double now_unix() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string http_get(const std::string& url) { return itest::run({"curl", "-sS", "--max-time", "10", url}, 20).out; }

// The value of the series `name` (with its labels, as written) in an exposition, if present.
std::optional<double> metric(const std::string& body, const std::string& name) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return std::nullopt;
}

std::optional<double> type_objects(const std::string& body, const std::string& type) {
  return metric(body, fmt::format("objspy_type_objects{{type=\"{}\"}}", type));
}

// The lines of an NDJSON file that are complete (record may be in the middle of writing one).
std::vector<json> complete_lines(const std::string& path) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  std::vector<json> out;
  std::size_t at = 0;
  for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) out.push_back(json::parse(text.substr(at, nl - at)));
  return out;
}

long long count_of(const json& census, const std::string& name) {
  for (const auto& t : census.at("types"))
    if (t.at("name") == name) return t.at("count").get<long long>();
  return 0;
}

// When a census began: its timestamp is taken at its end.
double census_start(const json& census) { return census.at("timestamp").get<double>() - census.at("duration_ms").get<double>() / 1000.0; }

// Ask the target to exec; it answers from its new image. Returns when it did (Unix time).
double exec_target(itest::Target& t) {
  const std::string again = t.ask("exec", 120);
  REQUIRE_MESSAGE(again == fmt::format("ready 2 {}", t.pid()), "the target did not come back from its exec: '" << again << "'");
  // Timestamps are written in milliseconds: a census that began 2 ms after this surely
  // began after the new image had built its heap.
  return now_unix() + 0.002;
}

void require_first_image(itest::Target& t) {
  std::string err;
  auto ready = t.ready_line(120, &err);
  REQUIRE_MESSAGE(ready, err);
  REQUIRE(*ready == fmt::format("ready 1 {}", t.pid()));
}

}  // namespace

TEST_CASE("serve follows its target across an exec in place: objspy_up 1 again with the new image's census") {
  const auto& found = itest::discover().found;
  REQUIRE_MESSAGE(!found.empty(), "no interpreter to test");
  for (const auto& py : found) {
    INFO(py.label);
    itest::Target t(py, "exec_self.py");
    require_first_image(t);
    itest::Target exporter(
        itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--listen", "127.0.0.1:0", "--interval", "200ms", "--top", "0"}));
    std::string seen;
    auto line = exporter.stderr_line("serving metrics", 60, &seen);
    REQUIRE_MESSAGE(line, seen);
    auto b = line->find("http://"), e = line->find("/metrics");
    const std::string url = "http://" + line->substr(b + 7, e - b - 7) + "/metrics";

    auto before = http_get(url);
    CHECK(metric(before, "objspy_up") == 1.0);
    CHECK(type_objects(before, "BeforeExec") == double(kBeforeExec));
    CHECK_FALSE(type_objects(before, "AfterExec"));
    CHECK(metric(before, "objspy_reattaches_total") == 0.0);

    const double execd = exec_target(t);
    // objspy's own handshake: it noticed the exec and attached to the new image.
    REQUIRE_MESSAGE(exporter.stderr_line("attached to its new image", 60, &seen), seen);
    // That first census may have begun while the new image was still building its heap:
    // wait (bounded) for one that began after the target said it was ready.
    std::string after;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      after = http_get(url);
      auto ts = metric(after, "objspy_census_timestamp_seconds"), dur = metric(after, "objspy_census_duration_seconds");
      if (ts && dur && *ts - *dur > execd) break;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no census of the new image within 60 s; last scrape:\n" << after);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(metric(after, "objspy_up") == 1.0);
    CHECK(type_objects(after, "AfterExec") == double(kAfterExec));
    CHECK_FALSE(type_objects(after, "BeforeExec"));
    CHECK(metric(after, "objspy_reattaches_total") == 1.0);
    CHECK(after.find(fmt::format("objspy_target_info{{pid=\"{}\",python_version=\"{}", t.pid(), py.expect_minor)) != std::string::npos);

    kill(exporter.pid(), SIGTERM);
    CHECK(exporter.stderr_line("exporter stopped", 30, &seen));
  }
}

TEST_CASE("record follows its target across an exec in place: a reattached event, then censuses of the new image") {
  const auto& found = itest::discover().found;
  REQUIRE_MESSAGE(!found.empty(), "no interpreter to test");
  char tmpl[] = "/tmp/objspy-itest-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (const auto& py : found) {
    INFO(py.label);
    itest::Target t(py, "exec_self.py");
    require_first_image(t);
    const std::string out = dir + "/exec.ndjson";
    std::filesystem::remove(out);
    itest::Target rec(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--interval", "100ms", "-o", out}));
    REQUIRE(itest::wait_for_lines(out, 2, 60));  // two censuses of the first image on disk

    const double execd = exec_target(t);
    // record keeps going: wait (bounded) for a census that began after the new image was ready.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (bool done = false; !done;) {
      for (const auto& l : complete_lines(out))
        if (l.contains("types") && census_start(l) > execd) done = true;
      if (done) break;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no census of the new image within 60 s in " << out);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(rec.pid(), SIGTERM);
    int st = rec.wait_exit(60);
    REQUIRE(st != -1);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);

    auto lines = complete_lines(out);
    std::size_t reattached_at = lines.size(), reattached = 0, old_image = 0, new_image = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const json& l = lines[i];
      CAPTURE(l.dump());
      if (l.contains("event")) {
        const std::string ev = l.at("event");
        CHECK(ev != "target_exited");
        if (ev == "reattached") {
          ++reattached;
          reattached_at = i;
          CHECK(l.at("pid") == t.pid());
          CHECK(l.at("reattaches") == 1);
          CHECK(l.at("python_version").get<std::string>().rfind(py.expect_minor, 0) == 0);
          CHECK(l.at("reason").get<std::string>().find("exec") != std::string::npos);
        } else if (ev == "census_failed") {
          // The exec can land in the middle of a census; what it reports is a documented code.
          CHECK(!l.at("error").get<std::string>().empty());
          const int code = l.at("code");
          CHECK((code >= 1 && code <= 12 && code != 11));
        }
        continue;
      }
      CHECK(l.at("pid") == t.pid());
      if (i < reattached_at) {
        ++old_image;
        CHECK(count_of(l, "BeforeExec") == kBeforeExec);
        CHECK(count_of(l, "AfterExec") == 0);
      } else {
        ++new_image;
        CHECK(count_of(l, "BeforeExec") == 0);
        if (census_start(l) > execd) CHECK(count_of(l, "AfterExec") == kAfterExec);
      }
    }
    CHECK(reattached == 1);
    CHECK(old_image >= 2);
    CHECK(new_image >= 1);
  }
  std::filesystem::remove_all(dir);
}

// dump --subprocesses on a worker pool (tests/targets/worker_pool.py: a master, three Python
// workers and a child that execs cat), on every interpreter: a census per Python process equal
// to that process's own census, the non-Python child reported and skipped, and the sum.
// uWSGI (Debian's, embedding Debian's libpython3.11) as a real preforking server.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

using nlohmann::json;

namespace {

std::map<std::string, long long> own_census(const json& c) {
  std::map<std::string, long long> m;
  for (const auto& [hex, n] : c.at("short").items()) m[itest::hex_decode(hex)] = n.get<long long>();
  return m;
}

std::map<std::string, long long> objspy_census(const json& c) {
  std::map<std::string, long long> m;
  for (const auto& t : c.at("types")) m[t.at("name").get<std::string>()] += t.at("count").get<long long>();
  return m;
}

std::string differences(const std::map<std::string, long long>& want, const std::map<std::string, long long>& got) {
  std::string d;
  for (const auto& [name, n] : want)
    if (auto it = got.find(name); it == got.end() || it->second != n) d += fmt::format("{}: {} vs {}; ", name, it == got.end() ? 0 : it->second, n);
  for (const auto& [name, n] : got)
    if (!want.count(name)) d += fmt::format("{}: {} vs none; ", name, n);
  return d;
}

}  // namespace

TEST_CASE("dump --subprocesses: a census per worker equal to its own, the non-Python child skipped, and their sum, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "worker_pool.py");
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, err);
    const json truth = json::parse(*line);
    std::map<long long, json> own;  // pid -> the process's own census
    own[truth.at("master").at("pid").get<long long>()] = truth.at("master");
    for (const auto& w : truth.at("workers")) own[w.at("pid").get<long long>()] = w;
    REQUIRE(own.size() == 4);
    const long long other = truth.at("other").get<long long>();
    const std::string pid = std::to_string(t.pid());

    auto r = itest::run(itest::objspy({"dump", "--pid", pid, "--subprocesses", "--format", "json"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    CHECK(j.at("root") == t.pid());
    REQUIRE(j.at("processes").size() == 4);
    std::map<std::string, long long> summed;
    long long total = 0;
    for (const auto& p : j.at("processes")) {
      const long long ppid = p.at("pid").get<long long>();
      INFO("pid " << ppid);
      REQUIRE(own.count(ppid) == 1);
      const json& mine = own.at(ppid);
      CHECK(p.at("total_objects") == mine.at("total"));
      const std::string d = differences(own_census(mine), objspy_census(p));
      CHECK_MESSAGE(d.empty(), d);
      CHECK(p.at("walk").at("complete") == true);
      if (ppid != t.pid()) CHECK(p.at("ppid") == t.pid());
      total += mine.at("total").get<long long>();
      for (const auto& [name, n] : own_census(mine)) summed[name] += n;
    }
    // The child that is not Python: named, with its reason, and not fatal.
    REQUIRE(j.at("skipped").size() == 1);
    CHECK(j.at("skipped")[0].at("pid") == other);
    CHECK(j.at("skipped")[0].at("code") == 4);  // not_python
    CHECK(r.err.find(fmt::format("pid {} (cat): skipped: ", other)) != std::string::npos);
    CHECK(j.at("sum").at("processes") == 4);
    CHECK(j.at("sum").at("total_objects") == total);
    const std::string d = differences(summed, objspy_census(j.at("sum")));
    CHECK_MESSAGE(d.empty(), d);

    // The table: each process under its header, then the sum; WorkerOnly only in workers.
    auto table = itest::run(itest::objspy({"dump", "--pid", pid, "--subprocesses", "-l", "0"}));
    CHECK(table.exit_code == 0);
    for (const auto& [p, c] : own) CHECK(table.out.find(fmt::format("== pid {}: ", p)) != std::string::npos);
    CHECK(table.out.find("== sum of 4 processes\n") != std::string::npos);
    CHECK(table.out.find(fmt::format("== pid {}: ", other)) == std::string::npos);
    // NDJSON: one census document per process.
    auto nd = itest::run(itest::objspy({"dump", "--pid", pid, "--subprocesses", "--format", "ndjson", "-q"}));
    CHECK(nd.exit_code == 0);
    CHECK(std::count(nd.out.begin(), nd.out.end(), '\n') == 4);
  }
}

TEST_CASE("dump --subprocesses: a root that is not Python, and one that is gone, each get one clear line") {
  // cat with no Python child: nothing to read, the root's reason.
  itest::Target cat({"/bin/sh", "-c", "echo ready; exec cat"});
  std::string err;
  REQUIRE_MESSAGE(cat.ready_line(itest::kPatience, &err), err);
  auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(cat.pid()), "--subprocesses"}));
  CHECK(r.exit_code == 4);  // not_python
  CHECK(r.out.empty());
  CHECK(r.err.find("no process of the tree of PID") != std::string::npos);
  auto gone = itest::run(itest::objspy({"dump", "--pid", "999999999", "--subprocesses"}));
  CHECK(gone.exit_code == 3);
  CHECK(std::count(gone.err.begin(), gone.err.end(), '\n') == 1);
  auto growth = itest::run(itest::objspy({"dump", "--pid", std::to_string(cat.pid()), "--subprocesses", "--growth"}));
  CHECK(growth.exit_code == 2);
}

TEST_CASE("dump --subprocesses on uWSGI: the master and every worker, each equal to its own dump, an attached non-Python daemon skipped") {
  if (access("/usr/bin/uwsgi", X_OK) != 0 || !std::filesystem::exists("/usr/lib/uwsgi/plugins/python3_plugin.so")) {
    itest::missing("uwsgi", "Debian's uwsgi and uwsgi-plugin-python3 are not installed (tools/setup.sh --chroot)");
    return;
  }
  itest::TempDir dir;
  {
    std::ofstream app(dir.path + "/app.py");
    app << "class Handler:\n    pass\nkeep = [Handler() for _ in range(321)]\n"
           "def application(env, start):\n    start('200 OK', [])\n    return [b'ok']\n";
  }
  // Four workers and a daemon that is not Python (attach-daemon: a child of the master; tail
  // ends with the master, as the workers do with --no-orphans). The ready handshake: a
  // watcher prints the master's PID once all of them exist (bounded), and the shell execs
  // uWSGI, so the Target is the master itself and its end ends the pool.
  const std::string script = fmt::format(
      "( for i in $(seq 1 1200); do n=$(pgrep -P $$ -x uwsgi | wc -l); "
      "[ \"$n\" -ge 4 ] && pgrep -P $$ -x tail >/dev/null && {{ echo $$; exit 0; }}; sleep 0.1; done ) & "
      "exec uwsgi --plugin python3 --master --no-orphans --processes 4 --wsgi-file {0}/app.py --http-socket 127.0.0.1:0 "
      "--attach-daemon 'exec tail -f /dev/null --pid=$PPID' --die-on-term --need-app --logto {0}/uwsgi.log",
      dir.path);
  itest::Target uwsgi({"/bin/sh", "-c", script});
  std::string err;
  auto line = uwsgi.ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(line, err);
  const std::string master = *line;
  REQUIRE(master == std::to_string(uwsgi.pid()));
  auto r = itest::run(itest::objspy({"dump", "--pid", master, "--subprocesses", "--format", "json", "-q"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  REQUIRE(j.at("processes").size() == 5);  // master + 4 workers
  // tail, and the watcher's shell if it has not ended yet: not Python, or gone.
  bool tail = false;
  for (const auto& s : j.at("skipped")) {
    tail = tail || s.at("comm") == "tail";
    CHECK((s.at("code") == 4 || s.at("code") == 3));
  }
  CHECK(tail);
  for (const auto& p : j.at("processes")) {
    const std::string wpid = std::to_string(p.at("pid").get<long long>());
    INFO("pid " << wpid);
    CHECK(objspy_census(p).at("Handler") == 321);
    // Each idle worker's census in the tree equals its own dump.
    auto own = itest::run(itest::objspy({"dump", "--pid", wpid, "--format", "json", "-q"}));
    REQUIRE(own.exit_code == 0);
    const json o = json::parse(own.out);
    CHECK(o.at("total_objects") == p.at("total_objects"));
    const std::string d = differences(objspy_census(o), objspy_census(p));
    CHECK_MESSAGE(d.empty(), d);
  }
}

TEST_CASE("serve --subprocesses: the pool's per-process series, each equal to that process's own census") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "worker_pool.py");
  std::string err;
  auto line = t.ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(line, err);
  const json truth = json::parse(*line);
  itest::Target serve(itest::objspy({"serve", "--pid", std::to_string(t.pid()), "--subprocesses", "--listen", "127.0.0.1:0", "--interval", "1s"}));
  std::string seen;
  auto ready = serve.stderr_line("serve serving metrics at", itest::kPatience, &seen);
  REQUIRE_MESSAGE(ready, seen);
  const auto b = ready->find("http://"), e = ready->find("/metrics");
  const std::string url = "http://" + ready->substr(b + 7, e - b - 7) + "/metrics";
  json all = truth.at("workers");
  all.push_back(truth.at("master"));
  // Bounded: each process's first census lands in turn.
  std::string body;
  for (int i = 0; i < 600; ++i) {
    body = itest::run({"curl", "-sS", "--max-time", "30", url}).out;
    std::size_t found = 0;
    for (const auto& c : all) found += body.find(fmt::format("objspy_process_gc_objects{{pid=\"{}\"", c.at("pid").get<long long>())) != std::string::npos;
    if (found == all.size()) break;
    usleep(100000);
  }
  for (const auto& c : all) {
    const std::string key = fmt::format("objspy_process_gc_objects{{pid=\"{}\"", c.at("pid").get<long long>());
    const auto at = body.find(key);
    REQUIRE_MESSAGE(at != std::string::npos, key << " missing in\n" << body.substr(0, 2000));
    const auto eol = body.find('\n', at);
    const std::string value = body.substr(body.rfind(' ', eol) + 1, eol - body.rfind(' ', eol) - 1);
    CHECK(std::stoll(value) == c.at("total").get<long long>());
  }
  CHECK(body.find(fmt::format("pid=\"{}\"", truth.at("other").get<long long>())) == std::string::npos);  // cat: not Python
  CHECK(body.find("objspy_agent_processes 4\n") != std::string::npos);
}

TEST_CASE("record and top --subprocesses: each census is the pool's sum, each process's own as an event line, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "worker_pool.py");
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, err);
    const json truth = json::parse(*line);
    std::map<long long, long long> own;  // pid -> total
    long long total = 0;
    json all = truth.at("workers");
    all.push_back(truth.at("master"));
    for (const auto& c : all) {
      own[c.at("pid").get<long long>()] = c.at("total").get<long long>();
      total += c.at("total").get<long long>();
    }
    itest::TempDir dir;
    const std::string file = dir.path + "/pool.ndjson";
    auto r = itest::run(itest::objspy({"record", "--pid", std::to_string(t.pid()), "--subprocesses", "-n", "3", "-i", "200ms", "-o", file, "-q"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::ifstream in(file);
    std::string l;
    int sums = 0, parts = 0;
    while (std::getline(in, l)) {
      const json j = json::parse(l);
      if (j.value("event", "") == "process") {
        ++parts;
        REQUIRE(own.count(j.at("pid").get<long long>()) == 1);
        CHECK(j.at("total_objects") == own.at(j.at("pid").get<long long>()));
        CHECK(j.at("tree_root") == t.pid());
      } else if (!j.contains("event")) {
        ++sums;
        CHECK(j.at("pid") == t.pid());
        CHECK(j.at("total_objects") == total);
        CHECK(j.at("processes").size() == 4);
      }
    }
    CHECK(sums == 3);
    CHECK(parts == 12);
    // The series readers take the sums.
    auto sus = itest::run(itest::objspy({"suspects", file, "--json"}));
    CHECK(sus.exit_code == 0);
    CHECK(json::parse(sus.out).at("samples") == 3);
    auto top = itest::run(itest::objspy({"top", "--pid", std::to_string(t.pid()), "--subprocesses", "-n", "1"}));
    CHECK(top.exit_code == 0);
    CHECK(top.out.find(fmt::format(", {} objects (", total)) != std::string::npos);
  }
  auto both = itest::run(itest::objspy({"record", "--pid", std::to_string(getpid()), "--subprocesses", "--trigger-rss", "1G", "--trigger-dir", "/tmp"}));
  CHECK(both.exit_code == 2);
}

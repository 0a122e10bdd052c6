// objspy agent against a real Prometheus (Debian's package) while Python processes of
// different versions come and go: one in the sid chroot, one in its own PID and mount
// namespace, one in a cgroup with a container's path; a program with a Python-like name that
// is not Python, and a hostile fake runtime. Every process's stored series equal its own census.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/core/escape.hpp"
#include "objspy/process/cgroup.hpp"
#include "objspy/process/process_tree.hpp"
#include "support.hpp"

using nlohmann::json;

namespace {

constexpr std::size_t kTop = 12;
const std::string kContainer = std::string(64, 'a').replace(0, 8, "0123beef");

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

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

const itest::Interpreter* find(const std::string& label_part) {
  for (const auto& py : itest::interpreters())
    if (py.label.find(label_part) != std::string::npos) return &py;
  return nullptr;
}

struct Process {
  std::string label;
  std::unique_ptr<itest::Target> target;
  pid_t pid = 0;  // as the host sees it
  json truth;
  std::string container_id;
};

}  // namespace

TEST_CASE("agent: Prometheus stores every Python process of the host with its labels, equal to its own census; ended ones vanish") {
  REQUIRE_MESSAGE(itest::run({"prometheus", "--version"}).exit_code == 0, "prometheus is missing: tools/setup.sh installs it");
  // Five interpreters of different versions, as the README lists them.
  const auto* p38 = find("pyenv 3.8");
  const auto* p312 = find("pyenv 3.12");
  const auto* p311 = find("pyenv 3.11");
  const auto* p313 = find("pyenv 3.13");
  const auto* p39 = find("pyenv 3.9");
  const auto* sid = find("sid python3.14 (chroot)");
  const auto* p310 = find("pyenv 3.10");
  for (auto [py, name] : {std::pair{p38, "pyenv 3.8"}, {p312, "pyenv 3.12"}, {p311, "pyenv 3.11"}, {p313, "pyenv 3.13"}, {p39, "pyenv 3.9"},
                          {sid, "sid python3.14"}, {p310, "pyenv 3.10"}})
    if (!py) {
      itest::missing(name, "the agent test runs five interpreters of different versions");
      return;
    }
  // The container-like cgroup, made before the process enters it (as a runtime does).
  auto mine = objspy::read_cgroup_memory(getpid());
  REQUIRE_MESSAGE(mine.ok(), (mine.ok() ? "" : mine.error().message));
  const std::string cg_dir = mine->dir + "/docker-" + kContainer + ".scope";
  REQUIRE_MESSAGE((::mkdir(cg_dir.c_str(), 0755) == 0 || errno == EEXIST), "cannot create " << cg_dir);

  std::vector<Process> all;
  auto start = [&](const std::string& label, std::vector<std::string> argv) {
    Process p;
    p.label = label;
    p.target = std::make_unique<itest::Target>(std::move(argv));
    all.push_back(std::move(p));
  };
  auto argv_of = [&](const itest::Interpreter& py) {
    auto a = py.argv;
    a.push_back(py.script_dir + "/known_heap.py");
    return a;
  };
  auto start_py = [&](const std::string& label, const itest::Interpreter& py) {
    Process p;
    p.label = label;
    p.target = std::make_unique<itest::Target>(py, "known_heap.py");
    all.push_back(std::move(p));
  };
  start_py("pyenv 3.8", *p38);
  start_py("pyenv 3.12", *p312);
  start_py("sid 3.14 (chroot)", *sid);
  auto ns = argv_of(*p311);
  ns.insert(ns.begin(), {"unshare", "--pid", "--mount", "--fork"});
  start("pyenv 3.11 (own PID and mount namespace)", ns);
  start_py("pyenv 3.13 (container cgroup)", *p313);
  for (auto& p : all) {
    std::string err;
    auto line = p.target->ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, p.label << ": " << err);
    p.truth = json::parse(*line);
    p.pid = p.target->pid();
  }
  // The namespaced one is unshare's child: its PID here is not the one it knows.
  {
    auto tree = objspy::process_tree(objspy::list_processes(), all[3].target->pid());
    REQUIRE(tree.size() >= 2);
    all[3].pid = tree.back().pid;
    CHECK(all[3].truth.at("pid") == 1);
  }
  {
    std::ofstream f(cg_dir + "/cgroup.procs");
    f << all[4].pid << "\n";
  }
  all[4].container_id = "docker://" + kContainer;
  // Not Python, but named so: the agent looks and lets it be.
  itest::TempDir dir;
  std::filesystem::copy_file("/bin/cat", dir.path + "/python3-lookalike");
  itest::Target fake({"/bin/sh", "-c", fmt::format("echo ready; exec {}/python3-lookalike", dir.path)});
  itest::Target hostile({OBJSPY_HOSTILE_RUNTIME, "64", "6"});
  // A steady leak under churn: the dashboard's suspects must name it.
  itest::Target leak(*p312, "busy_leak.py", {{"CHURN_RATE", "10000"}, {"LEAK_RATE", "2000"}});
  std::string err;
  REQUIRE_MESSAGE(leak.ready_line(itest::kPatience, &err), err);
  REQUIRE_MESSAGE(fake.ready_line(itest::kPatience, &err), err);
  REQUIRE_MESSAGE(hostile.ready_line(itest::kPatience, &err), err);

  // Only this test's processes: the machine may run other Python.
  itest::Target agent(itest::objspy({"agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--discover-interval", "300ms", "--top",
                                     std::to_string(kTop), "--include", "cmdline=known_heap\\.py", "--include", "cmdline=busy_leak\\.py", "--include", "cmdline=python3-lookalike",
                                     "--include", "cmdline=hostile", "--exclude", "cmdline=^unshare",
                                     // Every process at its interval, whatever a census costs (under ASan, much):
                                     // the budget is checked on its own below.
                                     "--cpu-budget", "100", "-v"}));
  std::string seen;
  auto ready = agent.stderr_line("agent serving metrics at", itest::kPatience, &seen);
  REQUIRE_MESSAGE(ready, seen);
  const auto b = ready->find("http://"), e = ready->find("/metrics");
  const std::string address = ready->substr(b + 7, e - b - 7);

  // promtool accepts the exposition.
  {
    std::ofstream(dir.path + "/m.txt") << http_get("http://" + address + "/metrics");
    auto lint = itest::run({"sh", "-c", "promtool check metrics < " + dir.path + "/m.txt"});
    CHECK_MESSAGE(lint.exit_code == 0, lint.out << lint.err);
  }
  std::ofstream(dir.path + "/prometheus.yml") << fmt::format(
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: objspy-agent\n"
      "    static_configs:\n      - targets: ['{}']\n",
      address);
  const int port = free_port();
  itest::Target prom({"prometheus", "--config.file=" + dir.path + "/prometheus.yml", "--storage.tsdb.path=" + dir.path + "/data",
                      fmt::format("--web.listen-address=127.0.0.1:{}", port)});
  REQUIRE_MESSAGE(prom.stderr_line("Server is ready to receive web requests", itest::kPatience, &seen), seen);
  const std::string api = fmt::format("http://127.0.0.1:{}/api/v1/query?query=", port);
  auto query = [&](const std::string& q) {
    auto j = json::parse(http_get(api + url_encode(q)), nullptr, false);
    return j.is_discarded() ? json::array() : j["data"]["result"];
  };
  // Bounded wait until Prometheus holds a census of every process (and of a late one).
  auto wait_for = [&](const std::function<bool()>& ok) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(itest::kPatience);
    while (!ok()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return true;
  };
  auto discoveries = [&] {
    const std::string m = http_get("http://" + address + "/metrics");
    const std::string key = "\nobjspy_agent_discoveries_total ";
    const auto at = m.find(key);
    return at == std::string::npos ? 0L : std::stol(m.substr(at + key.size()));
  };
  // A shell that the agent sees first (not Python: ignored), which then execs Python, as a
  // container's entrypoint script does: watched from then on.
  {
    Process p;
    p.label = "pyenv 3.10 (exec'd by a shell)";
    std::vector<std::string> argv{"/bin/sh", "-c", "echo shell; read x; exec \"$@\"", "sh"};
    for (const auto& a : p310->argv) argv.push_back(a);
    argv.push_back(p310->script_dir + "/known_heap.py");
    p.target = std::make_unique<itest::Target>(argv);
    REQUIRE_MESSAGE(p.target->ready_line(itest::kPatience, &err) == std::optional<std::string>("shell"), err);
    const long seen_before = discoveries();
    REQUIRE(wait_for([&] { return discoveries() >= seen_before + 2; }));  // the shell was looked at
    const std::string line = p.target->ask("go", itest::kPatience);
    REQUIRE_MESSAGE(!line.empty(), "the exec'd interpreter did not start");
    p.truth = json::parse(line);
    p.pid = p.target->pid();
    all.push_back(std::move(p));
  }
  auto gc_objects = [&](pid_t pid) { return query(fmt::format("objspy_process_gc_objects{{pid=\"{}\"}}", pid)); };
  // A process that comes later.
  start_py("pyenv 3.9 (comes and goes)", *p39);
  auto late = all.back().target->ready_line(itest::kPatience, &err);
  REQUIRE_MESSAGE(late, err);
  all.back().truth = json::parse(*late);
  all.back().pid = all.back().target->pid();
  REQUIRE(wait_for([&] {
    for (const auto& p : all)
      if (gc_objects(p.pid).empty()) return false;
    return true;
  }));

  for (const auto& p : all) {
    INFO(p.label);
    const auto gc = gc_objects(p.pid);
    REQUIRE(gc.size() == 1);
    const auto& m = gc[0]["metric"];
    CHECK(m["python_version"] == p.truth.at("version"));
    CHECK(m.value("container_id", std::string()) == p.container_id);  // Prometheus drops an empty label
    if (p.container_id.empty()) CHECK(m["service"] == "known_heap.py");
    CHECK(std::stoll(gc[0]["value"][1].get<std::string>()) == p.truth.at("total").get<long long>());
    // Per type: the kTop named types carry the target's counts, "other" the rest.
    std::map<std::string, long long> want;
    long long total = 0;
    for (auto& [k, v] : p.truth.at("short").items()) {
      want[objspy::sanitize_utf8(itest::hex_decode(k))] += v.get<long long>();
      total += v.get<long long>();
    }
    long long sum = 0;
    std::size_t named = 0;
    for (const auto& r : query(fmt::format("objspy_process_type_objects{{pid=\"{}\"}}", p.pid))) {
      const std::string type = r["metric"]["type"];
      const long long n = std::stoll(r["value"][1].get<std::string>());
      sum += n;
      if (type == "other") continue;
      ++named;
      CHECK_MESSAGE(want[type] == n, type << ": target " << want[type] << ", Prometheus " << n);
    }
    CHECK(named == std::min(kTop, want.size()));
    CHECK(sum == total);
  }
  // The container's labels: its ID as kube-state-metrics writes it, on every series.
  CHECK(query(fmt::format("objspy_process_info{{container_id=\"docker://{}\"}}", kContainer)).size() == 1);
  // Neither the lookalike nor the hostile runtime disturbed the others; the lookalike is ignored.
  CHECK(gc_objects(fake.pid()).empty());
  CHECK(query("objspy_agent_processes").at(0)["value"][1] >= "6");
  // /pprof: one process's census, as go tool pprof reads it, equals its own census.
  if (access("/usr/bin/go", X_OK) != 0) {
    itest::missing("go", "Debian's golang-go is not installed: the agent's /pprof is read with go tool pprof (tools/setup.sh --chroot)");
  } else {
    const Process& p = all[1];
    const std::string file = dir.path + "/one.pb.gz";
    REQUIRE(itest::run({"curl", "-sS", "-f", "-o", file, fmt::format("http://{}/pprof?pid={}", address, p.pid)}).exit_code == 0);
    auto top = itest::run({"/usr/bin/go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-unit=B", file}, itest::kPatience,
                          {{"HOME", dir.path}});
    REQUIRE_MESSAGE(top.exit_code == 0, top.err);
    std::map<std::string, long long> got, want;
    std::istringstream in(top.out);
    std::string row;
    bool table = false;
    while (std::getline(in, row)) {
      if (row.find("flat  flat%") != std::string::npos) { table = true; continue; }
      if (!table) continue;
      std::istringstream f(row);
      std::string flat, a, b2, c, d, name;
      f >> flat >> a >> b2 >> c >> d;
      std::getline(f, name);
      name.erase(0, name.find_first_not_of(' '));
      if (flat.empty()) continue;
      if (flat.back() == 'B') flat.pop_back();
      if (const long long n = std::stoll(flat); n) got[name] += n;
    }
    for (auto& [k, v] : p.truth.at("short").items()) want[itest::hex_decode(k)] += v.get<long long>();
    CHECK(got == want);
    CHECK(itest::run({"curl", "-sS", "-f", "-o", dir.path + "/x", fmt::format("http://{}/pprof?pid=1", address)}).exit_code != 0);  // no census: 404
  }
  // The dashboard: every query of every panel returns data from this Prometheus (the
  // template variable at "All"), and the leak is the top suspect.
  {
    std::ifstream f(itest::source_dir() + "/packaging/grafana/objspy-dashboard.json");
    const json dash = json::parse(f);
    CHECK_FALSE(query("objspy_process_info").empty());  // label_values(objspy_process_info, service)
    REQUIRE(dash.at("panels").size() >= 8);
    // Growth needs two censuses of the leak a few seconds apart.
    REQUIRE(wait_for([&] { return !query(fmt::format("deriv(objspy_process_type_objects{{pid=\"{}\",type=\"ObjspyLeakedRecord\"}}[5m]) > 100", leak.pid())).empty(); }));
    for (const auto& panel : dash.at("panels")) {
      for (const auto& t : panel.at("targets")) {
        std::string expr = t.at("expr");
        for (std::size_t at; (at = expr.find("$service")) != std::string::npos;) expr.replace(at, 8, ".*");
        INFO(panel.at("title").get<std::string>() << ": " << expr);
        CHECK_FALSE(query(expr).empty());
      }
    }
    const auto suspects = query("topk(1, deriv(objspy_process_type_objects{type!=\"other\"}[1h]) * 3600)");
    REQUIRE(suspects.size() == 1);
    CHECK(suspects[0]["metric"]["type"] == "ObjspyLeakedRecord");
  }
  // Gone: its series go too (Prometheus marks them stale at the next scrape).
  const pid_t leaving = all.back().pid;
  all.back().target->kill_now();
  CHECK(wait_for([&] { return gc_objects(leaving).empty(); }));
  CHECK(wait_for([&] { return !query("objspy_agent_processes_exited_total > 0").empty(); }));
  CHECK_FALSE(gc_objects(all[0].pid).empty());
  prom.kill_now();
  for (auto& p : all) p.target.reset();
  ::rmdir(cg_dir.c_str());
}

TEST_CASE("agent deployment: the DaemonSet has what the agent needs and nothing more; the unit and the dashboard are well-formed") {
  const std::string manifest = itest::source_dir() + "/packaging/agent/objspy-agent-daemonset.yaml";
  auto r = itest::run({"/usr/bin/python3", "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", manifest});
  if (r.exit_code != 0 && r.err.find("No module named") != std::string::npos) {
    itest::missing("python3-yaml", "the DaemonSet check reads YAML with Debian's python3-yaml (tools/setup.sh --chroot)");
    return;
  }
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json d = json::parse(r.out);
  CHECK(d.at("kind") == "DaemonSet");
  const auto& pod = d.at("spec").at("template");
  const auto& spec = pod.at("spec");
  CHECK(spec.at("hostPID") == true);
  REQUIRE(spec.at("containers").size() == 1);
  const auto& c = spec.at("containers")[0];
  const auto& sc = c.at("securityContext");
  CHECK(sc.at("readOnlyRootFilesystem") == true);
  CHECK(sc.at("allowPrivilegeEscalation") == false);
  CHECK(sc.value("privileged", false) == false);
  CHECK(sc.at("capabilities").at("drop") == json::array({"ALL"}));
  CHECK(sc.at("capabilities").at("add") == json::array({"SYS_PTRACE"}));  // the only capability
  CHECK(c.at("resources").at("limits").contains("cpu"));
  CHECK(c.at("resources").at("limits").contains("memory"));
  CHECK(c.at("resources").at("requests").contains("cpu"));
  // Prometheus's annotations point at the port the agent listens on.
  const auto& ann = pod.at("metadata").at("annotations");
  CHECK(ann.at("prometheus.io/scrape") == "true");
  const std::string port = ann.at("prometheus.io/port");
  CHECK(c.at("ports")[0].at("containerPort").get<int>() == std::stoi(port));
  const auto& args = c.at("args");
  REQUIRE(args.size() >= 3);
  CHECK(args[0] == "agent");
  bool listens = false;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) listens = listens || (args[i] == "--listen" && args[i + 1] == "0.0.0.0:" + port);
  CHECK(listens);
  // The arguments are the agent's: objspy parses them (--help after them: parse, then stop).
  std::vector<std::string> argv = itest::objspy({});
  for (const auto& a : args) argv.push_back(a);
  argv.push_back("--help");
  CHECK(itest::run(argv).exit_code == 0);
  // The dashboard is Grafana's JSON with a Prometheus input and panels that each query.
  std::ifstream f(itest::source_dir() + "/packaging/grafana/objspy-dashboard.json");
  const json dash = json::parse(f);
  CHECK(dash.at("__inputs")[0].at("pluginId") == "prometheus");
  for (const auto& p : dash.at("panels")) CHECK_FALSE(p.at("targets").empty());
}

TEST_CASE("agent --cpu-budget: a process whose censuses cost more than its share is censused less often") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "known_heap.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  // 0.01% of a core: even a census of a few milliseconds stretches a 1 s interval a lot.
  itest::Target agent(itest::objspy({"agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--discover-interval", "200ms", "--cpu-budget", "0.01",
                                     "--include", fmt::format("cmdline=known_heap\\.py"), "-v"}));
  std::string seen;
  auto ready = agent.stderr_line("agent serving metrics at", itest::kPatience, &seen);
  REQUIRE_MESSAGE(ready, seen);
  const auto b = ready->find("http://"), e = ready->find("/metrics");
  const std::string url = "http://" + ready->substr(b + 7, e - b - 7) + "/metrics";
  const std::string key = fmt::format("objspy_process_census_interval_seconds{{pid=\"{}\"", t.pid());
  double interval = 0;
  long censuses = 0;
  for (int i = 0; i < 1200 && censuses == 0; ++i) {
    const std::string m = http_get(url);
    const auto c = m.find(fmt::format("objspy_process_censuses_total{{pid=\"{}\"", t.pid()));
    if (c != std::string::npos) censuses = std::stol(m.substr(m.find("} ", c) + 2));
    if (const auto at = m.find(key); at != std::string::npos && censuses > 0) interval = std::stod(m.substr(m.find("} ", at) + 2));
    if (censuses == 0) usleep(100000);
  }
  REQUIRE(censuses >= 1);
  // cost / (0.0001 of a core): a census of at least 0.1 ms of CPU waits at least a second more.
  CHECK(interval > 1.5);
  CHECK(http_get(url).find("objspy_agent_cpu_budget_ratio 0.0001\n") != std::string::npos);
}

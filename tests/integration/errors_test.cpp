// Bad input: each case gives one clear line on stderr and its own exit code, nothing on
// stdout, and no crash.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {

// Exit codes, as README.md documents them.
constexpr int kUsage = 2, kNoSuchProcess = 3, kNotPython = 4, kUnsupported = 5, kPermission = 6, kExited = 7, kLaunchFailed = 9;

void check_one_line_error(const itest::CommandResult& r, int code, const std::string& must_contain) {
  CHECK_MESSAGE(r.exit_code == code, "exit " << r.exit_code << ", stderr: " << r.err);
  CHECK_MESSAGE(r.out.empty(), "stdout: " << r.out);
  CHECK_MESSAGE(r.err.find(must_contain) != std::string::npos, "stderr: " << r.err);
  CHECK_MESSAGE(std::count(r.err.begin(), r.err.end(), '\n') == 1, "not one line: " << r.err);
  CHECK(r.err.rfind("objspy: error: ", 0) == 0);
}

pid_t unused_pid() {
  std::ifstream f("/proc/sys/kernel/pid_max");
  long max = 32768;
  f >> max;
  for (long p = max - 1; p > 1; --p)
    if (kill(static_cast<pid_t>(p), 0) != 0 && errno == ESRCH) return static_cast<pid_t>(p);
  return 0;
}

const itest::Interpreter& any_python() { return itest::interpreters().front(); }

}  // namespace

TEST_CASE("no such PID") {
  pid_t p = unused_pid();
  REQUIRE(p > 0);
  check_one_line_error(itest::run(itest::objspy({"dump", "--pid", std::to_string(p)})), kNoSuchProcess, "no process with PID");
}

TEST_CASE("a process that is not Python") {
  itest::Target t({"sh", "-c", "echo ready; exec cat"});
  std::string err;
  REQUIRE(t.ready_line(itest::kPatience, &err));
  check_one_line_error(itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid())})), kNotPython, "not a Python process");
}

TEST_CASE("a kernel thread") {
  // PID 2 is kthreadd on Linux (absent in some containers' PID namespaces).
  std::ifstream comm("/proc/2/comm");
  std::string name;
  if (!(comm >> name) || name != "kthreadd") return itest::missing("kthreadd", "no kthreadd visible as PID 2 in this PID namespace");
  check_one_line_error(itest::run(itest::objspy({"dump", "--pid", "2"})), kNotPython, "kernel thread");
}

TEST_CASE("a zombie") {
  // It says ready and exits; nobody reaps it until the Target destructor, so it stays a zombie.
  std::string err;
  itest::Target z({"sh", "-c", "echo ready; exec true"});
  REQUIRE(z.ready_line(itest::kPatience, &err));
  REQUIRE(z.wait_exited(itest::kPatience));
  std::ifstream st(fmt::format("/proc/{}/stat", z.pid()));
  std::string all((std::istreambuf_iterator<char>(st)), {});
  auto close = all.rfind(')');
  REQUIRE(close != std::string::npos);
  REQUIRE(all.substr(close + 2, 1) == "Z");
  check_one_line_error(itest::run(itest::objspy({"dump", "--pid", std::to_string(z.pid())})), kNoSuchProcess, "zombie");
}

TEST_CASE("unsupported Python versions are named") {
  // Each of 2.7, 3.6 and 3.7 that is not installed is in the discovery's skipped list (shown
  // in the summary); with none at all this test checks nothing, which only their being
  // allowed to be missing excuses.
  const auto& old = itest::discover().unsupported;
  if (old.empty()) {
    REQUIRE_MESSAGE((itest::missing_allowed("pyenv 2.7") && itest::missing_allowed("pyenv 3.6") && itest::missing_allowed("pyenv 3.7")),
                    "no Python 2.7, 3.6 or 3.7 installed (pyenv): the refusal of old versions is untested");
    return;
  }
  for (const auto& py : old) {
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid())}));
    check_one_line_error(r, kUnsupported, "Python " + py.expect_minor);
    CHECK(r.err.find("3.8 to 3.15") != std::string::npos);
  }
}

TEST_CASE("permission denied names the missing capability") {
  if (geteuid() != 0) return itest::missing("root", "running objspy as another user needs root");
  if (access("/usr/bin/setpriv", X_OK) != 0) return itest::missing("setpriv", "/usr/bin/setpriv missing (util-linux)");
  auto py = any_python();
  itest::Target t(py, "idle.py");
  std::string err;
  REQUIRE(t.ready_line(itest::kPatience, &err));
  // objspy as an unprivileged user of the test's own against root's process.
  std::string uid = "65534";
  if (itest::run({"id", "-u", "objspy-test"}).exit_code != 0) itest::run({"useradd", "--system", "--no-create-home", "objspy-test"});
  auto id = itest::run({"id", "-u", "objspy-test"});
  if (id.exit_code == 0) uid = id.out.substr(0, id.out.find('\n'));
  else MESSAGE("useradd failed; running as nobody instead");
  auto r = itest::run({"setpriv", "--reuid=" + uid, "--regid=65534", "--clear-groups", "--inh-caps=-all", OBJSPY_BINARY, "dump", "--pid",
                       std::to_string(t.pid())});
  check_one_line_error(r, kPermission, "CAP_SYS_PTRACE");
  CHECK(r.err.find("--cap-add SYS_PTRACE") != std::string::npos);
}

TEST_CASE("the target exits in the middle of the census") {
  for (const auto& py : itest::interpreters()) {
    itest::Target t(py, "known_heap.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    // The shim SIGKILLs the target at objspy's 30th process_vm_readv call: after attaching,
    // during the walk.
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid())}), itest::kPatience,
                        {{"LD_PRELOAD", OBJSPY_EXIT_SHIM}, {"OBJSPY_TEST_KILL_AFTER", "30"}});
    INFO(py.label);
    check_one_line_error(r, kExited, "exited");
  }
}

TEST_CASE("usage errors") {
  auto r = itest::run(itest::objspy({"dump"}));
  CHECK(r.exit_code == kUsage);
  CHECK(r.err.find("--pid") != std::string::npos);
  r = itest::run(itest::objspy({"dump", "--pid", "1", "--", "python3"}));
  CHECK(r.exit_code == kUsage);
}

TEST_CASE("launch mode starts the program, prints its census and ends it") {
  const std::string demo = itest::source_dir() + "/examples/leaky_service.py";
  int launched = 0;
  for (const auto& py : itest::interpreters()) {
    if (py.argv.size() != 1 || py.label.find("embedded") != std::string::npos) continue;  // chroot/embed: --pid tests
    ++launched;
    auto argv = itest::objspy({"dump", "--delay", "0.5", "--format", "json", "--limit", "0", "--", py.argv[0], demo, "20"});
    auto r = itest::run(argv, 120);
    INFO(py.label << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    long long requests = 0, responses = 0;
    for (const auto& ty : j.at("types")) {
      if (ty.at("name") == "Request") requests = ty.at("count").get<long long>();
      if (ty.at("name") == "Response") responses = ty.at("count").get<long long>();
    }
    CHECK(requests > 0);
    // The demo caches one Response per Request; one Request may be in flight.
    CHECK((requests == responses || requests == responses + 1));
    // The child was ended and reaped: no process of that PID is left.
    pid_t child = j.at("pid").get<pid_t>();
    CHECK((kill(child, 0) != 0 && errno == ESRCH));
  }
  REQUIRE_MESSAGE(launched > 0, "no interpreter that can be launched directly");
  auto bad = itest::run(itest::objspy({"dump", "--", "/nonexistent/python3"}));
  check_one_line_error(bad, kLaunchFailed, "cannot start");
  auto early = itest::run(itest::objspy({"dump", "--", "sh", "-c", "exit 3"}));
  check_one_line_error(early, kLaunchFailed, "exited with status 3");
}

TEST_CASE("a binary deleted or replaced on disk after start is still read") {
  if (access("/usr/bin/python3.11", X_OK) != 0) return itest::missing("debian python3.11", "no /usr/bin/python3.11 to copy");
  char tmpl[] = "/tmp/objspy-deleted-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  for (const char* how : {"deleted", "replaced"}) {
    std::string exe = dir + "/python3.11";
    REQUIRE(itest::run({"cp", "/usr/bin/python3.11", exe}).exit_code == 0);
    itest::Target t({exe, itest::source_dir() + "/tests/targets/known_heap.py"});
    std::string err;
    REQUIRE(t.ready_line(itest::kPatience, &err));
    unlink(exe.c_str());
    if (std::string(how) == "replaced") std::ofstream(exe) << "#!/bin/sh\nnot python any more\n";
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid()), "--format", "json"}));
    INFO(how << ": " << r.err);
    CHECK(r.exit_code == 0);
    if (r.exit_code == 0) CHECK(nlohmann::json::parse(r.out).at("total_objects").get<long long>() > 1000);
    unlink(exe.c_str());
  }
  rmdir(dir.c_str());
}

TEST_CASE("a target whose _Py_DebugOffsets lie is refused with the field named") {
  int tested = 0;
  for (const auto& py : itest::interpreters()) {
    if (std::stoi(py.expect_minor.substr(2)) < 13) continue;
    itest::Target t(py, "lying_offsets.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), py.label << ": " << err);
    auto r = itest::run(itest::objspy({"dump", "--pid", std::to_string(t.pid())}));
    INFO(py.label);
    check_one_line_error(r, 10, "interpreter_state.gc");
    ++tested;
  }
  if (!tested) itest::missing("Python 3.13+", "no Python 3.13 or later found (the first with _Py_DebugOffsets)");
}

// objspy runs as root (these tests do too) next to files other users can plant: a link at the
// --growth state, its lock or its temporary file, or at `record -o`, must leave its victim as it
// was and give exit 12; a FIFO or a device where a file should be must not hang or abort
// objspy; a directory others can write is refused; and a file with a field of the wrong type
// gives exit 12 with one line naming the file, never a signal (134 was nlohmann's
// type_error escaping main) nor main's last-resort exit 1.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

// A private directory per test (mkdtemp: 0700, root's), removed after.
using itest::TempDir;

std::string content(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write(const std::string& p, const std::string& text) { std::ofstream(p, std::ios::binary | std::ios::trunc) << text; }

// A root-owned file an attacker would like objspy to overwrite, append to or truncate.
struct Victim {
  explicit Victim(const std::string& dir) : path(dir + "/victim") {
    write(path, kText);
    ::chmod(path.c_str(), 0600);
  }
  bool intact() const { return fs::is_regular_file(fs::symlink_status(path)) && content(path) == kText; }
  static constexpr const char* kText = "root's precious file\nline two\n";
  std::string path;
};

struct Timed {
  itest::CommandResult r;
  double seconds = 0;
};
Timed timed_run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  Timed t;
  t.r = itest::run(argv, 30, env);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

// The refusal is exit 12 and one error line, the last on stderr, saying why (a note such as
// "no previous census" may come before it).
void check_refused(const itest::CommandResult& r, const std::string& why) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 12);
  const auto at = r.err.find("objspy: error: ");
  REQUIRE(at != std::string::npos);
  CHECK(r.err.find("objspy: error: ", at + 1) == std::string::npos);
  CHECK(r.err.find('\n', at) == r.err.size() - 1);
  CHECK(r.err.find(why, at) != std::string::npos);
}

// A running interpreter for the commands that attach before they touch their files.
struct Idle {
  Idle() {
    py = itest::plain_python();
    REQUIRE(py);
    target = std::make_unique<itest::Target>(*py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(target->ready_line(itest::kPatience, &err), err);
    pid = std::to_string(target->pid());
  }
  std::vector<std::string> growth(const std::string& state) const {
    return itest::objspy({"dump", "--pid", pid, "--growth", "--state", state, "-q", "--limit", "3"});
  }
  const itest::Interpreter* py = nullptr;
  std::unique_ptr<itest::Target> target;
  std::string pid;
};

}  // namespace

TEST_CASE("dump --growth never writes or reads through a link planted at the state, its lock or its temporary file") {
  Idle idle;
  TempDir dir;
  Victim victim(dir.path);
  const std::string state = dir.path + "/state.json";
  for (const std::string at : {state, state + ".lock", state + ".tmp"}) {
    INFO("link at " << at);
    fs::create_symlink(victim.path, at);
    auto r = itest::run(idle.growth(state));
    check_refused(r, at + ": it is a symbolic link");
    CHECK(victim.intact());
    CHECK(fs::is_symlink(at));  // refused, not replaced either
    fs::remove(at);
  }
  // A dangling link: nothing is created where it points.
  fs::remove(state + ".lock");  // the lock the temporary file's run made
  fs::create_symlink(dir.path + "/created-by-root", state + ".lock");
  check_refused(itest::run(idle.growth(state)), "symbolic link");
  CHECK_FALSE(fs::exists(dir.path + "/created-by-root"));
  fs::remove(state + ".lock");
  // With nothing planted, the same command works (the refusals above were for the links).
  auto ok = itest::run(idle.growth(state));
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(fs::is_regular_file(fs::symlink_status(state)));
  CHECK(victim.intact());
}

TEST_CASE("a FIFO, /dev/zero, a device node or an oversized file as the --growth state gives exit 12 within a second") {
  Idle idle;
  TempDir dir;
  const std::string fifo = dir.path + "/fifo.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = timed_run(idle.growth(fifo));
  check_refused(f.r, "it is a FIFO");
  CHECK(f.seconds < 1.0);
  // A FIFO with a writer waiting on it: still not read.
  int writer = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);
  REQUIRE(writer >= 0);
  REQUIRE(::write(writer, "{", 1) == 1);
  auto fw = timed_run(idle.growth(fifo));
  ::close(writer);
  check_refused(fw.r, "it is a FIFO");
  CHECK(fw.seconds < 1.0);
  CHECK_FALSE(fs::exists(fifo + ".lock"));  // refused before a lock file was made
  // /dev/zero itself: refused before anything is made in /dev.
  auto z = timed_run(idle.growth("/dev/zero"));
  check_refused(z.r, "/dev/zero: it is a character device");
  CHECK(z.seconds < 1.0);
  CHECK_FALSE(fs::exists("/dev/zero.lock"));
  // The same device under a name in the state directory.
  const std::string node = dir.path + "/zero.json";
  REQUIRE(::mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 5)) == 0);
  auto n = timed_run(idle.growth(node));
  check_refused(n.r, "it is a character device");
  CHECK(n.seconds < 1.0);
  // A state file larger than the cap (sparse: nothing written) is not read.
  const std::string big = dir.path + "/big.json";
  write(big, "{");
  fs::resize_file(big, (16u << 20) + 1);
  auto b = timed_run(idle.growth(big));
  check_refused(b.r, "larger than 16 MiB");
  CHECK(b.seconds < 1.0);
}

TEST_CASE("the --growth state directory must be private: others-writable or another user's is refused; objspy's own is 0700") {
  Idle idle;
  TempDir dir;
  const std::string sub = dir.path + "/shared";
  fs::create_directory(sub);
  for (unsigned mode : {0777u, 01777u, 0775u}) {
    INFO(std::oct << mode);
    REQUIRE(::chmod(sub.c_str(), mode) == 0);
    check_refused(itest::run(idle.growth(sub + "/state.json")), "writable by group or others");
    CHECK(fs::is_empty(sub));
  }
  REQUIRE(::chmod(sub.c_str(), 0755) == 0);
  REQUIRE(::chown(sub.c_str(), 65534, 65534) == 0);
  check_refused(itest::run(idle.growth(sub + "/state.json")), "owned by uid 65534");
  // Above the state directory: another user's directory could have it swapped.
  fs::create_directory(sub + "/mine");
  check_refused(itest::run(idle.growth(sub + "/mine/state.json")), sub + ": it is owned by uid 65534");
  REQUIRE(::chown(sub.c_str(), 0, 0) == 0);
  CHECK(itest::run(idle.growth(sub + "/mine/state.json")).exit_code == 0);
  // A directory objspy creates is private, every level of it.
  auto made = itest::run(idle.growth(dir.path + "/new/deeper/state.json"));
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  for (const auto& d : {dir.path + "/new", dir.path + "/new/deeper"}) {
    struct stat st {};
    REQUIRE(::stat(d.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
  }
  // The default directory is checked the same way.
  REQUIRE(::chmod(sub.c_str(), 0777) == 0);
  check_refused(itest::run(itest::objspy({"dump", "--pid", idle.pid, "--growth", "-q"}), 30, {{"STATE_DIRECTORY", sub + "/objspy"}}),
                "writable by group or others");
}

TEST_CASE("the default --growth state follows STATE_DIRECTORY, XDG_STATE_HOME and HOME") {
  Idle idle;
  TempDir dir;
  const std::vector<std::string> cmd = itest::objspy({"dump", "--pid", idle.pid, "--growth", "-q", "--limit", "1"});
  struct Case {
    std::map<std::string, std::string> env;
    std::string where;
  };
  // An empty variable counts as unset (itest::run can only set them).
  const Case cases[] = {
      {{{"STATE_DIRECTORY", dir.path + "/sd:" + dir.path + "/second"}, {"XDG_STATE_HOME", dir.path + "/x"}}, dir.path + "/sd"},
      {{{"STATE_DIRECTORY", ""}, {"XDG_STATE_HOME", dir.path + "/x"}, {"HOME", dir.path + "/h"}}, dir.path + "/x/objspy"},
      {{{"STATE_DIRECTORY", ""}, {"XDG_STATE_HOME", "relative/ignored"}, {"HOME", dir.path + "/h"}}, dir.path + "/h/.local/state/objspy"},
  };
  for (const auto& c : cases) {
    INFO(c.where);
    auto r = itest::run(cmd, 30, c.env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("no previous census in " + c.where + "/state-" + idle.pid + "-") != std::string::npos);
    std::size_t states = 0;
    for (const auto& e : fs::directory_iterator(c.where)) states += e.path().extension() == ".json";
    CHECK(states == 1);
  }
  CHECK_FALSE(fs::exists(dir.path + "/second"));
}

TEST_CASE("record -o never appends through a planted link and refuses a FIFO within a second") {
  Idle idle;
  TempDir dir;
  Victim victim(dir.path);
  auto record = [&](const std::string& out) { return timed_run(itest::objspy({"record", "--pid", idle.pid, "--count", "1", "-q", "-o", out})); };
  const std::string out = dir.path + "/out.ndjson";
  fs::create_symlink(victim.path, out);
  check_refused(record(out).r, out + ": it is a symbolic link");
  CHECK(victim.intact());
  fs::remove(out);
  fs::create_symlink(dir.path + "/created-by-root", out);  // dangling
  check_refused(record(out).r, "symbolic link");
  CHECK_FALSE(fs::exists(dir.path + "/created-by-root"));
  fs::remove(out);
  fs::create_hard_link(victim.path, out);
  check_refused(record(out).r, "hard links");
  CHECK(victim.intact());
  fs::remove(out);
  // A FIFO with no reader, then with one: neither blocks the open nor is written.
  REQUIRE(::mkfifo(out.c_str(), 0600) == 0);
  auto lonely = record(out);
  check_refused(lonely.r, "FIFO");
  CHECK(lonely.seconds < 1.0);
  int reader = ::open(out.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(reader >= 0);
  auto read = record(out);
  char byte;
  CHECK(::read(reader, &byte, 1) <= 0);  // nothing was written to it
  ::close(reader);
  check_refused(read.r, "it is a FIFO");
  CHECK(read.seconds < 1.0);
  fs::remove(out);
  // A regular file and /dev/null are written as before.
  auto fine = record(out);
  INFO(fine.r.err);
  CHECK(fine.r.exit_code == 0);
  CHECK(content(out).find("\"types\"") != std::string::npos);
  CHECK(record("/dev/null").r.exit_code == 0);
}

TEST_CASE("diff and suspects: a FIFO or a device is refused within a second; wrong-typed JSON is exit 12 naming the file and line") {
  TempDir dir;
  const std::string good = dir.path + "/good.json";
  write(good, R"({"pid": 7, "timestamp": 1, "types": [{"name": "a", "count": 1}], "walk": {"complete": true}})" "\n");
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int writer = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);  // a writer that never finishes
  REQUIRE(writer >= 0);
  for (const auto& input : {fifo, std::string("/dev/zero")}) {
    INFO(input);
    auto d = timed_run(itest::objspy({"diff", input, good}));
    check_refused(d.r, input + ": it is");
    CHECK(d.seconds < 1.0);
    auto d2 = timed_run(itest::objspy({"diff", good, input}));
    check_refused(d2.r, "not a regular file");
    CHECK(d2.seconds < 1.0);
    auto s = timed_run(itest::objspy({"suspects", input}));
    check_refused(s.r, "not a regular file");
    CHECK(s.seconds < 1.0);
  }
  ::close(writer);

  // Each field objspy reads, with a wrong type: one JSON document, and as line 2 of a recording.
  const std::string types = R"("types": [{"name": "a", "count": 1}])";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"pid": "1234", )" + types + "}", "\"pid\" is a string"},
      {R"({"pid": 1, "timestamp": "yesterday", )" + types + "}", "\"timestamp\" is a string"},
      {R"({"timestamp": {"s": 1}, )" + types + "}", "\"timestamp\" is an object"},
      {R"({"walk": {"complete": "true"}, )" + types + "}", "\"walk.complete\" is a string"},
      {R"({"walk": {"uncertain": -1}, )" + types + "}", "\"walk.uncertain\" is a negative number"},
      {R"({"total_objects": "9", )" + types + "}", "\"total_objects\" is a string"},
      {R"({"types": [{"name": ["a"], "count": 1}]})", "\"types[0].name\" is an array"},
      {R"({"types": [{"name": "a", "count": 18446744073709551615}]})", "\"types[0].count\" is 18446744073709551615, above 2^62"},
      {R"({"types": {"name": "a"}})", "\"types\" is an object"},
  };
  const std::string line1 = R"({"timestamp": 1, "types": [{"name": "a", "count": 1}]})";
  int n = 0;
  for (const auto& [doc, why] : bad) {
    INFO(doc);
    const std::string one = dir.path + "/bad" + std::to_string(n) + ".json";
    const std::string rec = dir.path + "/bad" + std::to_string(n++) + ".ndjson";
    write(one, doc + "\n");
    write(rec, line1 + "\n" + doc + "\n" + R"({"event": "suspects", "suspects": []})" + "\n");
    check_refused(itest::run(itest::objspy({"diff", one, good})), one + ": " + why);
    check_refused(itest::run(itest::objspy({"diff", good, one})), one + ": " + why);
    check_refused(itest::run(itest::objspy({"diff", rec, good})), rec + ": line 2: " + why);
    check_refused(itest::run(itest::objspy({"suspects", rec})), rec + ": line 2: " + why);
    check_refused(itest::run(itest::objspy({"suspects", "--json", one})), one + ": line 1: " + why);
  }
  // Counts up to the cap compare with the right sign both ways.
  const std::string huge = dir.path + "/huge.json";
  write(huge, R"({"types": [{"name": "a", "count": 4611686018427387904}]})");
  auto up = itest::run(itest::objspy({"diff", good, huge}));
  CHECK(up.exit_code == 0);
  CHECK(up.out.find("+4611686018427387903") != std::string::npos);
  auto down = itest::run(itest::objspy({"diff", huge, good}));
  CHECK(down.exit_code == 0);
  CHECK(down.out.find("-4611686018427387903") != std::string::npos);
}

TEST_CASE("a --growth state with a field of the wrong type is exit 12 naming the state, not an abort") {
  Idle idle;
  TempDir dir;
  const std::string state = dir.path + "/state.json";
  for (const std::string& doc : std::vector<std::string>{R"({"pid": "x", "types": []})", R"({"timestamp": null, "types": []})", R"({"types": [], "walk": {"complete": 0}})",
                                R"({"types": [{"name": "a", "count": 1e300}]})", std::string(5000, '[')}) {
    INFO(doc.substr(0, 80));
    write(state, doc);
    auto r = itest::run(idle.growth(state));
    check_refused(r, "state file " + state + " is unreadable (");
    CHECK(content(state) == doc);  // kept for the user to look at, not replaced
  }
}

// objspy top against real interpreters: plain tables when stdout is a pipe, and the live view
// in a real terminal (tmux), driven by keys and read back with capture-pane.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "support.hpp"

namespace {

// One table of top's output: the header lines and the rows (count, +last, +start, name).
struct TopRow {
  long long count = 0, since_last = 0, since_start = 0;
  std::string name;
};

std::vector<TopRow> rows_after_header(const std::vector<std::string>& lines, std::size_t from) {
  std::vector<TopRow> out;
  for (std::size_t i = from; i < lines.size() && !lines[i].empty(); ++i) {
    std::istringstream in(lines[i]);
    TopRow r;
    std::string last, start;
    if (!(in >> r.count >> last >> start)) break;
    r.since_last = std::stoll(last);
    r.since_start = std::stoll(start);
    std::string rest;
    std::getline(in, rest);
    r.name = rest.substr(rest.find_last_of(' ') + 1);  // the name is the last column
    out.push_back(r);
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const TopRow* find_row(const std::vector<TopRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  auto p = s.rfind(')');
  return p == std::string::npos || p + 2 >= s.size() ? '?' : s[p + 2];
}

// A private tmux server for one test, killed with it.
class Tmux {
 public:
  explicit Tmux(const std::string& command) : socket_(fmt::format("objspy-itest-{}", getpid())) {
    ok_ = itest::run({"tmux", "-L", socket_, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", command}).exit_code == 0;
  }
  ~Tmux() { itest::run({"tmux", "-L", socket_, "kill-server"}); }
  bool ok() const { return ok_; }
  std::string capture() { return itest::run({"tmux", "-L", socket_, "capture-pane", "-p"}).out; }
  void keys(const std::string& k) { itest::run({"tmux", "-L", socket_, "send-keys", k}); }
  std::string alternate_on() { return itest::run({"tmux", "-L", socket_, "display-message", "-p", "#{alternate_on}"}).out; }
  // Wait (bounded) until the pane shows what `pred` wants; returns the last capture either way.
  std::string wait_for(const std::function<bool(const std::string&)>& pred, double timeout_s, bool* met) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    std::string screen;
    while (std::chrono::steady_clock::now() < deadline) {
      screen = capture();
      if (pred(screen)) {
        *met = true;
        return screen;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a terminal has no event to wait on
    }
    *met = false;
    return screen;
  }

 private:
  std::string socket_;
  bool ok_ = false;
};

int samples_shown(const std::string& screen) {
  auto p = screen.find(" samples over ");
  if (p == std::string::npos) return 0;
  auto b = screen.rfind('\n', p);
  return std::atoi(screen.substr(b == std::string::npos ? 0 : b + 1, p).c_str());
}

}  // namespace

TEST_CASE("top writes plain tables when stdout is not a terminal") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "leak_and_wave.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    auto r = itest::run(itest::objspy({"top", "--pid", std::to_string(t.pid()), "-i", "200ms", "-n", "3", "-l", "0"}), itest::kPatience);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("\x1b") == std::string::npos);  // no terminal control in a pipe
    auto lines = split_lines(r.out);
    std::vector<std::size_t> headers;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (lines[i].find("COUNT") != std::string::npos && lines[i].find("TYPE") != std::string::npos) headers.push_back(i);
    REQUIRE(headers.size() == 3);
    auto first = rows_after_header(lines, headers[0] + 1), last = rows_after_header(lines, headers[2] + 1);
    REQUIRE(!first.empty());
    for (const auto& row : first) CHECK(row.since_start == 0);  // the first sample is the start
    const auto* leak = find_row(last, "Leak");
    REQUIRE(leak);
    CHECK(leak->since_start > 0);
    CHECK(leak->since_last > 0);
    for (std::size_t i = 1; i < last.size(); ++i) CHECK(last[i - 1].since_start >= last[i].since_start);  // growth first, by default
    CHECK(lines[headers[2] - 2].find("3 samples over") != std::string::npos);

    // The target's exit ends top cleanly, saying so.
    itest::Target top(itest::objspy({"top", "--pid", std::to_string(t.pid()), "-i", "100ms"}));
    REQUIRE(top.ready_line(itest::kPatience, &err));  // its first table is out
    t.kill_now();
    REQUIRE(top.stderr_line("exited; top ended", itest::kPatience, &err));
    int st = top.wait_exit(itest::kPatience);
    REQUIRE(st != -1);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
}

TEST_CASE("top under tmux: a live view that keys re-sort and q ends, terminal restored") {
  REQUIRE_MESSAGE(itest::run({"tmux", "-V"}).exit_code == 0, "tmux is missing: tools/setup.sh installs it");
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "leak_and_wave.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    Tmux tmux(fmt::format("{} top --pid {} -i 200ms; echo OBJSPY-TOP-EXITED rc=$?; sleep 600", OBJSPY_BINARY, t.pid()));
    REQUIRE(tmux.ok());
    bool met = false;
    auto screen = tmux.wait_for([](const std::string& s) { return samples_shown(s) >= 4; }, itest::kPatience, &met);
    INFO(screen);
    REQUIRE(met);
    CHECK(tmux.alternate_on().find('1') != std::string::npos);
    CHECK(screen.find("sorted by growth since start") != std::string::npos);
    CHECK(screen.find("q quit") != std::string::npos);
    auto lines = split_lines(screen);
    auto rows = rows_after_header(lines, 4);
    REQUIRE(!rows.empty());
    for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].since_start >= rows[i].since_start);
    const auto* leak = find_row(rows, "Leak");
    REQUIRE(leak);
    CHECK(leak->since_start > 0);
    CHECK(lines.size() <= 40);  // fits the terminal

    tmux.keys("c");  // sort by count
    screen = tmux.wait_for([](const std::string& s) { return s.find("sorted by count") != std::string::npos; }, itest::kPatience, &met);
    REQUIRE(met);
    rows = rows_after_header(split_lines(screen), 4);
    REQUIRE(rows.size() > 3);
    for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].count >= rows[i].count);
    tmux.keys("r");  // reversed: smallest first
    screen = tmux.wait_for([](const std::string& s) { return s.find("(reversed)") != std::string::npos; }, itest::kPatience, &met);
    REQUIRE(met);
    rows = rows_after_header(split_lines(screen), 4);
    REQUIRE(rows.size() > 3);
    for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].count <= rows[i].count);

    tmux.keys("q");
    screen = tmux.wait_for([](const std::string& s) { return s.find("OBJSPY-TOP-EXITED") != std::string::npos; }, itest::kPatience, &met);
    REQUIRE(met);
    CHECK(screen.find("OBJSPY-TOP-EXITED rc=0") != std::string::npos);
    CHECK(tmux.alternate_on().find('0') != std::string::npos);  // back on the normal screen
    CHECK(screen.find("COUNT") == std::string::npos);           // the live view went with it
    const char st = proc_state(t.pid());
    CHECK(st != 't');
    CHECK(st != 'T');
  }
}

// The process tree from /proc: parsing stat lines, descendants, this very process.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "objspy/process/proc.hpp"
#include "objspy/process/process_tree.hpp"

using objspy::ProcessEntry;

TEST_CASE("parse_stat_entry: ppid and start time after the last ')', whatever comm holds") {
  auto e = objspy::parse_stat_entry(7, "7 (we ird) (x) S 3 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 100 200");
  REQUIRE(e);
  CHECK(e->comm == "we ird) (x");
  CHECK(e->state == 'S');
  CHECK(e->ppid == 3);
  CHECK(e->start_time == 12345);
  CHECK_FALSE(objspy::parse_stat_entry(7, ""));
  CHECK_FALSE(objspy::parse_stat_entry(7, "7 (a) S 3 7"));              // cut short
  CHECK_FALSE(objspy::parse_stat_entry(7, "7 (a) S x 7 7 0 -1 4 1 0 0 0 0 0 0 0 20 0 1 0 5"));  // ppid not a number
  CHECK_FALSE(objspy::parse_stat_entry(7, "7 a) S 3"));
}

TEST_CASE("process_tree: the root, then its descendants breadth first; each once, even when the input loops") {
  std::vector<ProcessEntry> all{{1, 0, 0, 'S', "init"}, {10, 1, 0, 'S', "master"}, {12, 10, 0, 'S', "w2"}, {11, 10, 0, 'S', "w1"},
                                {20, 11, 0, 'S', "grandchild"}, {30, 1, 0, 'S', "other"}};
  auto t = objspy::process_tree(all, 10);
  std::vector<pid_t> pids;
  for (const auto& e : t) pids.push_back(e.pid);
  CHECK(pids == std::vector<pid_t>{10, 11, 12, 20});
  CHECK(objspy::process_tree(all, 99).empty());
  // A loop (10 -> 11 -> 10) that only a made-up list can have: still each process once.
  all[1].ppid = 11;
  pids.clear();
  for (const auto& e : objspy::process_tree(all, 10)) pids.push_back(e.pid);
  CHECK(pids == std::vector<pid_t>{10, 11, 12, 20});
}

TEST_CASE("list_processes and command_line: this process, and a child it forks") {
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto all = objspy::list_processes();
  auto t = objspy::process_tree(all, getpid());
  REQUIRE(t.size() >= 2);
  CHECK(t.front().pid == getpid());
  CHECK(std::any_of(t.begin(), t.end(), [&](const ProcessEntry& e) { return e.pid == child && e.ppid == getpid(); }));
  CHECK(objspy::command_line(getpid()).find("objspy_unit_tests") != std::string::npos);
  CHECK(objspy::command_line(getpid(), 5).size() == 8);  // cut, with "..."
  CHECK(objspy::command_line(-1).empty());
  bool cut = false;
  auto one = objspy::list_processes(1, &cut);
  CHECK(one.size() == 1);
  CHECK(cut);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

TEST_CASE("read_small_file: at most cap bytes of a regular file; a FIFO or a device is refused without blocking") {
  CHECK(objspy::read_small_file("/proc/self/stat", 4096).value_or("").find(std::to_string(getpid())) == 0);
  CHECK(objspy::read_small_file("/proc/self/cmdline", 3)->size() == 3);
  CHECK_FALSE(objspy::read_small_file("/dev/zero", 16));
  CHECK_FALSE(objspy::read_small_file("/nonexistent/file", 16));
  char dir[] = "/tmp/objspy-fifo-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string fifo = std::string(dir) + "/hostname";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_FALSE(objspy::read_small_file(fifo, 256));  // no writer: a blocking open would hang here
  unlink(fifo.c_str());
  rmdir(dir);
}

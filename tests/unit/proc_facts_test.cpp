// Parsing /proc text for process facts: no privileges or live processes needed.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>

#include "objspy/process/proc.hpp"

TEST_CASE("the state of a stat line comes after the last parenthesis, whatever comm holds") {
  CHECK(objspy::parse_stat_state("1234 (python3) S 1 1234 1234 0 -1") == 'S');
  CHECK(objspy::parse_stat_state("1234 (a) Z (b) R 1 2") == 'R');  // comm "a) Z (b"
  CHECK(objspy::parse_stat_state("1234 (python3) Z 1 0 0") == 'Z');
  CHECK(objspy::parse_stat_state("1234 (py") == '?');
  CHECK(objspy::parse_stat_state("1234 (py)") == '?');
  CHECK(objspy::parse_stat_state("") == '?');
}

TEST_CASE("TracerPid is read from a status text; absent or malformed is no answer") {
  CHECK(objspy::parse_tracer_pid("Name:\tpython3\nState:\tS (sleeping)\nTracerPid:\t0\nUid:\t0\n") == 0);
  CHECK(objspy::parse_tracer_pid("Name:\tgdb\nTracerPid:\t4321\n") == 4321);
  CHECK(objspy::parse_tracer_pid("TracerPid:  77") == 77);  // last line, no newline
  CHECK_FALSE(objspy::parse_tracer_pid("Name:\tpython3\nState:\tS\n").has_value());
  CHECK_FALSE(objspy::parse_tracer_pid("TracerPid:\tx\n").has_value());
  CHECK_FALSE(objspy::parse_tracer_pid("XTracerPid:\t5\n").has_value());  // only at a line start
  CHECK_FALSE(objspy::parse_tracer_pid("Name:\tTracerPid: 5\n").has_value());
}

TEST_CASE("a running process is its own live task and is not traced") {
  CHECK(objspy::live_task(getpid()) == getpid());
  CHECK(objspy::process_alive(getpid()));
  CHECK_FALSE(objspy::traced_by(getpid(), getpid()).has_value());
  auto tasks = objspy::list_tasks(getpid());
  CHECK(std::find(tasks.begin(), tasks.end(), getpid()) != tasks.end());
  auto info = objspy::inspect_process(getpid());
  REQUIRE(info.ok());
  CHECK_FALSE(info->main_thread_exited);
}

TEST_CASE("smaps_rollup: the four totals in bytes; a missing or malformed field is an error") {
  const std::string text =
      "563f1bca9000-7ffc26567000 ---p 00000000 00:00 0                          [rollup]\n"
      "Rss:                1764 kB\nPss:                 403 kB\nPss_Anon:            112 kB\nShared_Clean:       1612 kB\n"
      "Anonymous:           112 kB\nAnonHugePages:         0 kB\nSwap:                  8 kB\nSwapPss:               8 kB\n";
  auto m = objspy::parse_smaps_rollup(text);
  REQUIRE(m.ok());
  CHECK(m->rss_bytes == 1764 * 1024);
  CHECK(m->pss_bytes == 403 * 1024);  // not Pss_Anon, which starts the same
  CHECK(m->anonymous_bytes == 112 * 1024);
  CHECK(m->swap_bytes == 8 * 1024);  // not SwapPss
  CHECK_FALSE(objspy::parse_smaps_rollup("Rss: 1 kB\nPss: 1 kB\nAnonymous: 1 kB\n").ok());
  CHECK_FALSE(objspy::parse_smaps_rollup("Rss: x kB\nPss: 1 kB\nAnonymous: 1 kB\nSwap: 0 kB\n").ok());
  CHECK_FALSE(objspy::parse_smaps_rollup("Rss: 1 MB\nPss: 1 kB\nAnonymous: 1 kB\nSwap: 0 kB\n").ok());
  CHECK_FALSE(objspy::parse_smaps_rollup("").ok());
}

// The census before the OOM kill: when record's trigger fires (memory_trigger.hpp), and where
// a process's memory cgroup and its limit are (cgroup.hpp).
#include <doctest/doctest.h>

#include <unistd.h>

#include "objspy/cli/memory_trigger.hpp"
#include "objspy/process/cgroup.hpp"

using objspy::cli::MemoryReading;
using objspy::cli::MemoryTrigger;
using objspy::cli::TriggerOptions;

TEST_CASE("trigger: RSS above a size, once per window") {
  TriggerOptions o;
  o.rss_bytes = 100 << 20;
  o.window_s = 60;
  MemoryTrigger t(o);
  CHECK_FALSE(t.observe({0, 50 << 20, std::nullopt}));
  CHECK_FALSE(t.observe({1, 100 << 20, std::nullopt}));  // at the threshold is not above it
  auto why = t.observe({2, 101 << 20, std::nullopt});
  REQUIRE(why);
  CHECK(why->find("RSS 101.0 MiB is above 100.0 MiB") != std::string::npos);
  t.fired(2);
  CHECK_FALSE(t.observe({30, 200 << 20, std::nullopt}));  // within the window
  CHECK(t.observe({62.5, 200 << 20, std::nullopt}));
}

TEST_CASE("trigger: a share of the cgroup's limit, never without a limit") {
  TriggerOptions o;
  o.limit_share = 0.8;
  MemoryTrigger t(o);
  CHECK_FALSE(t.observe({0, 900 << 20, std::nullopt}));
  CHECK_FALSE(t.observe({1, 79 << 20, std::uint64_t{100} << 20}));
  auto why = t.observe({2, 81 << 20, std::uint64_t{100} << 20});
  REQUIRE(why);
  CHECK(why->find("81% of the cgroup's memory limit 100.0 MiB (threshold 80%)") != std::string::npos);
}

TEST_CASE("trigger: growth faster than a rate, measured over most of its span") {
  TriggerOptions o;
  o.growth_bytes_per_s = 1 << 20;  // 1 MiB/s
  o.growth_span_s = 10;
  MemoryTrigger t(o);
  CHECK_FALSE(t.observe({0, 0}));
  CHECK_FALSE(t.observe({1, 50 << 20}));  // a jump over 1 s of a 10 s span: not yet a rate
  CHECK_FALSE(t.observe({4, 50 << 20}));
  auto why = t.observe({6, 60 << 20});  // 60 MiB in 6 s
  REQUIRE(why);
  CHECK(why->find("RSS grew 60.0 MiB in 6 s") != std::string::npos);
  // A steady RSS, or one that falls, never triggers.
  MemoryTrigger flat(o);
  for (int i = 0; i < 100; ++i) CHECK_FALSE(flat.observe({static_cast<double>(i), static_cast<std::uint64_t>(500 - i) << 20}));
}

TEST_CASE("cgroup: mounts, the memory cgroup of a process, limits") {
  const char* mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "35 31 0:32 /kubepods /sys/fs/cgroup/mem\\040ory rw,relatime shared:5 - cgroup cgroup rw,memory\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
      "garbage line\n";
  auto m = objspy::parse_cgroup_mounts(mountinfo);
  REQUIRE(m.size() == 2);
  CHECK(m[0].version == 1);
  CHECK(m[0].root == "/kubepods");
  CHECK(m[0].mount_point == "/sys/fs/cgroup/mem ory");
  CHECK(m[1].version == 2);
  const char* cg = "9:name=systemd:/\n4:memory,foo:/a/b:c\n0::/user.slice\n";
  auto v1 = objspy::memory_cgroup_of(cg, true);
  REQUIRE(v1);
  CHECK(v1->version == 1);
  CHECK(v1->path == "/a/b:c");
  auto v2 = objspy::memory_cgroup_of(cg, false);
  REQUIRE(v2);
  CHECK(v2->version == 2);
  CHECK(v2->path == "/user.slice");
  CHECK_FALSE(objspy::memory_cgroup_of("1:cpu:/\n", true));
  CHECK(objspy::parse_memory_limit("1048576\n") == 1048576u);
  CHECK_FALSE(objspy::parse_memory_limit("max\n"));
  CHECK_FALSE(objspy::parse_memory_limit("9223372036854771712\n"));  // v1's "no limit"
  CHECK_FALSE(objspy::parse_memory_limit("12x"));
  CHECK_FALSE(objspy::parse_memory_limit(""));
  // This process: some memory cgroup is visible on a Linux machine with cgroups mounted.
  auto mine = objspy::read_cgroup_memory(getpid());
  if (mine.ok()) CHECK_FALSE(mine->dir.empty());
  CHECK_FALSE(objspy::read_cgroup_memory(-5).ok());
}

// A process's memory cgroup: the limit the kernel's OOM killer enforces on it (cgroup v1's
// memory controller or v2's), read from /proc and the cgroup file systems, read-only.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/core/result.hpp"

namespace objspy {

struct CgroupMount {
  int version = 0;          // 1: a v1 hierarchy with the memory controller; 2: the unified one
  std::string root;         // the cgroup this mount shows at its top ("/" unless namespaced)
  std::string mount_point;
};
// The memory cgroup mounts in a /proc/PID/mountinfo text (octal escapes decoded).
std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo);

// Which cgroup holds the memory of a process, from its /proc/PID/cgroup text: the v1 line
// whose controllers include memory when `v1_memory` (a v1 memory hierarchy is mounted), else
// the v2 line ("0::PATH"). nullopt when neither is there.
struct CgroupPath {
  int version = 0;
  std::string path;
};
std::optional<CgroupPath> memory_cgroup_of(std::string_view proc_cgroup, bool v1_memory);

// A limit file's text: memory.max ("max": none) or memory.limit_in_bytes (v1 says "none"
// with a number near 2^63). nullopt: no limit, or not a number.
std::optional<std::uint64_t> parse_memory_limit(std::string_view text);

struct CgroupMemory {
  CgroupPath cgroup;
  std::string dir;                     // where its files are, as objspy sees them
  std::optional<std::uint64_t> limit;  // the smallest limit of it and its ancestors; nullopt: none
  std::optional<std::uint64_t> usage;  // memory.current (v2) or memory.usage_in_bytes (v1)
};
// The memory cgroup of `pid` as objspy's mount namespace shows it. Err: no_such_process, or
// io when the process's cgroup is not visible from here (another cgroup namespace or no
// cgroup file system mounted), with why.
Result<CgroupMemory> read_cgroup_memory(pid_t pid);

}  // namespace objspy

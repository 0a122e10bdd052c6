// Facts about a live process from /proc, with errors mapped to what a user can act on.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"

namespace objspy {

struct ProcessInfo {
  pid_t pid = 0;
  char state = '?';             // from /proc/PID/stat: R, S, D, T, t, Z, X, ...
  std::uint64_t start_time = 0; // clock ticks since boot: with the PID, identifies the process
  std::string comm;
  bool kernel_thread = false;
};

// Err: no_such_process (gone, or a zombie), not_python (kernel thread), permission_denied.
Result<ProcessInfo> inspect_process(pid_t pid);
Result<MemoryMap> read_memory_map(pid_t pid);

// The actionable text shown on EPERM/EACCES: what capability or setting is missing.
std::string permission_hint();

// The best local path for a file the target maps: /proc/PID/map_files/ (the exact inode, even if
// deleted or replaced on disk), then /proc/PID/root/PATH (another mount namespace), then PATH.
std::string open_mapped_file_path(pid_t pid, const Mapping& m);

bool process_alive(pid_t pid);

}  // namespace objspy

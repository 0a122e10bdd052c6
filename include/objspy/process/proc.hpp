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

// /proc/PID/map_files/START-END: the exact inode the target maps, even if deleted or replaced
// on disk. Opening it needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE), not just CAP_SYS_PTRACE.
std::string map_files_path(pid_t pid, const Mapping& m);
// The mapped path as the target sees it: /proc/PID/root/PATH (it may live in another mount
// namespace). What is there now may not be what was mapped: see same_file_as_mapped().
std::string rooted_path(pid_t pid, const Mapping& m);
// Whether `path` is now the very file `m` maps: not deleted, same device and inode. The error
// (Errc::io) says in a few words why not, e.g. "it was deleted or replaced since it was mapped".
Status same_file_as_mapped(const std::string& path, const Mapping& m);

bool process_alive(pid_t pid);

}  // namespace objspy

// Facts about a live process from /proc, with errors mapped to what a user can act on.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/maps.hpp"

namespace objspy {

struct ProcessInfo {
  pid_t pid = 0;
  char state = '?';             // from /proc/PID/stat (of a live thread, see live_task): R, S, D, T, t, ...
  std::uint64_t start_time = 0; // clock ticks since boot: with the PID, identifies the process
  std::string comm;
  bool kernel_thread = false;
  bool main_thread_exited = false;  // pthread_exit in main: the leader is a zombie, other threads run
};

// Err: no_such_process (gone, or a zombie), not_python (kernel thread), permission_denied.
Result<ProcessInfo> inspect_process(pid_t pid);
Result<MemoryMap> read_memory_map(pid_t pid);

// Where /proc/PID/exe points, as the kernel shows it ("" when it cannot be read).
std::string executable_path(pid_t pid);

// /proc/PID/smaps_rollup's totals. Err: as inspect_process, or io (no smaps_rollup: Linux
// before 4.14, or a field missing).
Result<ProcessMemory> read_process_memory(pid_t pid);
// A small text file (/proc, the cgroup file systems, a container's /etc/hostname) of at most
// `cap` bytes; nullopt when it cannot be opened or is not a regular file: a FIFO or device
// planted where a file was expected can neither block the read nor feed it endlessly.
std::optional<std::string> read_small_file(const std::string& path, std::size_t cap);
// Resident memory from /proc/PID/statm: cheaper than smaps_rollup, for frequent polls.
// Err: as inspect_process, or io.
Result<std::uint64_t> read_rss_bytes(pid_t pid);
// The same from the file's text (kB lines, as the kernel writes them). Err: io.
Result<ProcessMemory> parse_smaps_rollup(std::string_view text);

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

// Alive: some thread of it has not exited (its main thread may have: see live_task).
bool process_alive(pid_t pid);

// The task through which the process's memory and files are seen. PID itself, unless its main
// thread has exited (pthread_exit while other threads run): the leader is then a zombie with no
// memory (/proc/PID/maps is empty, process_vm_readv(PID) fails with ESRCH), so a live thread.
// 0 when no thread of it is alive.
pid_t live_task(pid_t pid);
// The thread IDs in /proc/PID/task (bounded; empty if the process is gone).
std::vector<pid_t> list_tasks(pid_t pid);
// /proc/PID or /proc/PID/task/TID for live_task(pid): where maps, map_files, mem are read.
std::string task_dir(pid_t pid);

// "another tracer (PID T, comm) holds process N" when thread `tid` of `pid` has another tracer
// (TracerPid in its status), else nullopt.
std::optional<std::string> traced_by(pid_t pid, pid_t tid);
// The state letter of a /proc/.../stat text ('?' if malformed): the field after the last ')'.
char parse_stat_state(std::string_view stat);
// TracerPid from a /proc/.../status text: 0 when not traced, nullopt when there is no such line.
std::optional<pid_t> parse_tracer_pid(std::string_view status);

}  // namespace objspy

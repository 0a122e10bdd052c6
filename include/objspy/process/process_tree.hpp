// The processes of the host as /proc lists them, and the tree they form: a worker pool is a
// master and its descendants (gunicorn, uWSGI, multiprocessing, Celery).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace objspy {

struct ProcessEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot: with the PID, identifies the process
  char state = '?';
  std::string comm;              // raw bytes from the kernel: escape before printing
};

// A /proc limit is a bound, not a configuration: pid_max is at most 4,194,304 (2^22).
constexpr std::size_t kMaxProcesses = std::size_t{1} << 22;

// A worker pool larger than this is a host (the agent's job): dump, record and top
// --subprocesses read this many processes of a tree at most.
constexpr std::size_t kMaxTreeProcesses = 1024;

// Every process (thread-group leader) in /proc, by PID; processes that vanish while listed
// are left out. At most `max`; `truncated` says if there were more.
std::vector<ProcessEntry> list_processes(std::size_t max = kMaxProcesses, bool* truncated = nullptr);
// One entry from /proc/PID/stat's text; nullopt when it is malformed.
std::optional<ProcessEntry> parse_stat_entry(pid_t pid, std::string_view stat);
// `root`'s descendants in `all` (children, their children, ...), breadth first, each level by
// PID; `root` itself first when it is in `all`. Each process at most once whatever the ppid
// fields say (a loop cannot occur in /proc, but `all` may come from anywhere).
std::vector<ProcessEntry> process_tree(const std::vector<ProcessEntry>& all, pid_t root);
// argv of the process joined by spaces, at most `max_bytes` (cut with "..."); "" when it cannot
// be read (gone, refused, a kernel thread). Raw bytes: escape before printing.
std::string command_line(pid_t pid, std::size_t max_bytes = 4096);

}  // namespace objspy

// /proc texts the agent and the triggers read, written partly by the processes they describe
// (comm, cmdline) or by whoever names cgroups: the parsers never crash, and what they return
// is consistent (a container ID has its scheme and 64 hex digits; a tree lists each process once).
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "objspy/process/cgroup.hpp"
#include "objspy/process/process_labels.hpp"
#include "objspy/process/process_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)objspy::parse_cgroup_mounts(text);
  (void)objspy::memory_cgroup_of(text, true);
  (void)objspy::memory_cgroup_of(text, false);
  (void)objspy::parse_memory_limit(text);
  const std::string id = objspy::container_id_from_cgroup(text);
  if (!id.empty()) {
    const auto sep = id.find("://");
    if (sep == std::string::npos || id.size() - sep - 3 != 64) __builtin_trap();
  }
  (void)objspy::unit_from_cgroup(text);
  (void)objspy::cgroup_path(text);
  (void)objspy::maps_mention_python(text);
  // The input as argv (NUL-separated) and as stat lines of a made-up process table.
  std::vector<std::string> argv;
  std::vector<objspy::ProcessEntry> all;
  std::size_t at = 0;
  pid_t pid = 1;
  while (at <= text.size() && argv.size() < 256) {
    const std::size_t end = std::min(text.find('\0', at), text.size());
    const std::string_view part = text.substr(at, end - at);
    argv.emplace_back(part);
    if (auto e = objspy::parse_stat_entry(pid, part)) all.push_back(*e);
    else all.push_back({pid, static_cast<pid_t>(part.size() % 7), 0, 'S', ""});
    ++pid;
    at = end + 1;
  }
  (void)objspy::script_of(argv);
  for (pid_t root : {1, 2, 3}) {
    std::set<pid_t> seen;
    for (const auto& e : objspy::process_tree(all, root))
      if (!seen.insert(e.pid).second) __builtin_trap();
  }
  return 0;
}

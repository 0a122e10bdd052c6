#include "objspy/process/process_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <unordered_set>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

template <class T>
bool number(std::string_view s, T& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::optional<ProcessEntry> parse_stat_entry(pid_t pid, std::string_view stat) {
  // comm is in parentheses and may itself contain ") "; the fields start after the last ')'.
  const std::size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcessEntry e;
  e.pid = pid;
  e.comm = std::string(stat.substr(open + 1, close - open - 1));
  std::string_view rest = stat.substr(close + 1);
  // Fields from 3 (state) on; ppid is field 4, starttime field 22.
  std::size_t index = 3;
  while (!rest.empty() && index <= 22) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end);
    if (field.empty()) break;
    if (index == 3) e.state = field[0];
    if (index == 4 && !number(field, e.ppid)) return std::nullopt;
    if (index == 22) {
      if (!number(field, e.start_time)) return std::nullopt;
      return e;
    }
    ++index;
  }
  return std::nullopt;
}

std::vector<ProcessEntry> list_processes(std::size_t max, bool* truncated) {
  std::vector<ProcessEntry> out;
  if (truncated) *truncated = false;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = 0;
    if (!number(std::string_view(e->d_name), pid) || pid <= 0) continue;
    if (out.size() >= max) {
      if (truncated) *truncated = true;
      break;
    }
    auto entry = parse_stat_entry(pid, read_small_file(fmt::format("/proc/{}/stat", pid), 4096).value_or(""));
    if (entry) out.push_back(std::move(*entry));
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const ProcessEntry& a, const ProcessEntry& b) { return a.pid < b.pid; });
  return out;
}

std::vector<ProcessEntry> process_tree(const std::vector<ProcessEntry>& all, pid_t root) {
  std::multimap<pid_t, const ProcessEntry*> children;
  const ProcessEntry* self = nullptr;
  for (const auto& e : all) {
    if (e.pid == root) self = &e;
    else children.emplace(e.ppid, &e);
  }
  std::vector<ProcessEntry> out;
  std::unordered_set<pid_t> seen{root};
  if (self) out.push_back(*self);
  std::vector<pid_t> level{root};
  while (!level.empty()) {
    std::vector<const ProcessEntry*> next;
    for (pid_t p : level) {
      auto [lo, hi] = children.equal_range(p);
      for (auto it = lo; it != hi; ++it)
        if (seen.insert(it->second->pid).second) next.push_back(it->second);
    }
    std::sort(next.begin(), next.end(), [](const ProcessEntry* a, const ProcessEntry* b) { return a->pid < b->pid; });
    level.clear();
    for (const ProcessEntry* e : next) {
      out.push_back(*e);
      level.push_back(e->pid);
    }
  }
  return out;
}

std::string command_line(pid_t pid, std::size_t max_bytes) {
  std::string raw = read_small_file(fmt::format("/proc/{}/cmdline", pid), max_bytes + 1).value_or("");
  const bool cut = raw.size() > max_bytes;
  if (cut) raw.resize(max_bytes);
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  if (cut) raw += "...";
  return raw;
}

}  // namespace objspy

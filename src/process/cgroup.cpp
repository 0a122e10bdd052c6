#include "objspy/process/cgroup.hpp"

#include <cerrno>
#include <charconv>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto oct = [&](std::size_t k) { return s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] <= '3' && oct(i + 1) && oct(i + 2) && oct(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

}  // namespace

std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (std::string_view line : split(mountinfo, '\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    const std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const auto head = split(line.substr(0, dash), ' ');
    const auto tail = split(line.substr(dash + 3), ' ');
    if (head.size() < 6 || tail.size() < 3) continue;
    CgroupMount m;
    if (tail[0] == "cgroup2") {
      m.version = 2;
    } else if (tail[0] == "cgroup") {
      bool memory = false;
      for (auto opt : split(tail[2], ',')) memory = memory || opt == "memory";
      if (!memory) continue;
      m.version = 1;
    } else {
      continue;
    }
    m.root = unescape(head[3]);
    m.mount_point = unescape(head[4]);
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<CgroupPath> memory_cgroup_of(std::string_view proc_cgroup, bool v1_memory) {
  std::optional<CgroupPath> v2;
  for (std::string_view line : split(proc_cgroup, '\n')) {
    // ID:CONTROLLERS:PATH; the path may itself hold ':'.
    const std::size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    const std::size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(a + 1, b - a - 1);
    const std::string path(line.substr(b + 1));
    if (line.substr(0, a) == "0" && controllers.empty()) {
      v2 = CgroupPath{2, path};
      continue;
    }
    if (!v1_memory) continue;
    for (auto c : split(controllers, ','))
      if (c == "memory") return CgroupPath{1, path};
  }
  return v2;
}

std::optional<std::uint64_t> parse_memory_limit(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;  // "max", garbage
  // v1 writes "no limit" as PAGE_COUNTER_MAX pages: 2^63 rounded down to a page.
  if (v >= (std::uint64_t{1} << 62)) return std::nullopt;
  return v;
}

Result<CgroupMemory> read_cgroup_memory(pid_t pid) {
  auto proc_cgroup = read_small_file(fmt::format("/proc/{}/cgroup", pid), 1 << 20);
  if (!proc_cgroup) return make_error(Errc::no_such_process, fmt::format("no process with PID {}", pid));
  const auto mounts = parse_cgroup_mounts(read_small_file("/proc/self/mountinfo", 4 << 20).value_or(""));
  bool v1 = false;
  for (const auto& m : mounts) v1 = v1 || m.version == 1;
  auto cg = memory_cgroup_of(*proc_cgroup, v1);
  if (!cg) return make_error(Errc::io, fmt::format("process {} is in no memory cgroup (/proc/{}/cgroup)", pid, pid));
  for (const auto& m : mounts) {
    if (m.version != cg->version) continue;
    // The mount shows the hierarchy from m.root down: the cgroup must be under it.
    std::string rel;
    if (m.root == "/") rel = cg->path;
    else if (cg->path == m.root) rel = "/";
    else if (cg->path.rfind(m.root + "/", 0) == 0) rel = cg->path.substr(m.root.size());
    else continue;
    if (rel.find("/..") != std::string::npos) continue;  // the kernel never writes one; refuse a way out
    CgroupMemory out;
    out.cgroup = *cg;
    out.dir = m.mount_point + (rel == "/" ? "" : rel);
    const char* limit_file = cg->version == 2 ? "memory.max" : "memory.limit_in_bytes";
    const char* usage_file = cg->version == 2 ? "memory.current" : "memory.usage_in_bytes";
    if (auto u = read_small_file(out.dir + "/" + usage_file, 64)) out.usage = parse_memory_limit(*u);
    // The effective limit: the smallest on the way up to the mount's top (v2 always limits
    // by every ancestor; v1 does with use_hierarchy, the only mode since Linux 5.x).
    std::string dir = out.dir;
    for (int depth = 0; depth < 64; ++depth) {
      if (auto t = read_small_file(dir + "/" + limit_file, 64)) {
        if (auto l = parse_memory_limit(*t); l && (!out.limit || *l < *out.limit)) out.limit = l;
      }
      if (dir.size() <= m.mount_point.size()) break;
      dir.resize(dir.rfind('/'));
    }
    return out;
  }
  return make_error(Errc::io, fmt::format("the memory cgroup {} of process {} is not visible here (no cgroup{} file system shows it)", cg->path, pid,
                                          cg->version == 2 ? "2" : " v1 memory"));
}

}  // namespace objspy

#include "objspy/process/process_labels.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>

#include <fmt/format.h>

#include "objspy/process/proc.hpp"

namespace objspy {
namespace {

// Each line's path (after the second ':').
std::vector<std::string_view> cgroup_paths(std::string_view text, std::vector<std::string_view>* ids = nullptr) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const std::size_t a = line.find(':');
    const std::size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    out.push_back(line.substr(b + 1));
    if (ids) ids->push_back(line.substr(0, b));
  }
  return out;
}

bool hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string basename_of(std::string_view p) {
  const std::size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

}  // namespace

std::string container_id_from_cgroup(std::string_view proc_cgroup) {
  std::string found;
  for (std::string_view path : cgroup_paths(proc_cgroup)) {
    bool kubepods = path.find("kubepods") != std::string_view::npos;
    std::size_t at = 0;
    while (at <= path.size()) {
      const std::size_t slash = path.find('/', at);
      const std::string_view part = path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
      at = slash == std::string_view::npos ? path.size() + 1 : slash + 1;
      auto scoped = [&](std::string_view prefix, const char* scheme) {
        if (part.size() == prefix.size() + 64 + 6 && part.substr(0, prefix.size()) == prefix && part.substr(prefix.size() + 64) == ".scope" &&
            hex64(part.substr(prefix.size(), 64))) {
          found = std::string(scheme) + std::string(part.substr(prefix.size(), 64));
          return true;
        }
        return false;
      };
      if (scoped("docker-", "docker://") || scoped("cri-containerd-", "containerd://") || scoped("crio-", "cri-o://")) continue;
      if (hex64(part)) {
        // cgroupfs layouts: /docker/ID, /kubepods/.../ID (the runtime is not in the path;
        // containerd is Kubernetes' default), /system.slice/containerd.service/.../ID.
        const bool docker = path.find("/docker/") != std::string_view::npos;
        if (docker || kubepods || path.find("containerd") != std::string_view::npos)
          found = std::string(docker ? "docker://" : "containerd://") + std::string(part);
      }
    }
  }
  return found;
}

std::string unit_from_cgroup(std::string_view proc_cgroup) {
  std::string unit;
  for (std::string_view path : cgroup_paths(proc_cgroup)) {
    std::size_t at = 0;
    while (at < path.size()) {
      const std::size_t slash = path.find('/', at);
      const std::string_view part = path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
      at = slash == std::string_view::npos ? path.size() : slash + 1;
      if (part.size() > 8 && part.substr(part.size() - 8) == ".service") unit = std::string(part);
    }
    if (!unit.empty()) return unit;
  }
  return unit;
}

std::string cgroup_path(std::string_view proc_cgroup) {
  std::vector<std::string_view> ids;
  auto paths = cgroup_paths(proc_cgroup, &ids);
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (ids[i] == "0:" && paths[i] != "/") return std::string(paths[i]);
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (paths[i] != "/" && !paths[i].empty()) return std::string(paths[i]);
  return "/";
}

std::string script_of(const std::vector<std::string>& argv) {
  if (argv.empty()) return {};
  // A program that embeds Python (uwsgi, a C host) is what it is called.
  if (basename_of(argv[0]).rfind("python", 0) != 0) return basename_of(argv[0]);
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-m" && i + 1 < argv.size()) return argv[i + 1];
    if (a == "-c") break;
    if (a.rfind("-m", 0) == 0 && a.size() > 2) return a.substr(2);
    if (!a.empty() && a[0] == '-') continue;
    return basename_of(a);
  }
  return basename_of(argv[0]);
}

ProcessLabels read_process_labels(pid_t pid, std::string_view comm) {
  ProcessLabels l;
  const std::string cg = read_small_file(fmt::format("/proc/{}/cgroup", pid), 64 * 1024).value_or("");
  l.unit = unit_from_cgroup(cg);
  l.container_id = container_id_from_cgroup(cg);
  l.cgroup = cgroup_path(cg);
  std::string raw = read_small_file(fmt::format("/proc/{}/cmdline", pid), 4096).value_or("");
  std::vector<std::string> argv;
  for (std::size_t at = 0; at < raw.size();) {
    const std::size_t nul = std::min(raw.find('\0', at), raw.size());
    argv.push_back(raw.substr(at, nul - at));
    at = nul + 1;
  }
  for (const auto& a : argv) l.command += (l.command.empty() ? "" : " ") + a;
  if (!l.unit.empty()) {
    l.service = l.unit.substr(0, l.unit.size() - 8);
  } else if (!l.container_id.empty()) {
    // A container's host name is its name under Docker and its pod's under Kubernetes.
    std::string host = read_small_file(fmt::format("/proc/{}/root/etc/hostname", pid), 256).value_or("");
    while (!host.empty() && std::isspace(static_cast<unsigned char>(host.back()))) host.pop_back();
    l.service = host;
  }
  if (l.service.empty()) l.service = script_of(argv);
  if (l.service.empty()) l.service = std::string(comm);
  return l;
}

bool maps_mention_python(std::string_view maps) {
  std::size_t at = 0;
  while ((at = maps.find("python", at)) != std::string_view::npos) {
    // In a path's last component: "/usr/bin/python3.12", ".../libpython3.11.so.1.0".
    const std::size_t line_start = maps.rfind('\n', at);
    const std::size_t slash = maps.rfind('/', at);
    if (slash != std::string_view::npos && (line_start == std::string_view::npos || slash > line_start)) return true;
    ++at;
  }
  return false;
}

}  // namespace objspy

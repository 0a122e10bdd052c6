// What a fleet's monitoring joins on, for a process on this host: its service (systemd unit,
// container host name, or the script it runs), its container (the ID in the form
// kube-state-metrics uses), and its cgroup. Read from /proc, best effort: a field that cannot
// be read is empty. Raw bytes from the host: escape before printing or labelling.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace objspy {

struct ProcessLabels {
  std::string service;       // unit, else container host name, else script, else comm
  std::string unit;          // "myapp.service" when systemd runs it
  std::string container_id;  // "docker://ID", "containerd://ID", "cri-o://ID", or "" (none seen)
  std::string cgroup;        // the process's cgroup path (v2's, else the first v1 path not "/")
  std::string command;       // argv joined by spaces (bounded)
};

// From a /proc/PID/cgroup text: the container ID of the innermost container runtime scope or
// directory in any of its paths (docker-ID.scope, /docker/ID, cri-containerd-ID.scope,
// crio-ID.scope, a 64-hex directory under kubepods), with its runtime's scheme; "" when none.
std::string container_id_from_cgroup(std::string_view proc_cgroup);
// The systemd service unit ("x.service") in the cgroup paths, the innermost; "" when none.
std::string unit_from_cgroup(std::string_view proc_cgroup);
// The cgroup path to label and filter on: v2's when it is not "/", else the first v1 path
// that is not "/".
std::string cgroup_path(std::string_view proc_cgroup);
// What a Python command line runs: the script's file name ("app.py" of "python3 -u
// /srv/app.py"), "-m module" as the module; for any other program (uwsgi, an embedding
// host), or with neither, the program's name.
std::string script_of(const std::vector<std::string>& argv);

ProcessLabels read_process_labels(pid_t pid, std::string_view comm);

// Whether a /proc/PID/maps text maps a file whose name says Python (python3.12,
// libpython3.11.so, ...): the cheap first test of a process the agent meets.
bool maps_mention_python(std::string_view maps);

}  // namespace objspy

// The agent's labels (process_labels.hpp) and exposition (agent_metrics.hpp).
#include <doctest/doctest.h>

#include <unistd.h>

#include "objspy/output/agent_metrics.hpp"
#include "objspy/process/process_labels.hpp"

namespace {
const std::string kId(64, 'b');
}

TEST_CASE("container IDs from cgroup paths, as kube-state-metrics writes them") {
  CHECK(objspy::container_id_from_cgroup("0::/system.slice/docker-" + kId + ".scope\n") == "docker://" + kId);
  CHECK(objspy::container_id_from_cgroup("12:memory:/docker/" + kId + "\n") == "docker://" + kId);
  CHECK(objspy::container_id_from_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + kId +
                                         ".scope\n") == "containerd://" + kId);
  CHECK(objspy::container_id_from_cgroup("0::/kubepods/burstable/pod12/" + kId + "\n") == "containerd://" + kId);
  CHECK(objspy::container_id_from_cgroup("0::/machine.slice/libpod-x/crio-" + kId + ".scope\n") == "cri-o://" + kId);
  CHECK(objspy::container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n").empty());
  CHECK(objspy::container_id_from_cgroup("0::/somewhere/" + kId + "\n").empty());  // a hex name alone is no container
  CHECK(objspy::container_id_from_cgroup("0::/docker-" + kId.substr(1) + "x.scope\n").empty());
  CHECK(objspy::container_id_from_cgroup("garbage").empty());
}

TEST_CASE("units, cgroup paths and scripts") {
  CHECK(objspy::unit_from_cgroup("0::/system.slice/myapp.service\n") == "myapp.service");
  CHECK(objspy::unit_from_cgroup("0::/user.slice/user@0.service/app.slice/x.service/sub\n") == "x.service");
  CHECK(objspy::unit_from_cgroup("0::/\n").empty());
  CHECK(objspy::cgroup_path("4:memory:/a/b\n0::/\n") == "/a/b");
  CHECK(objspy::cgroup_path("4:memory:/a\n0::/c\n") == "/c");
  CHECK(objspy::cgroup_path("0::/\n") == "/");
  CHECK(objspy::script_of({"/usr/bin/python3", "-u", "/srv/app/main.py", "--port", "1"}) == "main.py");
  CHECK(objspy::script_of({"python3.12", "-m", "celery", "worker"}) == "celery");
  CHECK(objspy::script_of({"python3", "-mhttp.server"}) == "http.server");
  CHECK(objspy::script_of({"python3", "-c", "print(1)"}) == "python3");
  CHECK(objspy::script_of({"/usr/bin/uwsgi", "--plugin", "python3"}) == "uwsgi");
  CHECK(objspy::script_of({}).empty());
  CHECK(objspy::maps_mention_python("7f00-7f01 r-xp 0 08:01 1 /usr/lib/libpython3.11.so.1.0\n"));
  CHECK(objspy::maps_mention_python("5500-5501 r-xp 0 08:01 1 /root/.pyenv/versions/3.12.1/bin/python3.12\n"));
  CHECK_FALSE(objspy::maps_mention_python("5500-5501 r-xp 0 08:01 1 /usr/bin/cat\n7f-80 rw-p 0 00:00 0 [heap]\n"));
  const auto self = objspy::read_process_labels(getpid(), "unit_tests");
  CHECK(self.command.find("objspy_unit_tests") != std::string::npos);
  CHECK_FALSE(self.service.empty());
}

TEST_CASE("agent exposition: labels on every series, top types plus other, the series cap, escaped values") {
  objspy::Census c;
  c.python_version = "3.12.1";
  c.total = 60;
  c.measured_bytes = true;
  c.bytes = 600;
  for (int i = 0; i < 6; ++i) c.types.push_back({static_cast<std::uint64_t>(i + 1), "T" + std::to_string(i), "m.T" + std::to_string(i),
                                                 static_cast<std::uint64_t>(20 - 3 * i), 0, 100, false, false});
  c.types.push_back({9, "bad\"\n\x1b", "m.bad", 1, 0, 5, false, false});
  objspy::AgentProcess p;
  p.pid = 42;
  p.labels.service = "app\"x";
  p.labels.container_id = "docker://" + kId;
  p.counted = p.latest = &c;
  p.censuses = 3;
  objspy::AgentStats s;
  s.top_types = 3;
  auto text = objspy::render_agent_metrics({p}, s);
  const std::string l = "pid=\"42\",service=\"app\\\"x\",container_id=\"docker://" + kId + "\",python_version=\"3.12.1\"";
  CHECK(text.find("objspy_process_gc_objects{" + l + "} 60\n") != std::string::npos);
  CHECK(text.find("objspy_process_type_objects{" + l + ",type=\"T0\"} 20\n") != std::string::npos);
  CHECK(text.find("objspy_process_type_objects{" + l + ",type=\"T2\"} 14\n") != std::string::npos);
  CHECK(text.find("type=\"T3\"") == std::string::npos);
  CHECK(text.find("objspy_process_type_objects{" + l + ",type=\"other\"} " + std::to_string(11 + 8 + 5 + 1) + "\n") != std::string::npos);
  CHECK(text.find("objspy_process_type_bytes{" + l + ",type=\"other\"} 305\n") != std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("objspy_agent_processes 1\n") != std::string::npos);
  // The cap: 10 processes, 40 series: one named type each (plus other), never none.
  s.max_series = 40;
  CHECK(objspy::agent_types_per_process(s, 10) == 1);
  s.max_series = 1000;
  CHECK(objspy::agent_types_per_process(s, 10) == 3);
  s.top_types = 0;
  CHECK(objspy::agent_types_per_process(s, 10) == 49);
  // No census yet: the process is listed, without counts.
  objspy::AgentProcess none;
  none.pid = 7;
  auto empty = objspy::render_agent_metrics({none}, s);
  CHECK(empty.find("objspy_process_info{pid=\"7\"") != std::string::npos);
  CHECK(empty.find("objspy_process_gc_objects{pid=\"7\"") == std::string::npos);
}

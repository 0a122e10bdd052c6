#include "objspy/output/agent_metrics.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "objspy/census/series.hpp"
#include "objspy/output/prometheus.hpp"

namespace objspy {
namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

struct Labelled {
  const AgentProcess* p;
  std::string labels;  // pid="1",service="x",container_id="",python_version="3.12.1"
};

}  // namespace

std::size_t agent_types_per_process(const AgentStats& s, std::size_t processes) {
  std::size_t n = s.top_types ? s.top_types : 1000000;
  if (processes > 0 && s.max_series > 0) {
    // Two type metrics (objects, bytes), each with `n` types and "other".
    const std::size_t fit = s.max_series / (2 * processes);
    n = std::min(n, fit > 1 ? fit - 1 : 1);
  }
  return std::max<std::size_t>(n, 1);
}

std::string render_agent_metrics(const std::vector<AgentProcess>& processes, const AgentStats& s) {
  std::string out;
  out.reserve(16384);
  std::vector<Labelled> rows;
  for (const auto& p : processes) {
    const std::string version = p.latest ? p.latest->python_version : p.counted ? p.counted->python_version : "";
    rows.push_back({&p, fmt::format("pid=\"{}\",service=\"{}\",container_id=\"{}\",python_version=\"{}\"", p.pid,
                                    prometheus_label_value(p.labels.service), prometheus_label_value(p.labels.container_id),
                                    prometheus_label_value(version))});
  }
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto&& write) {
    header(out, name, type, help);
    for (const auto& r : rows) write(name, *r.p, r.labels);
  };
  each("objspy_process_info", "gauge", "A watched Python process: 1, with its unit, cgroup and command line as labels.",
       [&](auto name, const AgentProcess& p, const std::string& l) {
         out += fmt::format("{}{{{},unit=\"{}\",cgroup=\"{}\",command=\"{}\"}} 1\n", name, l, prometheus_label_value(p.labels.unit),
                            prometheus_label_value(p.labels.cgroup), prometheus_label_value(p.labels.command.substr(0, 200)));
       });
  each("objspy_process_gc_objects", "gauge", "Objects gc.get_objects() would return, all interpreters (newest trusted census).",
       [&](auto name, const AgentProcess& p, const std::string& l) {
         if (p.counted) out += fmt::format("{}{{{}}} {}\n", name, l, p.counted->total);
       });
  each("objspy_process_gc_objects_bytes", "gauge", "sum(sys.getsizeof(o)) over those objects.", [&](auto name, const AgentProcess& p, const std::string& l) {
    if (p.counted && p.counted->measured_bytes) out += fmt::format("{}{{{}}} {}\n", name, l, p.counted->bytes);
  });
  // Per type: the largest by count, the same for objects and bytes so they join; the rest in
  // type="other". Sanitizing may make two names one label value: summed, never written twice.
  const std::size_t top = agent_types_per_process(s, processes.size());
  std::string objects, bytes;
  for (const auto& r : rows) {
    if (!r.p->counted) continue;
    const Census& c = *r.p->counted;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_label;
    std::pair<std::uint64_t, std::uint64_t> other{0, 0};
    std::vector<NamedCount> named = most_common(c, s.names);
    std::size_t shown = 0;
    for (const auto& n : named) {
      auto label = prometheus_label_value(n.name);
      const bool fits = shown < top && label != "other";
      auto& slot = fits ? by_label[label] : other;
      if (fits && slot.first == 0 && slot.second == 0) ++shown;
      slot.first += n.count;
      slot.second += n.bytes;
    }
    by_label["other"] = other;
    for (const auto& [label, v] : by_label) {
      objects += fmt::format("objspy_process_type_objects{{{},type=\"{}\"}} {}\n", r.labels, label, v.first);
      if (c.measured_bytes) bytes += fmt::format("objspy_process_type_bytes{{{},type=\"{}\"}} {}\n", r.labels, label, v.second);
    }
  }
  header(out, "objspy_process_type_objects", "gauge", "Objects of each type (the largest types by count; the rest summed as type=\"other\").");
  out += objects;
  header(out, "objspy_process_type_bytes", "gauge", "sum(sys.getsizeof(o)) per type, for the same types.");
  out += bytes;
  each("objspy_process_rss_bytes", "gauge", "Resident memory of the process at its latest census.", [&](auto name, const AgentProcess& p, const std::string& l) {
    if (p.latest && p.latest->memory) out += fmt::format("{}{{{}}} {}\n", name, l, p.latest->memory->rss_bytes);
  });
  each("objspy_process_gc_enabled", "gauge", "gc.isenabled() of the main interpreter.", [&](auto name, const AgentProcess& p, const std::string& l) {
    if (p.latest && !p.latest->interpreters.empty() && p.latest->interpreters.front().gc.enabled)
      out += fmt::format("{}{{{}}} {}\n", name, l, *p.latest->interpreters.front().gc.enabled ? 1 : 0);
  });
  each("objspy_process_gc_collections_total", "counter", "Collections of each generation by the main interpreter's collector (gc.get_stats()).",
       [&](auto name, const AgentProcess& p, const std::string& l) {
         if (!p.latest || p.latest->interpreters.empty() || !p.latest->interpreters.front().gc.stats) return;
         const auto& st = *p.latest->interpreters.front().gc.stats;
         for (std::size_t g = 0; g < st.size(); ++g) out += fmt::format("{}{{{},generation=\"{}\"}} {}\n", name, l, g, st[g].collections);
       });
  each("objspy_process_census_complete", "gauge", "Whether the latest census was exact.", [&](auto name, const AgentProcess& p, const std::string& l) {
    if (p.latest) out += fmt::format("{}{{{}}} {}\n", name, l, p.latest->walk.complete ? 1 : 0);
  });
  each("objspy_process_census_coverage", "gauge", "Share of the latest census that is certain (1 when exact, 0 for a partial count).",
       [&](auto name, const AgentProcess& p, const std::string& l) {
         if (!p.latest) return;
         const bool estimated = p.latest->walk.complete || p.latest->walk.uncertain > 0;
         out += fmt::format("{}{{{}}} {:.6g}\n", name, l, estimated ? coverage(p.latest->walk, p.latest->total) : 0.0);
       });
  each("objspy_process_census_duration_seconds", "gauge", "How long the latest census took.", [&](auto name, const AgentProcess& p, const std::string& l) {
    if (p.latest) out += fmt::format("{}{{{}}} {:.9g}\n", name, l, p.latest->duration_ms / 1000.0);
  });
  each("objspy_process_counts_timestamp_seconds", "gauge", "When the census the counts come from was taken (Unix time).",
       [&](auto name, const AgentProcess& p, const std::string& l) {
         if (p.counted) out += fmt::format("{}{{{}}} {:.3f}\n", name, l, p.counted->timestamp);
       });
  each("objspy_process_censuses_total", "counter", "Censuses taken of the process.",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {}\n", name, l, p.censuses); });
  each("objspy_process_census_failures_total", "counter", "Census attempts that gave no census (unreadable, hostile, exited).",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {}\n", name, l, p.failures); });
  each("objspy_process_census_skipped_total", "counter", "Censuses not trusted: their counts were not exported.",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {}\n", name, l, p.skipped); });
  each("objspy_process_census_interval_seconds", "gauge", "The process's census interval now (longer than configured when its censuses cost more than its share of the CPU budget).",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {:.6g}\n", name, l, p.interval_s); });
  each("objspy_process_agent_cpu_seconds_total", "counter", "CPU time the agent spent on censuses of the process.",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {:.6f}\n", name, l, p.cpu_seconds); });

  each("objspy_process_triggered_censuses_total", "counter", "Censuses written to --trigger-dir because the process's memory crossed a threshold.",
       [&](auto name, const AgentProcess& p, const std::string& l) { out += fmt::format("{}{{{}}} {}\n", name, l, p.triggered); });

  header(out, "objspy_agent_processes", "gauge", "Python processes watched.");
  out += fmt::format("objspy_agent_processes {}\n", processes.size());
  header(out, "objspy_agent_ignored_processes", "gauge", "Processes seen that are not Python, or were filtered out.");
  out += fmt::format("objspy_agent_ignored_processes {}\n", s.ignored);
  header(out, "objspy_agent_processes_exited_total", "counter", "Watched processes that ended (their series are gone).");
  out += fmt::format("objspy_agent_processes_exited_total {}\n", s.exited);
  header(out, "objspy_agent_discoveries_total", "counter", "Scans of /proc for new processes.");
  out += fmt::format("objspy_agent_discoveries_total {}\n", s.discoveries);
  header(out, "objspy_agent_cpu_seconds_total", "counter", "CPU time of the agent, all threads.");
  out += fmt::format("objspy_agent_cpu_seconds_total {:.6f}\n", s.cpu_seconds);
  header(out, "objspy_agent_cpu_usage_ratio", "gauge", "The agent's CPU use over the last minute, as a share of one core.");
  out += fmt::format("objspy_agent_cpu_usage_ratio {:.6g}\n", s.cpu_usage);
  header(out, "objspy_agent_cpu_budget_ratio", "gauge", "The share of one core the agent keeps its censuses to (--cpu-budget).");
  out += fmt::format("objspy_agent_cpu_budget_ratio {:.6g}\n", s.cpu_budget);
  header(out, "objspy_agent_interval_seconds", "gauge", "The configured census interval of each process (--interval).");
  out += fmt::format("objspy_agent_interval_seconds {:.6g}\n", s.interval_s);
  header(out, "objspy_agent_types_per_process", "gauge", "Types named per process under the series cap (--top, --max-series).");
  out += fmt::format("objspy_agent_types_per_process {}\n", top);
  return out;
}

}  // namespace objspy

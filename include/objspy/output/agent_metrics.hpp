// The Prometheus exposition of `objspy agent`: every watched Python process of the host, each
// series labelled with what a fleet joins on (pid, service, container_id, python_version), and
// the agent's own figures (processes, CPU used against its budget). A renderer like the
// others: it never reads a target.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/process/process_labels.hpp"

namespace objspy {

struct AgentProcess {
  pid_t pid = 0;
  ProcessLabels labels;
  const Census* counted = nullptr;  // the newest trusted census: the counts (null: none yet)
  const Census* latest = nullptr;   // the newest census of any quality
  std::uint64_t censuses = 0, failures = 0, skipped = 0;
  double interval_s = 0;            // its census interval now (stretched to fit the CPU budget)
  double cpu_seconds = 0;           // objspy's CPU spent on it
  std::uint64_t triggered = 0;      // censuses written because its memory crossed a threshold
};

struct AgentStats {
  std::size_t ignored = 0;            // processes seen that are not Python or were filtered out
  std::uint64_t exited = 0;           // watched processes that ended
  std::uint64_t discoveries = 0;      // scans of /proc
  double cpu_seconds = 0;             // the agent's whole CPU time (all threads)
  double cpu_usage = 0;               // ... as a share of one core over the last minute
  double cpu_budget = 0.02;           // the share of one core it keeps to
  double interval_s = 60;             // the configured interval
  std::size_t top_types = 20;         // types per process by name, the rest summed as "other"
  std::size_t max_series = 20000;     // the cap on the per-process type series in all
  NameForm names = NameForm::short_name;
};

// The types named per process under the series cap: top_types, fewer when processes ×
// (types + other) × 2 metrics would pass max_series, never fewer than 1.
std::size_t agent_types_per_process(const AgentStats& s, std::size_t processes);

std::string render_agent_metrics(const std::vector<AgentProcess>& processes, const AgentStats& s);

}  // namespace objspy

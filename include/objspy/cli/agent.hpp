// objspy agent: every CPython process on the host (containers included) into one Prometheus
// endpoint, within a CPU budget. A mode of the exporter: censuses on a worker thread, scrapes
// answered on the io thread from the text rendered after the latest event.
#pragma once
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "objspy/census/census.hpp"
#include "objspy/cli/memory_trigger.hpp"
#include "objspy/core/result.hpp"

namespace objspy::cli {

struct AgentFilter {
  enum class Field { cmdline, unit, cgroup } field = Field::cmdline;
  std::string pattern;  // ECMAScript regex, searched (not anchored)
};

struct AgentOptions {
  std::string listen = "127.0.0.1:9465";
  double interval_s = 60;          // census interval of each process
  double discover_s = 10;          // /proc scan interval
  double cpu_budget = 0.02;        // share of one core for censuses
  std::size_t top_types = 20;
  std::size_t max_series = 20000;
  std::vector<AgentFilter> include, exclude;
  NameForm names = NameForm::short_name;
  bool no_bytes = false;
  double census_timeout_s = 5;
  std::size_t cache_mib = 16;
  bool verbose = false;
  pid_t root = 0;                  // serve --subprocesses: only this process and its descendants
  std::string what = "agent";      // how the ready line names the command
  TriggerOptions trigger;          // a census at once when a process's memory crosses a threshold
};

Status run_agent(const AgentOptions& o);

}  // namespace objspy::cli

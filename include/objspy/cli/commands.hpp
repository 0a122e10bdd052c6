// The commands. Each returns a Status; main() turns an error into one line and an exit code.
#pragma once
#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "objspy/census/live.hpp"
#include "objspy/census/report_data.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/cli/memory_trigger.hpp"
#include "objspy/core/result.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {

enum class Format { table, json, ndjson, pprof };

// How every command reads its target.
struct TargetOptions {
  pid_t pid = 0;
  std::size_t cache_mib = 16;
  int retries = 1;      // whole-census retries when the lists change under the walk
  bool pause = false;   // hold the target's threads during each census
  CensusMethod method = CensusMethod::scan;
  int pause_timeout_ms = 200;  // --pause: how long every thread has to stop
  double census_timeout_s = CensusLimits{}.timeout_s;  // --census-timeout: the deadline of one census (0: none)
  bool no_bytes = false;  // --no-bytes: counts only, no sys.getsizeof per object
  std::string core;       // --core: a core file in place of a live process (dump, info)
};
// Attach to `pid` (default: t.pid) as `t` says. Err: as Sampler::attach.
Result<std::unique_ptr<Sampler>> attach_target(const TargetOptions& t, pid_t pid = 0);

struct DumpOptions {
  TargetOptions target;              // target.pid 0: launch mode
  std::vector<std::string> command;  // launch mode: the program to start
  double delay = 2.0;                // launch mode: seconds to let the program build its heap
  double start_timeout = 15.0;       // launch mode: seconds to wait for the interpreter
  Format format = Format::table;
  RenderOptions render;
  bool limit_given = false;
  bool verbose = false;
  bool quiet = false;
  bool growth = false;     // show what grew since the previous census (state file)
  std::string state_path;  // default: default_state_path()
  bool subprocesses = false;  // the target and its descendants: a census each, and their sum
  std::string output;         // "" or "-": stdout; else written as open_for_writing does
};

Status run_dump(const DumpOptions& o);

struct RecordOptions {
  TargetOptions target;
  double interval_s = 30;
  double duration_s = 0;   // 0: until stopped
  long count = 0;          // 0: until stopped
  std::string output;      // "" or "-": stdout
  RenderOptions render{NameForm::short_name, 0};
  bool quiet = false;       // no suspects table on stderr at the end
  std::size_t suspects = 10;  // rows in the closing suspects line and table
  std::size_t max_types = kDefaultMaxTypes;  // types kept for the closing ranking (series.hpp)
  std::string report;      // "": none; else the HTML report written there at the end
  TriggerOptions trigger;  // a census at once when memory crosses a threshold (memory_trigger.hpp)
  bool subprocesses = false;  // the process and its descendants summed (tree_sampler.hpp), each also as an event line
};
// One census per tick as NDJSON, flushed per line; ends cleanly on SIGINT/SIGTERM, the
// target's exit (with a final event line), --duration or --count.
Status run_record(const RecordOptions& o);

struct TopOptions {
  TargetOptions target;
  double interval_s = 2;
  long count = 0;          // 0: until quit
  LiveSort sort = LiveSort::growth;
  RenderOptions render{NameForm::short_name, 25};  // limit: rows of each plain table
  std::size_t max_types = kDefaultMaxTypes;  // types kept for ranking suspects (series.hpp)
  bool subprocesses = false;  // the process and its descendants summed (tree_sampler.hpp)
};
// A live view on a terminal (keys to sort and quit); plain tables when stdout is not one.
Status run_top(const TopOptions& o);
std::map<std::string, LiveSort> sort_names();  // for --sort

struct ServeOptions {
  TargetOptions target;
  std::string listen = "127.0.0.1:9464";
  double interval_s = 15;
  std::size_t top_types = 50;
  NameForm names = NameForm::short_name;
  bool verbose = false;
  bool subprocesses = false;  // the process and its descendants, per-process series (as the agent's)
};
// A Prometheus exporter: a census every interval, scrapes answered from the latest one.
Status run_serve(const ServeOptions& o);

// `by` bytes: the change of sum(sys.getsizeof) per type.
Status run_diff(const std::string& a, const std::string& b, std::size_t limit, SortBy by = SortBy::count);
// Reads `file` line by line into a series of at most `max_types` types (series.hpp: read_series).
// `by` bytes: ranked by the growth of bytes per type.
Status run_suspects(const std::string& file, std::size_t limit, bool json, std::size_t max_types, SortBy by = SortBy::count);

struct InfoOptions {
  TargetOptions target;
  bool json = false;
  bool fields = false;  // text: every layout field with its offset and where it came from
  NameForm names = NameForm::short_name;
};
// What objspy knows of a target: process, interpreter and how it was read, memory, collector.
Status run_info(const InfoOptions& o);

struct SnapshotOptions {
  pid_t pid = 0;
  std::string output;          // the core file to write (replaced; never through a link)
  int pause_timeout_ms = 200;  // how long every thread has to stop
  std::uint64_t copy_budget = 4ULL << 30;  // largest copy (bytes) objspy makes in its memory
  bool quiet = false;
};
// The target held only while its object-holding memory is copied, then written as an ELF
// core file (core_writer.hpp) that dump --core and gdb read.
Status run_snapshot(const SnapshotOptions& o);

struct RefsOptions {
  TargetOptions target;          // --pid (copied while held) or --core
  std::string type;              // instances of this type (short or module-qualified name)
  std::optional<std::uint64_t> address;  // or the object at this address
  std::size_t show = 0;          // instances shown with their attributes
  std::size_t limit = 10;        // referrer groups shown (0: all)
  std::size_t max_instances = 100000;  // instances whose referrers are grouped
  int max_depth = 20;            // steps of the chain, as objgraph's max_depth
  std::string dot;               // a Graphviz file of the chain and the instance's referrers
  bool json = false;
  bool quiet = false;
  std::uint64_t copy_budget = 4ULL << 30;
};
// Who holds the objects of a type: the shortest chain from a module, the referrers grouped.
Status run_refs(const RefsOptions& o);

struct HeapOptions {
  TargetOptions target;          // --pid (copied while held) or --core
  std::size_t limit = 20;        // rows (0: all)
  std::size_t max_objects = 64u << 20;  // objects found through the GC-tracked ones, at most
  bool qualified = false;
  bool retained = false;         // also the largest retained sizes (dominator tree), per object and per kind
  bool json = false;
  bool quiet = false;
  std::uint64_t copy_budget = 4ULL << 30;
};
// guppy3's hpy().heap() from outside: every object the GC-tracked ones reach, by kind.
Status run_heap(const HeapOptions& o);

struct ReportOptions {
  std::string input;    // a recording (record output)
  std::string output;   // the HTML file
  std::size_t suspects = 10;
  std::size_t max_types = kDefaultMaxTypes;
};
// One self-contained HTML file: the recording's span, objects over time, the leak suspects
// with their counts and fitted lines, census health (report_html.hpp).
Status run_report(const ReportOptions& o);
// An io error if `output` names the same file as `input` (report -o, record --report).
Status refuse_same_file(const std::string& input, const std::string& output);
// Writes the report to `out` (opened with open_for_writing) and closes it. Err: io.
Status write_report(std::FILE* out, const std::string& path, const ReportData& data, const std::string& source);

// Launch mode: start `argv`, wait for its interpreter and `delay`, hand the PID to `with_pid`,
// then end the program. Err: launch_failed (cannot start, exited early, no interpreter).
Status run_launched(const std::vector<std::string>& argv, double delay, double start_timeout, bool verbose,
                    const std::function<Status(pid_t)>& with_pid);

}  // namespace objspy::cli

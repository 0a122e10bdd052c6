// The command line: parse options (CLI11), dispatch, and turn an error into one line on
// stderr and its exit code. Nothing else happens here.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>

#include <cstdio>
#include <iostream>
#include <new>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "objspy/cli/agent.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/docs.hpp"
#include "objspy/core/escape.hpp"

namespace {

// Durations: 30s, 5m, 1h, 250ms; a plain number is seconds.
const std::map<std::string, double> kTimeUnits{{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};

// The options every command has for reading its target.
CLI::Option* add_target_options(CLI::App* app, objspy::cli::TargetOptions& t) {
  auto* pid = app->add_option("-p,--pid", t.pid, "PID of a running Python process")->check(CLI::PositiveNumber);
  app->add_flag("--pause", t.pause, "Hold the target's threads during each census for an exact snapshot (ptrace; never SIGSTOP)");
  app->add_option("--pause-timeout", t.pause_timeout_ms,
                  "With --pause: milliseconds every thread has to stop; a thread that does not (in vfork, or in D state) makes objspy let the target go and fail")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app->add_option("--census-timeout", t.census_timeout_s,
                  "Deadline of one census (10s, 500ms, ...; 0: none): a census that takes longer stops, reported incomplete (exit 8)")
      ->transform(CLI::AsNumberWithUnit(kTimeUnits, CLI::AsNumberWithUnit::CASE_SENSITIVE))
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app->add_option("--cache-mib", t.cache_mib, "Read cache budget in MiB")->check(CLI::Range(1, 4096))->capture_default_str();
  app->add_option("--retries", t.retries, "Whole-census retries when the census is too uncertain")->check(CLI::Range(0, 10))->capture_default_str();
  app->add_option("--method", t.method,
                  "How objects are found: scan (read the heap in address order, confirm each object by its links) or walk (follow the GC lists)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, objspy::CensusMethod>{{"scan", objspy::CensusMethod::scan},
                                                                                      {"walk", objspy::CensusMethod::walk}}))
      ->capture_default_str();
  app->add_flag("--no-bytes", t.no_bytes,
                "Count objects only: no sys.getsizeof per object (less memory and time on very large heaps; README: Bytes)");
  return pid;
}

// --sort count|bytes: which measure a table is ordered by, or growth and suspects are of.
const std::map<std::string, objspy::SortBy> kSortBy{{"count", objspy::SortBy::count}, {"bytes", objspy::SortBy::bytes}};
void add_sort_by(CLI::App* app, objspy::SortBy& by, const char* help) {
  app->add_option("--sort", by, help)->transform(CLI::CheckedTransformer(kSortBy))->capture_default_str();
}

// The types a series keeps for ranking (series.hpp: BoundedSeries).
void add_max_types(CLI::App* app, std::size_t& max_types) {
  app->add_option("--max-types", max_types,
                  "Types kept for ranking leak suspects: the largest and fastest growing; the rest are summed as \"other\", not ranked "
                  "(memory stays flat whatever the target names)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->capture_default_str();
}

int fail(const objspy::Error& raw) {
  const objspy::Error e = objspy::user_facing(raw);
  // Messages may quote text from the target (paths, names): escape them too.
  std::fputs(fmt::format("objspy: error: {}\n", objspy::escape_for_terminal(e.message)).c_str(), stderr);
  return objspy::exit_code(e.code);
}


// record's and agent's census before the OOM kill (memory_trigger.hpp): the options, and what
// the parser leaves to be checked after it.
struct TriggerArgs {
  std::uint64_t rss = 0;
  double share = 0;
  std::string growth;
  CLI::Option *rss_opt = nullptr, *share_opt = nullptr, *growth_opt = nullptr;
};

void add_trigger_options(CLI::App* app, objspy::cli::TriggerOptions& t, TriggerArgs& a) {
  const auto& time_units = kTimeUnits;
  const char* group = "Census before the OOM kill";
  a.rss_opt = app->add_option("--trigger-rss", a.rss, "Take a census at once, into --trigger-dir, when the target's RSS exceeds this (500M, 2G)")
                  ->transform(CLI::AsSizeValue(false))->group(group);
  a.share_opt = app->add_option("--trigger-limit-share", a.share,
                                "... when its RSS exceeds this percentage of its memory cgroup's limit (cgroup v1 or v2; 80 for 80%)")
                    ->check(CLI::Range(1.0, 100.0))->group(group);
  a.growth_opt = app->add_option("--trigger-growth", a.growth, "... when its RSS grows faster than SIZE/DURATION (100M/1m: 100 MiB within a minute)")->group(group);
  app->add_option("--trigger-window", t.window_s, "At most one triggered census per this long (per process)")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str()->group(group);
  app->add_option("--trigger-poll", t.poll_s, "How often memory is read for the triggers")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str()->group(group);
  app->add_option("--trigger-dir", t.dir, "Directory for the triggered censuses (objspy-census-PID-TIME.json)")->group(group);
}

objspy::Status finish_trigger_options(objspy::cli::TriggerOptions& t, const TriggerArgs& a) {
  using namespace objspy;
  const auto& time_units = kTimeUnits;
  if (a.rss_opt->count()) {
    if (a.rss == 0) return make_error(Errc::usage, "--trigger-rss must be positive");
    t.rss_bytes = a.rss;
  }
  if (a.share_opt->count()) t.limit_share = a.share / 100.0;
  if (a.growth_opt->count()) {
    // SIZE/DURATION, each part as the other options read it.
    const auto slash = a.growth.find('/');
    std::string size = a.growth.substr(0, slash), span = slash == std::string::npos ? "" : a.growth.substr(slash + 1);
    const bool bad = slash == std::string::npos || !CLI::AsSizeValue(false)(size).empty() ||
                     !CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE)(span).empty();
    double bytes = 0, seconds = 0;
    if (bad || !CLI::detail::lexical_cast(size, bytes) || !CLI::detail::lexical_cast(span, seconds) || bytes <= 0 || seconds <= 0)
      return make_error(Errc::usage, "--trigger-growth takes SIZE/DURATION, e.g. 100M/1m");
    t.growth_bytes_per_s = bytes / seconds;
    t.growth_span_s = seconds;
  }
  if (t.poll_s <= 0 || t.window_s < 0) return make_error(Errc::usage, "--trigger-poll must be positive and --trigger-window not negative");
  return {};
}

// Everything main does; main only adds the last-resort handler.
int run(int argc, char** argv) {
  using namespace objspy;
  CLI::App app{"objspy: count the objects of a running CPython process from outside, read-only"};
  app.set_version_flag("--version", std::string("objspy ") + OBJSPY_VERSION_STRING);
  app.require_subcommand(1);

  cli::DumpOptions dump;
  std::string format = "table";
  auto* d = app.add_subcommand("dump", "Print the census of a Python process's GC-tracked objects, like objgraph.show_most_common_types()");
  auto* pid_opt = add_target_options(d, dump.target);
  auto* core_opt = d->add_option("--core", dump.target.core,
                                 "Read a core file (the kernel's, gdb's gcore or objspy snapshot) in place of a live process; the files it maps are read from disk or next to it, only with the same build id");
  d->add_option("--format", format, "Output format (pprof: a gzip'd profile for go tool pprof, Pyroscope, Parca, Grafana)")
      ->check(CLI::IsMember({"table", "json", "ndjson", "pprof"}))->capture_default_str();
  d->add_option("-o,--output", dump.output, "Write to this file instead of stdout (replaced; never through a symbolic link)");
  d->add_flag("--subprocesses", dump.subprocesses, "Also every descendant of the process (a worker pool): a census each, labelled by PID, then their sum; one that is not Python or cannot be read is reported and skipped");
  auto* limit_opt = d->add_option("-l,--limit", dump.render.limit, "How many types to show (0: all; JSON shows all unless given)")->capture_default_str();

  bool qualified = false;
  d->add_flag("--qualified", qualified, "Name types module.name, like objgraph's shortnames=False");
  d->add_option("--delay", dump.delay, "Launch mode: seconds to let the program build its heap after its interpreter starts")->capture_default_str();
  d->add_flag("-v,--verbose", dump.verbose, "Print where the layout came from and what was discovered, to stderr");
  d->add_flag("-q,--quiet", dump.quiet, "No summary line on stderr");
  d->add_flag("--growth", dump.growth, "Show what grew since the previous census of this process (like objgraph.show_growth())");
  add_sort_by(d, dump.render.sort, "Order types by count or by bytes (sum of sys.getsizeof); with --growth, the growth of which");
  d->add_option("--state", dump.state_path, "State file for --growth (default: $STATE_DIRECTORY, $XDG_STATE_HOME/objspy, ~/.local/state/objspy or, for root, /var/lib/objspy; keyed by PID and start time)");
  d->add_option("command", dump.command, "Launch mode: the program to start, after --")->expected(-1);
  d->positionals_at_end();

  const auto& time_units = kTimeUnits;
  cli::RecordOptions rec;
  bool rec_qualified = false;
  auto* r = app.add_subcommand("record", "Take a census every --interval and stream them as NDJSON, one line per sample");
  add_target_options(r, rec.target)->required();
  r->add_option("-i,--interval", rec.interval_s, "Time between censuses (30s, 5m, ...)")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  auto* rdur = r->add_option("-d,--duration", rec.duration_s, "Stop after this long")
                   ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE));
  r->add_option("-n,--count", rec.count, "Stop after this many censuses")->check(CLI::PositiveNumber)->excludes(rdur);
  r->add_option("-o,--output", rec.output, "Append to this file instead of stdout");
  r->add_option("-l,--limit", rec.render.limit, "Types per sample (0: all)")->capture_default_str();
  r->add_flag("--qualified", rec_qualified, "Name types module.name");
  r->add_option("--suspects", rec.suspects, "Leak suspects ranked in the closing line and table (0: all)")->capture_default_str();
  r->add_flag("-q,--quiet", rec.quiet, "No suspects table on stderr at the end");
  r->add_option("--report", rec.report, "At the end, write an HTML report (objects over time, leak suspects with their curves) to this file");
  add_max_types(r, rec.max_types);
  r->add_flag("--subprocesses", rec.subprocesses,
              "Also every descendant (a worker pool): each census line is their sum, preceded by each process's census as an event line");
  TriggerArgs rec_trigger;
  add_trigger_options(r, rec.trigger, rec_trigger);

  cli::TopOptions top;
  bool top_qualified = false;
  auto* tp = app.add_subcommand("top", "Live view of the census, like py-spy top: count, change since the last sample and since the start");
  add_target_options(tp, top.target)->required();
  tp->add_option("-i,--interval", top.interval_s, "Time between censuses (2s, 500ms, ...)")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  const auto sorts = cli::sort_names();
  std::vector<std::string> sort_words;
  for (const auto& [word, order] : sorts) sort_words.push_back(word);
  std::string top_sort = "growth";
  tp->add_option("--sort", top_sort, "Initial order (keys g d c t n change it live)")->check(CLI::IsMember(sort_words))->capture_default_str();
  tp->add_option("-n,--count", top.count, "Stop after this many censuses")->check(CLI::PositiveNumber);
  tp->add_option("-l,--limit", top.render.limit, "Rows of each table when stdout is not a terminal (0: all)")->capture_default_str();
  tp->add_flag("--qualified", top_qualified, "Name types module.name");
  add_max_types(tp, top.max_types);
  tp->add_flag("--subprocesses", top.subprocesses, "Also every descendant (a worker pool): the view of their sum");

  cli::ServeOptions serve;
  bool serve_qualified = false;
  auto* sv = app.add_subcommand("serve", "Prometheus exporter: a census every --interval, served at http://LISTEN/metrics");
  add_target_options(sv, serve.target)->required();
  sv->add_option("--listen", serve.listen, "Address to serve on (HOST:PORT; port 0 picks a free one)")->capture_default_str();
  sv->add_option("-i,--interval", serve.interval_s, "Time between censuses")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  sv->add_option("--top", serve.top_types, "Types exported by name; the rest are summed as type=\"other\" (0: all)")->capture_default_str();
  sv->add_flag("--qualified", serve_qualified, "Name types module.name");
  sv->add_flag("-v,--verbose", serve.verbose, "Log scrapes and failed censuses to stderr");
  sv->add_flag("--subprocesses", serve.subprocesses,
               "Also every descendant of the process (a worker pool): the agent's per-process series, labelled by pid; one that is not Python is skipped");

  cli::AgentOptions agent;
  bool agent_qualified = false;
  double agent_budget_pct = agent.cpu_budget * 100;
  std::vector<std::string> agent_include, agent_exclude;
  auto* ag = app.add_subcommand("agent", "Prometheus exporter for every Python process on the host (containers too), within a CPU budget");
  ag->add_option("--listen", agent.listen, "Address to serve on (HOST:PORT; port 0 picks a free one)")->capture_default_str();
  ag->add_option("-i,--interval", agent.interval_s, "Census interval of each process")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  ag->add_option("--discover-interval", agent.discover_s, "How often /proc is scanned for new and ended processes")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  ag->add_option("--cpu-budget", agent_budget_pct, "Percent of one core the censuses may use; a process whose censuses cost more than its share is censused less often")
      ->check(CLI::Range(0.01, 100.0))->capture_default_str();
  ag->add_option("--top", agent.top_types, "Types per process by name; the rest are summed as type=\"other\"")->capture_default_str();
  ag->add_option("--max-series", agent.max_series, "Cap on the per-type series of all processes together (fewer types per process when reached)")->capture_default_str();
  ag->add_option("--include", agent_include, "Watch only processes matching FIELD=REGEX (FIELD: cmdline, unit, cgroup); repeatable, any may match");
  ag->add_option("--exclude", agent_exclude, "Never watch processes matching FIELD=REGEX; repeatable");
  ag->add_option("--census-timeout", agent.census_timeout_s, "Deadline of one census")
      ->transform(CLI::AsNumberWithUnit(time_units, CLI::AsNumberWithUnit::CASE_SENSITIVE))->capture_default_str();
  ag->add_flag("--no-bytes", agent.no_bytes, "Counts only, no sys.getsizeof per object");
  ag->add_flag("--qualified", agent_qualified, "Name types module.name");
  ag->add_flag("-v,--verbose", agent.verbose, "Log processes found and ended, scrapes and failed censuses to stderr");
  TriggerArgs agent_trigger;
  add_trigger_options(ag, agent.trigger, agent_trigger);

  std::string diff_a, diff_b;
  std::size_t diff_limit = 0;
  auto* df = app.add_subcommand("diff", "Per-type change between two saved censuses (dump --format json or record output)");
  df->add_option("before", diff_a, "Earlier census")->required()->check(CLI::ExistingFile);
  df->add_option("after", diff_b, "Later census")->required()->check(CLI::ExistingFile);
  df->add_option("-l,--limit", diff_limit, "Rows to show (0: all)")->capture_default_str();
  SortBy diff_by = SortBy::count;
  add_sort_by(df, diff_by, "Compare counts or bytes (sum of sys.getsizeof) per type");

  std::string sus_file;
  std::size_t sus_limit = 10;
  bool sus_json = false;
  auto* su = app.add_subcommand("suspects", "Rank types by sustained growth over a recorded series (record output)");
  su->add_option("file", sus_file, "NDJSON from objspy record")->required()->check(CLI::ExistingFile);
  su->add_option("-l,--limit", sus_limit, "Rows to show (0: all)")->capture_default_str();
  su->add_flag("--json", sus_json, "JSON instead of a table");
  SortBy sus_by = SortBy::count;
  add_sort_by(su, sus_by, "Rank by the growth of counts or of bytes (sum of sys.getsizeof) per type");
  std::size_t sus_max_types = kDefaultMaxTypes;
  add_max_types(su, sus_max_types);

  cli::InfoOptions info;
  auto* in = app.add_subcommand("info", "What objspy knows of a Python process: interpreter, build, how it was read, memory, the collector of each interpreter");
  auto* info_pid = add_target_options(in, info.target);
  auto* info_core = in->add_option("--core", info.target.core, "Read a core file in place of a live process (as dump --core)");
  in->add_flag("--json", info.json, "JSON instead of text (with every layout field)");
  in->add_flag("--fields", info.fields, "List every layout field objspy reads, its offset and where it came from (_Py_DebugOffsets or the built-in table)");

  cli::RefsOptions refs;
  std::string refs_address;
  std::size_t refs_budget_mib = 4096;
  auto* rf = app.add_subcommand("refs", "Who holds the objects of a type: the shortest chain of references from a module (like objgraph.find_backref_chain), their referrers grouped, a Graphviz graph");
  auto* rf_pid = rf->add_option("-p,--pid", refs.target.pid, "PID of a running Python process (held only while its memory is copied)")->check(CLI::PositiveNumber);
  auto* rf_core = rf->add_option("--core", refs.target.core, "A core file (the kernel's, gcore's or objspy snapshot's) in place of a live process");
  auto* rf_type = rf->add_option("-t,--type", refs.type, "The type: its name as dump shows it, short or module-qualified");
  auto* rf_addr = rf->add_option("-a,--address", refs_address, "Or one object, by address (0x...)");
  rf->add_option("--show", refs.show, "Show this many instances with their attributes (numbers, short strings, None, lengths)")->capture_default_str();
  rf->add_option("-l,--limit", refs.limit, "Referrer groups to show (0: all)")->capture_default_str();
  rf->add_option("--max-depth", refs.max_depth, "Longest chain looked for, in steps")->check(CLI::Range(1, 1000))->capture_default_str();
  rf->add_option("--dot", refs.dot, "Write the chain and the instance's other referrers as a Graphviz file (replaced; never through a link)");
  rf->add_flag("--json", refs.json, "JSON instead of text");
  rf->add_flag("-q,--quiet", refs.quiet, "No summary line on stderr");
  rf->add_option("--pause-timeout", refs.target.pause_timeout_ms, "Milliseconds every thread has to stop for the copy")->check(CLI::Range(1, 60000))->capture_default_str();
  rf->add_option("--copy-budget", refs_budget_mib, "Largest copy of a live process objspy makes in its memory, in MiB")->check(CLI::Range(1, 1 << 20))->capture_default_str();

  cli::HeapOptions heap;
  std::size_t heap_budget_mib = 4096;
  auto* hp = app.add_subcommand("heap", "Every object, not only the GC-tracked ones, by kind with count and size, as guppy3's hpy().heap() (an instance's __dict__ as \"dict of X\")");
  auto* hp_pid = hp->add_option("-p,--pid", heap.target.pid, "PID of a running Python process (held only while its memory is copied)")->check(CLI::PositiveNumber);
  auto* hp_core = hp->add_option("--core", heap.target.core, "A core file in place of a live process");
  hp->add_option("-l,--limit", heap.limit, "Rows to show (0: all)")->capture_default_str();
  hp->add_option("--max-objects", heap.max_objects, "Objects found through the GC-tracked ones, at most")->capture_default_str();
  hp->add_flag("--qualified", heap.qualified, "Module-qualified type names");
  hp->add_flag("--retained", heap.retained, "Also the objects and kinds that retain the most: what would be freed with them (dominator tree)");
  hp->add_flag("--json", heap.json, "JSON instead of a table");
  hp->add_flag("-q,--quiet", heap.quiet, "No summary line on stderr");
  hp->add_option("--pause-timeout", heap.target.pause_timeout_ms, "Milliseconds every thread has to stop for the copy")->check(CLI::Range(1, 60000))->capture_default_str();
  hp->add_option("--copy-budget", heap_budget_mib, "Largest copy of a live process objspy makes in its memory, in MiB")->check(CLI::Range(1, 1 << 20))->capture_default_str();

  cli::SnapshotOptions snap;
  std::size_t snap_budget_mib = 4096;
  auto* sn = app.add_subcommand("snapshot", "Copy a Python process's object-holding memory while its threads are held, then write it as an ELF core file (for dump --core, info --core and gdb)");
  sn->add_option("-p,--pid", snap.pid, "PID of a running Python process")->required()->check(CLI::PositiveNumber);
  sn->add_option("-o,--output", snap.output, "The core file to write (replaced; never through a symbolic link)")->required();
  sn->add_option("--pause-timeout", snap.pause_timeout_ms, "Milliseconds every thread has to stop")->check(CLI::Range(1, 60000))->capture_default_str();
  sn->add_option("--copy-budget", snap_budget_mib, "Largest copy objspy makes in its own memory, in MiB: a bigger process is refused")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  sn->add_flag("-q,--quiet", snap.quiet, "No summary line on stderr");

  cli::ReportOptions report;
  auto* rp = app.add_subcommand("report", "Write a self-contained HTML report of a recorded series: objects over time, leak suspects with their curves, census health");
  rp->add_option("file", report.input, "NDJSON from objspy record")->required()->check(CLI::ExistingFile);
  rp->add_option("-o,--output", report.output, "The HTML file to write")->required();
  rp->add_option("-l,--limit", report.suspects, "Leak suspects shown, each with its chart (0: all)")->capture_default_str();
  add_max_types(rp, report.max_types);

  // Hidden (no group): the build runs `objspy _docs DIR` to write the man pages and shell
  // completions from this App, so they cannot drift from it. Keep it the last subcommand.
  std::string docs_dir;
  auto* docs = app.add_subcommand("_docs", "Write man pages and shell completions")->group("");
  docs->add_option("dir", docs_dir, "Output directory")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code(Errc::usage);
  }

  if (d->parsed()) {
    dump.format = format == "json"     ? cli::Format::json
                  : format == "ndjson" ? cli::Format::ndjson
                  : format == "pprof"  ? cli::Format::pprof
                                       : cli::Format::table;
    if (dump.format == cli::Format::pprof && dump.growth)
      return fail(make_error(Errc::usage, "--growth has no pprof form: compare two profiles with go tool pprof -diff_base"));
    dump.limit_given = limit_opt->count() > 0;
    dump.render.names = qualified ? NameForm::qualified : NameForm::short_name;
    if ((pid_opt->count() > 0) + (core_opt->count() > 0) + !dump.command.empty() != 1)
      return fail(make_error(Errc::usage, "dump needs one of --pid PID, --core FILE or a program to launch after --"));
    if (core_opt->count() > 0 && (dump.growth || dump.subprocesses || dump.target.pause))
      return fail(make_error(Errc::usage, "--growth, --subprocesses and --pause need a live process, not --core"));
    auto st = cli::run_dump(dump);
    if (!st.ok()) return fail(st.error());
  } else if (r->parsed()) {
    rec.render.names = rec_qualified ? NameForm::qualified : NameForm::short_name;
    if (rec.interval_s <= 0) return fail(make_error(Errc::usage, "--interval must be positive"));
    if (auto st = finish_trigger_options(rec.trigger, rec_trigger); !st.ok()) return fail(st.error());
    auto st = cli::run_record(rec);
    if (!st.ok()) return fail(st.error());
  } else if (tp->parsed()) {
    top.sort = sorts.at(top_sort);
    top.render.names = top_qualified ? NameForm::qualified : NameForm::short_name;
    if (top.interval_s <= 0) return fail(make_error(Errc::usage, "--interval must be positive"));
    auto st = cli::run_top(top);
    if (!st.ok()) return fail(st.error());
  } else if (sv->parsed()) {
    serve.names = serve_qualified ? NameForm::qualified : NameForm::short_name;
    if (serve.interval_s <= 0) return fail(make_error(Errc::usage, "--interval must be positive"));
    if (serve.subprocesses) {
      // A worker pool is the agent's job on a subtree: the same series, labelled by pid.
      cli::AgentOptions tree;
      tree.what = "serve";
      tree.root = serve.target.pid;
      tree.listen = serve.listen;
      tree.interval_s = serve.interval_s;
      tree.discover_s = std::min(serve.interval_s, 10.0);
      tree.cpu_budget = 1.0;  // serve keeps its interval, as it does for one process
      tree.top_types = serve.top_types;
      tree.names = serve.names;
      tree.no_bytes = serve.target.no_bytes;
      tree.census_timeout_s = serve.target.census_timeout_s;
      tree.cache_mib = serve.target.cache_mib;
      tree.verbose = serve.verbose;
      if (::kill(serve.target.pid, 0) != 0 && errno == ESRCH)
        return fail(make_error(Errc::no_such_process, fmt::format("no process with PID {}", serve.target.pid)));
      auto st = cli::run_agent(tree);
      if (!st.ok()) return fail(st.error());
      return 0;
    }
    auto st = cli::run_serve(serve);
    if (!st.ok()) return fail(st.error());
  } else if (ag->parsed()) {
    agent.names = agent_qualified ? NameForm::qualified : NameForm::short_name;
    agent.cpu_budget = agent_budget_pct / 100.0;
    if (auto st = finish_trigger_options(agent.trigger, agent_trigger); !st.ok()) return fail(st.error());
    if (agent.interval_s <= 0 || agent.discover_s <= 0) return fail(make_error(Errc::usage, "--interval and --discover-interval must be positive"));
    for (auto [from, to] : {std::pair{&agent_include, &agent.include}, std::pair{&agent_exclude, &agent.exclude}}) {
      for (const auto& f : *from) {
        const auto eq = f.find('=');
        const std::string field = f.substr(0, eq);
        cli::AgentFilter filter;
        if (field == "cmdline") filter.field = cli::AgentFilter::Field::cmdline;
        else if (field == "unit") filter.field = cli::AgentFilter::Field::unit;
        else if (field == "cgroup") filter.field = cli::AgentFilter::Field::cgroup;
        else return fail(make_error(Errc::usage, fmt::format("--include/--exclude take FIELD=REGEX with FIELD cmdline, unit or cgroup, not {}", f)));
        if (eq == std::string::npos) return fail(make_error(Errc::usage, fmt::format("--include/--exclude take FIELD=REGEX: {} has no =", f)));
        filter.pattern = f.substr(eq + 1);
        to->push_back(std::move(filter));
      }
    }
    auto st = cli::run_agent(agent);
    if (!st.ok()) return fail(st.error());
  } else if (df->parsed()) {
    auto st = cli::run_diff(diff_a, diff_b, diff_limit, diff_by);
    if (!st.ok()) return fail(st.error());
  } else if (su->parsed()) {
    auto st = cli::run_suspects(sus_file, sus_limit, sus_json, sus_max_types, sus_by);
    if (!st.ok()) return fail(st.error());
  } else if (in->parsed()) {
    if ((info_pid->count() > 0) == (info_core->count() > 0)) return fail(make_error(Errc::usage, "info needs one of --pid PID or --core FILE"));
    if (info_core->count() > 0 && info.target.pause) return fail(make_error(Errc::usage, "--pause needs a live process, not --core"));
    auto st = cli::run_info(info);
    if (!st.ok()) return fail(st.error());
  } else if (rf->parsed()) {
    if ((rf_pid->count() > 0) == (rf_core->count() > 0)) return fail(make_error(Errc::usage, "refs needs one of --pid PID or --core FILE"));
    if ((rf_type->count() > 0) == (rf_addr->count() > 0)) return fail(make_error(Errc::usage, "refs needs one of --type NAME or --address ADDR"));
    if (rf_addr->count() > 0) {
      std::uint64_t v = 0;
      const char* b = refs_address.c_str();
      const bool hexa = refs_address.starts_with("0x") || refs_address.starts_with("0X");
      auto [p, ec] = std::from_chars(b + (hexa ? 2 : 0), b + refs_address.size(), v, hexa ? 16 : 10);
      if (ec != std::errc() || p != b + refs_address.size() || v == 0)
        return fail(make_error(Errc::usage, fmt::format("--address takes an address like 0x7f12345678, not {}", escape_for_terminal(refs_address))));
      refs.address = v;
    }
    refs.copy_budget = static_cast<std::uint64_t>(refs_budget_mib) << 20;
    auto st = cli::run_refs(refs);
    if (!st.ok()) return fail(st.error());
  } else if (hp->parsed()) {
    if ((hp_pid->count() > 0) == (hp_core->count() > 0)) return fail(make_error(Errc::usage, "heap needs one of --pid PID or --core FILE"));
    heap.copy_budget = static_cast<std::uint64_t>(heap_budget_mib) << 20;
    auto st = cli::run_heap(heap);
    if (!st.ok()) return fail(st.error());
  } else if (sn->parsed()) {
    snap.copy_budget = static_cast<std::uint64_t>(snap_budget_mib) << 20;
    auto st = cli::run_snapshot(snap);
    if (!st.ok()) return fail(st.error());
  } else if (rp->parsed()) {
    auto st = cli::run_report(report);
    if (!st.ok()) return fail(st.error());
  } else if (docs->parsed()) {
    auto st = cli::docs::write_docs(cli::docs::describe(app, OBJSPY_VERSION_STRING), docs_dir);
    if (!st.ok()) return fail(st.error());
  }
  return 0;
}

}  // namespace

// Errors are values: nothing below throws on any input (files are size-capped and parsed
// without exceptions; the fuzz harnesses and the bad-file tests hold it to that). Should
// something throw anyway, it ends as one line and exit 1 rather than an abort and a core dump
// of a process that is often root.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fputs("objspy: error: out of memory (a bug: objspy bounds what it reads; please report it)\n", stderr);
  } catch (const std::exception& e) {
    std::fputs(fmt::format("objspy: error: internal error: {} (a bug; please report it)\n", objspy::escape_for_terminal(e.what())).c_str(), stderr);
  }
  return objspy::exit_code(objspy::Errc::internal);
}

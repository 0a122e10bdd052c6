// dump --subprocesses: a worker pool (gunicorn, uWSGI, multiprocessing, Celery) is a master and
// its descendants. Each gets its own census, labelled by PID; the summed view follows. A
// process that is not Python, cannot be read or exits meanwhile is reported and skipped: it is
// never fatal for the others.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "objspy/census/sampler.hpp"
#include "objspy/census/series.hpp"
#include "objspy/cli/dump_parts.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/pprof.hpp"
#include "objspy/output/render.hpp"
#include "objspy/process/process_tree.hpp"

namespace objspy::cli {
namespace {

struct Member {
  ProcessEntry process;
  std::string command;
  Census census;
};

struct Skipped {
  ProcessEntry process;
  Error error;
};

// The table form: each process under a header line, then the sum.
std::string render_tree_table(const std::vector<Member>& members, const Census& sum, const RenderOptions& r) {
  std::string out;
  for (const Member& m : members) {
    out += fmt::format("== pid {}: {}\n", m.process.pid, escape_for_terminal(m.command.empty() ? m.process.comm : m.command, 100));
    out += render_table(m.census, r);
    out += "\n";
  }
  out += fmt::format("== sum of {} process{}\n", members.size(), members.size() == 1 ? "" : "es");
  out += render_table(sum, r);
  return out;
}

nlohmann::json tree_json(const std::vector<Member>& members, const std::vector<Skipped>& skipped, const Census& sum, const RenderOptions& r) {
  using nlohmann::json;
  json procs = json::array();
  for (const Member& m : members) {
    json j = census_to_json(m.census, r);
    j["ppid"] = m.process.ppid;
    j["command"] = sanitize_utf8(m.command);
    procs.push_back(std::move(j));
  }
  json skip = json::array();
  for (const Skipped& s : skipped)
    skip.push_back({{"pid", s.process.pid},
                    {"ppid", s.process.ppid},
                    {"comm", sanitize_utf8(s.process.comm)},
                    {"code", exit_code(s.error.code)},  // as record's census_failed events
                    {"error", sanitize_utf8(s.error.message)}});
  json total = census_to_json(sum, r);
  // What has no meaning for a sum of processes.
  for (const char* k : {"pid", "binary", "layout_source", "interpreters", "allocator", "explained", "pause_ms", "debug_build", "walk"}) total.erase(k);
  total["processes"] = members.size();
  total["complete"] = sum.walk.complete;
  return {{"root", members.empty() ? 0 : members.front().process.pid}, {"processes", procs}, {"skipped", skip}, {"sum", total}};
}

}  // namespace

Status dump_tree(pid_t root, const DumpOptions& o) {
  if (o.growth) return make_error(Errc::usage, "--growth takes one process: leave out --subprocesses, or run it per PID");
  bool cut = false;
  auto tree = process_tree(list_processes(kMaxProcesses, &cut), root);
  if (tree.empty() || tree.front().pid != root) return make_error(Errc::no_such_process, fmt::format("no process with PID {}", root));
  if (tree.size() > kMaxTreeProcesses) {
    note(fmt::format("process {} has {} descendants: only the first {} are read", root, tree.size() - 1, kMaxTreeProcesses - 1));
    tree.resize(kMaxTreeProcesses);
  }
  std::vector<Member> members;
  std::vector<Skipped> skipped;
  for (const ProcessEntry& p : tree) {
    auto census = [&]() -> Result<Census> {
      OBJSPY_ASSIGN(auto sampler, attach_target(o.target, p.pid));
      // The PID was reused between the listing and the attach: not the process listed.
      if (sampler->process().start_time != p.start_time)
        return make_error(Errc::no_such_process, fmt::format("process {} exited while the tree was read", p.pid));
      return sampler->sample();
    }();
    if (!census.ok()) {
      Error e = user_facing(census.take_error());
      note(fmt::format("pid {} ({}): skipped: {}", p.pid, p.comm, e.message));
      skipped.push_back({p, std::move(e)});
      continue;
    }
    members.push_back({p, command_line(p.pid), std::move(*census)});
  }
  if (members.empty()) {
    // Nothing to show: the root's own error says why (not Python, permission, ...).
    Error e = skipped.front().error;
    e.message = fmt::format("no process of the tree of PID {} ({} process{}) could be read; PID {}: {}", root, tree.size(),
                            tree.size() == 1 ? "" : "es", root, e.message);
    return e;
  }
  std::vector<const Census*> all;
  for (const Member& m : members) all.push_back(&m.census);
  const Census sum = sum_censuses(all);
  const RenderOptions& r = o.render;
  RenderOptions every = r;
  if (!o.limit_given) every.limit = 0;  // JSON lists every type by default
  std::string out;
  switch (o.format) {
    case Format::table: out = render_tree_table(members, sum, r); break;
    case Format::json: out = tree_json(members, skipped, sum, every).dump(2, ' ', true) + "\n"; break;
    case Format::ndjson:
      for (const Member& m : members) out += render_json(m.census, every, false);
      break;
    case Format::pprof: OBJSPY_ASSIGN(out, render_pprof(all, r.names)); break;
  }
  OBJSPY_TRY(write_output(o, out));
  Status worst;
  for (const Member& m : members) {
    if (!o.quiet) note(render_summary(m.census));
    for (const auto& w : m.census.walk.warnings) note(fmt::format("pid {}: warning: {}", m.process.pid, w));
    if (auto st = incomplete_error(m.census, m.process.pid); !st.ok() && worst.ok()) worst = st;
  }
  if (!o.quiet)
    note(fmt::format("{} process{} read, {} skipped; sum: {} objects{}", members.size(), members.size() == 1 ? "" : "es", skipped.size(), sum.total,
                     sum.measured_bytes ? fmt::format(", {} bytes", sum.bytes) : ""));
  return worst;
}

}  // namespace objspy::cli

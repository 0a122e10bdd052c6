#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/sampler.hpp"
#include "objspy/cli/state_file.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/core/escape.hpp"

namespace objspy::cli {
namespace {

void note(const std::string& s) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(s)).c_str(), stderr); }

Status dump_pid(pid_t pid, const DumpOptions& o) {
  SampleOptions so;
  so.cache_budget = o.cache_mib << 20;
  so.retries = o.retries;
  so.pause = o.pause;
  OBJSPY_ASSIGN(auto sampler, Sampler::attach(pid, so));
  if (o.verbose) {
    const auto& t = sampler->target();
    note(fmt::format("python {} in {} (opened as {}), _PyRuntime at {:#x}, layout: {}", t.layout.version.str(), t.image.path,
                     t.image.opened_from, t.image.runtime.value(), t.layout.source));
    for (const auto& n : sampler->notes()) note(n);
  }
  OBJSPY_ASSIGN(Census c, sampler->sample());
  RenderOptions r = o.render;
  std::string out;
  if (o.growth) {
    // Like objgraph.show_growth(), against the census the previous run saved. The state is
    // locked from read to write so that overlapping cron runs do not interleave.
    std::string path = o.state_path.empty() ? default_state_path(pid, sampler->process().start_time, r.names) : o.state_path;
    OBJSPY_ASSIGN(StateFile state, StateFile::open(path));
    OBJSPY_ASSIGN(auto previous, state.load());
    RenderOptions all = r;
    all.limit = 0;
    std::string doc = render_json(c, all, false);
    Snapshot now = snapshot_of(c, r.names);
    if (!previous) note(fmt::format("no previous census in {}: growth is counted from zero", path));
    auto rows = growth(previous ? *previous : Snapshot{}, now, r.limit);
    if (o.format == Format::table) {
      out = render_growth(rows);
    } else {
      auto j = census_to_json(c, o.limit_given ? r : all);
      auto arr = nlohmann::json::array();
      for (const auto& g : rows) arr.push_back({{"name", sanitize_utf8(g.name)}, {"count", g.after}, {"delta", g.delta()}});
      j["growth"] = arr;
      j["growth_since"] = previous ? nlohmann::json(previous->timestamp) : nlohmann::json(nullptr);
      out = j.dump(o.format == Format::json ? 2 : -1, ' ', true) + "\n";
    }
    if (c.walk.complete) OBJSPY_TRY(state.save(doc));  // an incomplete census is not a baseline
  } else {
    switch (o.format) {
      case Format::table: out = render_table(c, r); break;
      case Format::json:
      case Format::ndjson:
        if (!o.limit_given) r.limit = 0;
        out = render_json(c, r, o.format == Format::json);
        break;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!o.quiet) note(render_summary(c));
  for (const auto& w : c.walk.warnings) note("warning: " + w);
  if (!c.walk.complete)
    return make_error(Errc::incomplete, fmt::format("the census of process {} is incomplete: its GC lists changed during the walk{} (counts above are partial)",
                                                    pid, c.walk.retried ? " and again on retry" : ""));
  return {};
}

}  // namespace

Status run_dump(const DumpOptions& o) {
  if (!o.command.empty())
    return run_launched(o.command, o.delay, o.start_timeout, o.verbose, [&](pid_t pid) { return dump_pid(pid, o); });
  return dump_pid(o.pid, o);
}

}  // namespace objspy::cli

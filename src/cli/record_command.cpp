// record: one census per tick (PeriodicCensus), streamed as NDJSON, closed by live suspects.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <functional>
#include <cstdio>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/live.hpp"
#include "objspy/cli/periodic.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/following.hpp"
#include "objspy/cli/tree_sampler.hpp"
#include "objspy/cli/memory_trigger.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/core/escape.hpp"
#include "objspy/output/render.hpp"
#include "objspy/process/cgroup.hpp"
#include "objspy/process/proc.hpp"

namespace objspy::cli {
namespace {

void note(const std::string& s) { std::fputs(fmt::format("objspy: {}\n", escape_for_terminal(s)).c_str(), stderr); }

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double now_mono() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

Status run_record(const RecordOptions& o) {
  // First: no empty output file for a bad PID.
  std::unique_ptr<CensusSource> follower;
  if (o.subprocesses) {
    if (o.trigger.any()) return make_error(Errc::usage, "--trigger-* watch one process; for each process of a pool use objspy agent --include");
    OBJSPY_ASSIGN(follower, TreeSampler::attach(o.target));
  } else {
    OBJSPY_ASSIGN(follower, FollowingSampler::attach(o.target));
  }
  FILE* out = stdout;
  std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, &std::fclose);
  if (!o.output.empty() && o.output != "-") {
    // objspy runs as root: never appended through a link planted at that name, never a FIFO.
    OBJSPY_ASSIGN(std::FILE* f, open_for_append(o.output));
    file.reset(f);
    out = file.get();
  }
  // The report's file is opened now, so that a name that cannot be written is said before the
  // recording rather than after it.
  std::unique_ptr<FILE, int (*)(FILE*)> report_file(nullptr, &std::fclose);
  if (!o.report.empty()) {
    if (!o.output.empty() && o.output != "-") OBJSPY_TRY(refuse_same_file(o.output, o.report));
    OBJSPY_ASSIGN(std::FILE* f, open_for_writing(o.report));
    report_file.reset(f);
  }
  std::optional<MemoryTrigger> trigger;
  if (o.trigger.any()) {
    struct stat st {};
    if (o.trigger.dir.empty()) return make_error(Errc::usage, "a --trigger-* threshold needs --trigger-dir DIR: where its census is written");
    if (::stat(o.trigger.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return make_error(Errc::io, fmt::format("--trigger-dir {}: not a directory", o.trigger.dir));
    trigger.emplace(o.trigger);
  }
  ReportBuilder report;
  auto write_line = [&](const std::string& line) {
    std::fputs(line.c_str(), out);
    std::fflush(out);  // one line per sample survives a kill of objspy or of the machine's OOM killer
  };
  auto write_event = [&](const std::string& line) {
    if (report_file) report.observe(nullptr, line);
    write_line(line);
  };
  auto event = [&](const char* name) {
    return nlohmann::json({{"event", name}, {"pid", o.target.pid}, {"timestamp", now_unix()}});
  };

  namespace asio = boost::asio;
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  const auto started = std::chrono::steady_clock::now();
  long taken = 0, failed = 0;
  std::optional<Error> failure;
  FailureLog failure_log, skipped_log;
  std::string end_reason;
  LiveSeries live(o.render.names, o.max_types);

  std::unique_ptr<PeriodicCensus> periodic;
  // A crossed threshold waits here for the first census that starts after it.
  std::optional<std::string> pending_trigger;
  double pending_since = 0;
  std::uint64_t pending_rss = 0;
  std::optional<std::uint64_t> pending_limit;
  asio::steady_timer poll_timer(io);
  auto finish = [&](std::string why) {
    end_reason = std::move(why);
    poll_timer.cancel();
    periodic->stop();
    signals.cancel();
    io.stop();
  };
  periodic = std::make_unique<PeriodicCensus>(io, *follower, o.interval_s, [&](FollowedCensus t) {
    if (t.attached) {
      auto j = event("reattached");
      j["reason"] = t.attached->reason;
      j["python_version"] = t.attached->python_version;
      j["python_binary"] = t.attached->python_binary;
      j["reattaches"] = follower->reattaches();
      write_event(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      note(fmt::format("{}; attached to its new image (Python {})", t.attached->reason, t.attached->python_version));
      live = LiveSeries(o.render.names, o.max_types);  // the suspects rank one image's heap, not two
    }
    Result<Census>& c = t.census;
    if (pending_trigger) {
      auto j = event("trigger");
      j["reason"] = *pending_trigger;
      j["rss_bytes"] = pending_rss;
      j["crossed_at"] = pending_since;  // Unix time of the reading that crossed the threshold
      j["limit_bytes"] = pending_limit ? nlohmann::json(*pending_limit) : nlohmann::json(nullptr);
      if (c.ok() && c->timestamp - c->duration_ms / 1000 < pending_since) {
        periodic->now();  // this census began before the crossing: a fresh one right after it
      } else {
        if (c.ok()) {
          auto path = write_triggered(o.trigger.dir, *c, o.render, j);
          if (path.ok()) {
            j["file"] = *path;
            note(fmt::format("{}: census written to {}", *pending_trigger, *path));
          } else {
            j["error"] = path.error().message;
            note(fmt::format("{}: {}", *pending_trigger, path.error().message));
          }
        } else {
          j["error"] = user_facing(c.error()).message;
        }
        write_event(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        trigger->fired(now_mono());
        pending_trigger.reset();
      }
    }
    if (!c.ok()) {
      if (c.error().code == Errc::target_exited) {
        auto j = event("target_exited");
        j["samples"] = taken;
        write_event(j.dump() + "\n");
        return finish("target exited");
      }
      if (taken == 0 && follower->reattaches() == 0) {  // no first census: end, as dump would
        failure = c.take_error();
        return finish("error");
      }
      // A census that cannot be taken is recorded, and the next tick tries again.
      ++failed;
      const Error e = user_facing(c.error());
      auto j = event("census_failed");
      j["error"] = e.message;
      j["code"] = exit_code(e.code);
      j["failures"] = failed;
      write_event(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      if (auto line = failure_log.failed(e.message)) note("census failed: " + *line);
    } else {
      failure_log.succeeded();
      // --subprocesses: each process's census as an event line (readers of the series skip
      // them), then the sum, the census of the series.
      for (const Census& m : t.members) {
        auto j = census_to_json(m, o.render);
        j["event"] = "process";
        j["tree_root"] = o.target.pid;
        write_line(j.dump(-1, ' ', true) + "\n");
      }
      if (!t.skipped.empty()) {
        std::string all;
        for (const auto& s : t.skipped) all += (all.empty() ? "" : "; ") + s;
        if (auto line = skipped_log.failed(all)) note("left out of the sum: " + *line);
      } else {
        skipped_log.succeeded();
      }
      if (o.subprocesses) {
        auto j = census_to_json(*c, o.render);
        nlohmann::json pids = nlohmann::json::array();
        for (const Census& m : t.members) pids.push_back(m.pid);
        j["processes"] = pids;
        write_line(j.dump(-1, ' ', true) + "\n");
      } else {
        write_line(render_json(*c, o.render, false));
      }
      if (report_file) {
        const Snapshot head = snapshot_header(*c);
        report.observe(&head, {});
      }
      live.add(*c);
      ++taken;
      if (o.count && taken >= o.count) return finish("count reached");
    }
    // The next census would start after --duration: end now rather than overrun it.
    if (o.duration_s > 0 && std::chrono::steady_clock::now() + std::chrono::duration<double>(o.interval_s) - started >
                                std::chrono::duration<double>(o.duration_s))
      return finish("duration reached");
  });
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) finish(sig == SIGINT ? "interrupted" : "terminated");
  });
  // The memory poll: cheap (statm, and the cgroup's limit files when a share is asked for),
  // on the io thread, never waiting on a census.
  std::function<void()> poll = [&] {
    poll_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(o.trigger.poll_s)));
    poll_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (!pending_trigger) {
        auto rss = read_rss_bytes(o.target.pid);
        // Gone (the OOM killer, say): the next census says so now rather than at its tick.
        if (!rss.ok() && !process_alive(o.target.pid)) periodic->now();
        if (rss.ok()) {
          MemoryReading r{now_mono(), *rss, std::nullopt};
          if (o.trigger.limit_share)
            if (auto cg = read_cgroup_memory(o.target.pid); cg.ok()) r.limit = cg->limit;
          if (auto why = trigger->observe(r)) {
            pending_trigger = *why;
            pending_since = now_unix();
            pending_rss = r.rss;
            pending_limit = r.limit;
            note(*why + ": taking a census now");
            periodic->now();
          }
        }
      }
      poll();
    });
  };
  if (trigger) {
    if (o.trigger.limit_share) {
      // Said once at the start: a share of no limit never triggers.
      auto cg = read_cgroup_memory(o.target.pid);
      if (!cg.ok()) note(fmt::format("--trigger-limit-share: {}", cg.error().message));
      else if (!cg->limit) note(fmt::format("--trigger-limit-share: the memory cgroup {} of process {} has no limit", cg->cgroup.path, o.target.pid));
    }
    poll();
  }
  periodic->start();
  io.run();
  periodic.reset();
  // Live suspects over what was recorded (since the last re-attach): the last NDJSON line (an
  // event, skipped by readers of the series) and a table on stderr.
  if (live.samples() >= 3) {
    // Every census line above was written, torn or not; the ranking uses only the trusted ones.
    auto ranked = live.suspects(o.suspects);
    const RankedOver over = live.ranked();
    auto j = suspects_to_json(ranked, over);
    j["event"] = "suspects";
    j["pid"] = o.target.pid;
    j["timestamp"] = now_unix();
    write_event(j.dump(-1, ' ', true) + "\n");
    if (!o.quiet) std::fputs(render_suspects(ranked, over).c_str(), stderr);
  }
  if (failure) return *failure;
  if (report_file) {
    // The suspects of the report are those of the closing line: the live window's.
    const ReportData data = std::move(report).finish(live.window(), live.skipped(), o.suspects);
    OBJSPY_TRY(write_report(report_file.release(), o.report, data, fmt::format("objspy record --pid {}", o.target.pid)));
    note(fmt::format("report written to {}", o.report));
  }
  std::string extra;
  if (live.skipped()) extra += fmt::format(", {} incomplete, not ranked", live.skipped());
  if (failed) extra += fmt::format(", {} failed censuses", failed);
  if (follower->reattaches()) extra += fmt::format(", {} re-attaches", follower->reattaches());
  note(fmt::format("record ended ({}), {} samples{}", end_reason, taken, extra));
  return {};
}

}  // namespace objspy::cli

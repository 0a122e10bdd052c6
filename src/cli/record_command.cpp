// record: one census per tick (PeriodicCensus), streamed as NDJSON, closed by live suspects.
#include <csignal>
#include <cstdio>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/live.hpp"
#include "objspy/census/sampler.hpp"
#include "objspy/cli/periodic.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/output/render.hpp"

namespace objspy::cli {
namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status run_record(const RecordOptions& o) {
  OBJSPY_ASSIGN(auto sampler, attach_target(o.target));  // first: no empty output file for a bad PID
  FILE* out = stdout;
  std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, &std::fclose);
  if (!o.output.empty() && o.output != "-") {
    file.reset(std::fopen(o.output.c_str(), "a"));
    if (!file) return make_error(Errc::io, fmt::format("cannot open {} for writing", o.output));
    out = file.get();
  }
  auto write_line = [&](const std::string& line) {
    std::fputs(line.c_str(), out);
    std::fflush(out);  // one line per sample survives a kill of objspy or of the machine's OOM killer
  };

  namespace asio = boost::asio;
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  const auto started = std::chrono::steady_clock::now();
  long taken = 0;
  std::optional<Error> failure;
  std::string end_reason;
  LiveSeries live(o.render.names);

  std::unique_ptr<PeriodicCensus> periodic;
  auto finish = [&](std::string why) {
    end_reason = std::move(why);
    periodic->stop();
    signals.cancel();
    io.stop();
  };
  periodic = std::make_unique<PeriodicCensus>(io, *sampler, o.interval_s, [&](Result<Census> c) {
    if (!c.ok()) {
      if (c.error().code == Errc::target_exited) {
        write_line(nlohmann::json({{"event", "target_exited"}, {"pid", o.target.pid}, {"timestamp", now_unix()}, {"samples", taken}}).dump() + "\n");
        return finish("target exited");
      }
      failure = c.take_error();
      return finish("error");
    }
    write_line(render_json(*c, o.render, false));
    live.add(*c);
    ++taken;
    if (o.count && taken >= o.count) return finish("count reached");
    // The next census would start after --duration: end now rather than overrun it.
    if (o.duration_s > 0 && std::chrono::steady_clock::now() + std::chrono::duration<double>(o.interval_s) - started >
                                std::chrono::duration<double>(o.duration_s))
      return finish("duration reached");
  });
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) finish(sig == SIGINT ? "interrupted" : "terminated");
  });
  periodic->start();
  io.run();
  periodic.reset();
  // Live suspects over what was recorded: the last NDJSON line (an event, skipped by readers
  // of the series) and a table on stderr.
  if (live.samples() >= 3) {
    // Every census line above was written, torn or not; the ranking uses only the trusted ones.
    auto ranked = live.suspects(o.suspects);
    const double hours = live.window_hours();
    auto j = suspects_to_json(ranked, live.window_size(), live.skipped(), hours);
    j["event"] = "suspects";
    j["pid"] = o.target.pid;
    j["timestamp"] = now_unix();
    write_line(j.dump(-1, ' ', true) + "\n");
    if (!o.quiet) std::fputs(render_suspects(ranked, live.window_size(), live.skipped(), hours).c_str(), stderr);
  }
  if (failure) return *failure;
  const std::string skipped = live.skipped() ? fmt::format(" ({} incomplete, not ranked)", live.skipped()) : "";
  std::fputs(fmt::format("objspy: record ended ({}), {} samples{}\n", end_reason, taken, skipped).c_str(), stderr);
  return {};
}

}  // namespace objspy::cli

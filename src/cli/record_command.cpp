// record: one census per tick on a Boost.Asio timer, streamed as NDJSON.
#include <csignal>
#include <cstdio>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/census/sampler.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/output/render.hpp"
#include "objspy/core/escape.hpp"

namespace objspy::cli {
namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status run_record(const RecordOptions& o) {
  FILE* out = stdout;
  std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, &std::fclose);
  if (!o.output.empty() && o.output != "-") {
    file.reset(std::fopen(o.output.c_str(), "a"));
    if (!file) return make_error(Errc::io, fmt::format("cannot open {} for writing", o.output));
    out = file.get();
  }
  SampleOptions so;
  so.cache_budget = o.cache_mib << 20;
  so.pause = o.pause;
  OBJSPY_ASSIGN(auto sampler, Sampler::attach(o.pid, so));
  auto write_line = [&](const std::string& line) {
    std::fputs(line.c_str(), out);
    std::fflush(out);  // one line per sample survives a kill of objspy or of the machine's OOM killer
  };

  namespace asio = boost::asio;
  using clock = std::chrono::steady_clock;
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer timer(io);
  const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.interval_s));
  const auto started = clock::now();
  auto next = started;
  long taken = 0;
  std::optional<Error> failure;
  std::string end_reason;

  auto finish = [&](std::string why) {
    end_reason = std::move(why);
    timer.cancel();
    signals.cancel();
    io.stop();
  };
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) finish(sig == SIGINT ? "interrupted" : "terminated");
  });
  std::function<void()> tick = [&] {
    auto c = sampler->sample();
    if (!c.ok()) {
      if (c.error().code == Errc::target_exited) {
        write_line(nlohmann::json({{"event", "target_exited"}, {"pid", o.pid}, {"timestamp", now_unix()}, {"samples", taken}}).dump() + "\n");
        return finish("target exited");
      }
      failure = c.take_error();
      return finish("error");
    }
    write_line(render_json(*c, o.render, false));
    ++taken;
    if (o.count && taken >= o.count) return finish("count reached");
    // A slow census never piles up ticks: the next one is one interval after the last
    // planned tick, or now if that has already passed.
    next += interval;
    auto now = clock::now();
    if (next < now) next = now;
    if (o.duration_s > 0 && next - started > std::chrono::duration<double>(o.duration_s)) return finish("duration reached");
    timer.expires_at(next);
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  };
  asio::post(io, tick);
  io.run();
  if (failure) return *failure;
  std::fputs(fmt::format("objspy: record ended ({}), {} samples\n", end_reason, taken).c_str(), stderr);
  return {};
}

}  // namespace objspy::cli

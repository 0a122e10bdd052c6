#include "objspy/cli/periodic.hpp"

#include <malloc.h>

#include <boost/asio/post.hpp>

#include "objspy/process/pause.hpp"

namespace objspy::cli {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

PeriodicCensus::PeriodicCensus(asio::io_context& io, CensusSource& sampler, double interval_s, Handler handler)
    : io_(io),
      sampler_(sampler),
      interval_(std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval_s))),
      handler_(std::move(handler)),
      timer_(io) {
  // Every census allocates and frees its big buffers (the read cache, its tables). glibc's
  // dynamic mmap threshold moves such buffers into the heap once one has been freed, and there
  // each census leaves them in a slightly different place: the heap only grows, all of it free
  // space (measured against a target making 2,000 type names per 100 ms: 4 MiB in use, 16 MiB
  // of heap, RSS +8% in 90 s). A fixed threshold, glibc's default, keeps every buffer of
  // 128 KiB or more mapped and unmapped with its census, so a process that runs for days
  // stays at the size of what it holds.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

PeriodicCensus::~PeriodicCensus() {
  stop();
  *alive_ = false;
  // The command is ending (signal, count, error): a census in flight is dropped, so a target
  // it holds (or waits to hold, or walks) is let go now rather than after the census.
  ProcessPause::end_all();
  worker_.join();
}

void PeriodicCensus::start() {
  stopped_ = false;
  next_ = clock::now();
  launch();
}

void PeriodicCensus::stop() {
  stopped_ = true;
  timer_.cancel();
}

void PeriodicCensus::now() {
  if (stopped_) return;
  if (in_flight_) {  // the next one right after it
    again_ = true;
    return;
  }
  timer_.cancel();
  next_ = clock::now();
  launch();
}

void PeriodicCensus::arm() {
  next_ += interval_;
  if (again_) {
    again_ = false;
    next_ = clock::now();
  }
  if (auto t = clock::now(); next_ < t) next_ = t;
  timer_.expires_at(next_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_ && !in_flight_) launch();
  });
}

void PeriodicCensus::launch() {
  in_flight_ = true;
  // The worker owns the Sampler while a census runs (ptrace calls must come from the thread
  // that attached, and an exec of the target is followed there); the result comes back to
  // the io thread by post.
  asio::post(worker_, [this, alive = alive_] {
    auto result = std::make_shared<FollowedCensus>(sampler_.sample());
    asio::post(io_, [this, alive, result] {
      if (!*alive) return;
      in_flight_ = false;
      if (stopped_) return;
      handler_(std::move(*result));
      if (!stopped_ && !in_flight_) arm();  // the handler may have started the next one (now())
    });
  });
}

}  // namespace objspy::cli

// Censuses on a fixed interval, taken on a worker thread and delivered on the io_context's
// thread. The io thread stays free for what must not wait on a census: HTTP scrapes (serve),
// keys and redraws (top), signals (all). A slow census never piles up ticks: the next one is
// planned one interval after the previous plan, or right away if that has already passed.
#pragma once
#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "objspy/cli/following.hpp"

namespace objspy::cli {

class PeriodicCensus {
 public:
  using Handler = std::function<void(FollowedCensus)>;
  // `handler` runs on the io thread for each census or error. It may call stop().
  // Fixes the allocator's mmap threshold for the whole process (periodic.cpp: why).
  PeriodicCensus(boost::asio::io_context& io, CensusSource& sampler, double interval_s, Handler handler);
  ~PeriodicCensus();  // waits for a census in flight (its target is never left held)
  PeriodicCensus(const PeriodicCensus&) = delete;
  PeriodicCensus& operator=(const PeriodicCensus&) = delete;

  void start();  // the first census right away
  void stop();   // no further census; a result in flight is dropped
  // Take the next census now instead of at its planned time (top's refresh key, record's
  // triggers); while one is in flight, the next starts as soon as it ends.
  void now();

 private:
  void arm();
  void launch();

  boost::asio::io_context& io_;
  CensusSource& sampler_;
  std::chrono::steady_clock::duration interval_;
  Handler handler_;
  boost::asio::steady_timer timer_;
  boost::asio::thread_pool worker_{1};
  std::chrono::steady_clock::time_point next_;
  bool in_flight_ = false;
  bool stopped_ = false;
  bool again_ = false;  // now() during a census: the next one right after it
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace objspy::cli

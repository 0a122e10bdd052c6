// A small HTTP/1.1 server (Boost.Asio) for the exporter: GET /metrics returns what the handler
// gives, / a short page, anything else 404 (http_request.hpp). Handlers run on the io thread
// and must not block: the exporter hands over text rendered after the last census, so a
// scrape never waits for one.
//
// Built to keep answering scrapes while clients misbehave. Connections are served
// concurrently, so one that idles costs a socket and a few hundred bytes, not a turn. Each
// request header must arrive whole within a deadline (2 s) counted from the accept, or from
// the end of the previous response: a byte now and then does not extend it. Headers are
// capped (8 KiB: 431), bodies are never read. Connections are capped per client (an IPv4
// address, or an IPv6 /64) and in total; a new connection over a cap is not refused: the
// connection of that client (or, over the total cap, of the client holding the most) whose
// wait began longest ago is closed to make room. A scraper's request arrives with its
// connection, so it is answered before a flood from its own address could push it out, and a
// flood from one address cannot take the slots of another.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "objspy/cli/http_request.hpp"
#include "objspy/core/result.hpp"

namespace objspy::cli {

// "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464" (all addresses). Err: usage.
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text);

struct ServerLimits {
  std::chrono::milliseconds request_deadline{2000};  // a whole request header, from accept or the last response
  std::chrono::milliseconds write_deadline{10000};   // a whole response
  std::chrono::milliseconds linger{500};             // after a closing response: the client's rest read and dropped
  std::size_t max_header_bytes = 8192;
  std::size_t max_connections = 1024;
  std::size_t max_per_client = 512;
};

// Raises the soft limit of open files (RLIMIT_NOFILE) so `limits` fit with room to spare, or,
// when the hard limit is lower, lowers the caps to what fits. Returns a note when it had to
// lower them, else an empty string.
std::string fit_open_file_limit(ServerLimits& limits);

class MetricsServer {
 public:
  using Metrics = std::function<std::string()>;
  using Log = std::function<void(const std::string&)>;
  // Err: io (the address cannot be bound, with the system's reason).
  static Result<std::unique_ptr<MetricsServer>> listen(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at,
                                                        Metrics metrics, Log log = {}, ServerLimits limits = {}, http::Extra extra = {});
  ~MetricsServer();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Stops accepting and closes every connection.
  void close();

  struct Stats {
    std::uint64_t accepted = 0, answered = 0;
    std::uint64_t evicted_client_cap = 0, evicted_total_cap = 0;  // closed to make room
    std::uint64_t timed_out = 0;                                  // request or response not through in time
    std::uint64_t bad_requests = 0;                               // answered 400 or 431
    std::size_t open = 0;
  };
  Stats stats() const;

  struct Impl;

 private:
  explicit MetricsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace objspy::cli

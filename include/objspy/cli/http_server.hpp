// A small HTTP/1.1 server (Boost.Beast) for the exporter: GET /metrics returns what the
// handler gives, / a short page, anything else 404. Handlers run on the io thread and must
// not block: the exporter hands over text rendered after the last census, so a scrape never
// waits for one. Bounded against misbehaving clients: header size, no request bodies, an idle
// timeout, and a cap on open connections.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "objspy/core/result.hpp"

namespace objspy::cli {

// "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464" (all addresses). Err: usage.
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& text);

class MetricsServer {
 public:
  using Metrics = std::function<std::string()>;
  using Log = std::function<void(const std::string&)>;
  // Err: io (the address cannot be bound, with the system's reason).
  static Result<std::unique_ptr<MetricsServer>> listen(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at,
                                                        Metrics metrics, Log log = {});
  ~MetricsServer();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void close();

  struct Impl;

 private:
  explicit MetricsServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace objspy::cli

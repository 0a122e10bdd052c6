#include "objspy/cli/http_server.hpp"

#include <optional>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace objspy::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
  Impl(asio::io_context& io, Metrics m, Log l) : acceptor(io), metrics(std::move(m)), log(std::move(l)) {}
  tcp::acceptor acceptor;
  Metrics metrics;
  Log log;
  std::size_t open = 0;
  bool closed = false;

  void accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, std::shared_ptr<MetricsServer::Impl> server) : stream_(std::move(s)), server_(std::move(server)) {
    ++server_->open;
  }
  ~Session() { --server_->open; }

  void read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);  // no request here has a body
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) return close();  // closed by the client, timed out, or malformed: nothing to answer
    const auto& req = parser_->get();
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->keep_alive(req.keep_alive());
    res->set(http::field::server, "objspy");
    const auto target = std::string(req.target().substr(0, req.target().find('?')));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "method not allowed\n";
    } else if (target == "/metrics") {
      res->result(http::status::ok);
      res->set(http::field::content_type, kContentType);
      res->body() = server_->metrics();
      if (server_->log) server_->log(fmt::format("scrape from {}", remote()));
    } else if (target == "/") {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/html; charset=utf-8");
      res->body() = "<html><head><title>objspy exporter</title></head><body><h1>objspy exporter</h1>"
                    "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";
    } else {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "not found: try /metrics\n";
    }
    res->prepare_payload();
    if (req.method() == http::verb::head) res->body().clear();  // Content-Length stays that of GET
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code wec, std::size_t) {
      if (wec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  std::string remote() const {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{16 * 1024};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<MetricsServer::Impl> server_;
};

}  // namespace

void MetricsServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (self->closed) return;
    if (!ec) {
      if (self->open >= kMaxConnections) {
        beast::error_code ignored;
        s.close(ignored);  // over the cap: refuse rather than queue
      } else {
        std::make_shared<Session>(std::move(s), self)->read();
      }
    }
    self->accept();
  });
}

Result<tcp::endpoint> parse_listen_address(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(Errc::usage, fmt::format("--listen {}: {} (expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)", text, why));
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) return bad("bad port");
  } catch (const std::exception&) {
    return bad("bad port");
  }
  if (host.empty()) host = "::";
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return bad("not an IP address");
  return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::listen(asio::io_context& io, const tcp::endpoint& at, Metrics metrics, Log log) {
  auto impl = std::make_shared<Impl>(io, std::move(metrics), std::move(log));
  beast::error_code ec;
  auto fail = [&](const char* what) {
    return make_error(Errc::io, fmt::format("cannot listen on {}:{}: {} failed: {}", at.address().to_string(), at.port(), what, ec.message()));
  };
  impl->acceptor.open(at.protocol(), ec);
  if (ec) return fail("socket");
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (at.address().is_v6()) impl->acceptor.set_option(asio::ip::v6_only(false), ec);  // "::" takes IPv4 too
  impl->acceptor.bind(at, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->accept();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() { close(); }

tcp::endpoint MetricsServer::local_endpoint() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

void MetricsServer::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace objspy::cli

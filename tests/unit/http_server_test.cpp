// The exporter's HTTP server on loopback, driven by a Beast client: routes, methods, request
// bodies refused, and the handler's text served as is.
#include <doctest/doctest.h>

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "objspy/cli/http_server.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using objspy::cli::MetricsServer;
using objspy::cli::parse_listen_address;

namespace {

http::response<http::string_body> request(const asio::ip::tcp::endpoint& at, http::verb verb, const std::string& target,
                                          const std::string& body = "") {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(at);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "localhost");
  if (!body.empty()) {
    req.body() = body;
    req.prepare_payload();
  }
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.skip(verb == http::verb::head);  // a HEAD response has a length but no body
  beast::error_code ec;
  http::read(stream, buf, parser, ec);
  auto res = parser.release();
  if (ec) res.result(http::status::unknown);
  return res;
}

}  // namespace

TEST_CASE("listen addresses") {
  CHECK(parse_listen_address("127.0.0.1:9464")->port() == 9464);
  CHECK(parse_listen_address("[::1]:0")->address().to_string() == "::1");
  CHECK(parse_listen_address("localhost:1")->address().to_string() == "127.0.0.1");
  CHECK(parse_listen_address(":9464")->address().is_v6());
  for (const char* bad : {"9464", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:9x", "example.com:80", ""}) {
    auto r = parse_listen_address(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == objspy::Errc::usage);
  }
}

TEST_CASE("the metrics server: /metrics, HEAD, 404, 405, bodies refused") {
  asio::io_context io;
  int scrapes = 0;
  auto server = MetricsServer::listen(io, *parse_listen_address("127.0.0.1:0"), [&] {
    ++scrapes;
    return std::string("objspy_up 1\n");
  });
  REQUIRE(server.ok());
  auto at = (*server)->local_endpoint();
  CHECK(at.port() != 0);
  std::thread loop([&] { io.run(); });

  auto r = request(at, http::verb::get, "/metrics");
  CHECK(r.result() == http::status::ok);
  CHECK(r.body() == "objspy_up 1\n");
  CHECK(r[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(request(at, http::verb::get, "/metrics?x=1").body() == "objspy_up 1\n");
  auto h = request(at, http::verb::head, "/metrics");
  CHECK(h.result() == http::status::ok);
  CHECK(h.body().empty());
  CHECK(h[http::field::content_length] == "12");
  CHECK(request(at, http::verb::get, "/").result() == http::status::ok);
  CHECK(request(at, http::verb::get, "/nope").result() == http::status::not_found);
  CHECK(request(at, http::verb::delete_, "/metrics").result() == http::status::method_not_allowed);
  CHECK(request(at, http::verb::post, "/metrics", "x=1").result() == http::status::unknown);  // a body: dropped, not read
  // A second server on the same address is refused with the reason.
  auto again = MetricsServer::listen(io, at, [] { return std::string(); });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == objspy::Errc::io);
  CHECK(again.error().message.find("cannot listen on 127.0.0.1") != std::string::npos);

  asio::post(io, [&] { (*server)->close(); io.stop(); });
  loop.join();
  CHECK(scrapes >= 2);
}

// The exporter's HTTP: the request parser and responses as pure functions, then the server on
// loopback, driven by a Beast client (routes, methods, request bodies refused, the handler's
// text served as is) and by raw sockets that misbehave (slow, endless, too many, a flood).
#include <doctest/doctest.h>

#include <future>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "../flood_client.hpp"
#include "objspy/cli/http_request.hpp"
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
  CHECK(request(at, http::verb::post, "/metrics", "x=1").result() == http::status::method_not_allowed);  // its body never read
  // A second server on the same address is refused with the reason.
  auto again = MetricsServer::listen(io, at, [] { return std::string(); });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == objspy::Errc::io);
  CHECK(again.error().message.find("cannot listen on 127.0.0.1") != std::string::npos);

  asio::post(io, [&] { (*server)->close(); io.stop(); });
  loop.join();
  CHECK(scrapes >= 2);
}

namespace {

namespace oh = objspy::cli::http;
using objspy::cli::ServerLimits;
using Clock = std::chrono::steady_clock;

std::string metrics_text() { return "objspy_up 1\n"; }

// A server with `limits` on its own io thread, closed at the end of the test.
struct LoopServer {
  explicit LoopServer(ServerLimits limits) {
    auto s = MetricsServer::listen(io, *parse_listen_address("127.0.0.1:0"), metrics_text, {}, limits);
    REQUIRE(s.ok());
    server = std::move(*s);
    addr = flood::loopback("127.0.0.1", server->local_endpoint().port());
    loop = std::thread([this] { io.run(); });
  }
  ~LoopServer() {
    asio::post(io, [this] {
      server->close();
      io.stop();
    });
    loop.join();
  }
  MetricsServer::Stats stats() {
    std::promise<MetricsServer::Stats> p;
    asio::post(io, [&] { p.set_value(server->stats()); });
    return p.get_future().get();
  }
  // Until the server has `n` connections open (bounded: 5 s).
  bool wait_open(std::size_t n) {
    for (auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
      if (stats().open == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  asio::io_context io;
  std::unique_ptr<MetricsServer> server;
  sockaddr_in addr{};
  std::thread loop;
};

// A connected blocking socket from `from`, or -1.
int connect_from(const sockaddr_in& to, const char* from) {
  int fd = flood::start_connect(to, from);
  if (fd < 0) return -1;
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 2000) != 1 || (p.revents & (POLLERR | POLLHUP))) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// Whether the server closed `fd` within `seconds` (what it sent before is put in `got`).
bool closed_within(int fd, double seconds, std::string* got = nullptr) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) != 1) return false;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
    if (got) got->append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

TEST_CASE("request heads: where they end, complete, incomplete, pipelined, too large, malformed") {
  CHECK(oh::header_end("GET / HTTP/1.1\r\nHost: x\r\n") == std::string::npos);
  CHECK(oh::header_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET") == 27);
  CHECK(oh::header_end("GET / HTTP/1.1\n\nX") == 16);
  const std::string two = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\n\r\n";
  CHECK(oh::header_end(two, 20) == 34);  // resumed search finds the same end
  auto h = oh::parse_request_head(two, 8192);
  REQUIRE(h.status == oh::HeadStatus::complete);
  CHECK(h.size == 34);
  CHECK(h.request.method == "GET");
  CHECK(h.request.target == "/metrics");
  CHECK(h.request.version == 11);
  CHECK(h.request.keep_alive);
  CHECK_FALSE(h.request.has_body);
  auto second = oh::parse_request_head(std::string_view(two).substr(h.size), 8192);
  REQUIRE(second.status == oh::HeadStatus::complete);
  CHECK(second.request.method == "HEAD");

  CHECK(oh::parse_request_head("", 8192).status == oh::HeadStatus::incomplete);
  CHECK(oh::parse_request_head("GET /metrics HTTP/1.1\r\nHost: x\r\n", 8192).status == oh::HeadStatus::incomplete);
  const std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  CHECK(oh::parse_request_head(endless, 8192).status == oh::HeadStatus::too_large);
  CHECK(oh::parse_request_head(endless + "\r\n\r\n", 8192).status == oh::HeadStatus::too_large);  // ends, but too late
  CHECK(oh::parse_request_head(std::string(8192, 'a'), 8192).status == oh::HeadStatus::too_large);
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\n\n", "GET / HTTP/1.1\r\nNo colon\r\n\r\n", "GET / FTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          "\r\n\r\n"}) {
    CAPTURE(bad);
    auto m = oh::parse_request_head(bad, 8192);
    CHECK(m.status == oh::HeadStatus::malformed);
    CHECK_FALSE(m.why.empty());
  }
  auto body = oh::parse_request_head("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1", 8192);
  REQUIRE(body.status == oh::HeadStatus::complete);
  CHECK(body.request.has_body);
  CHECK(oh::parse_request_head("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 8192).request.has_body);
  CHECK_FALSE(oh::parse_request_head("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 8192).request.has_body);
  auto old = oh::parse_request_head("GET / HTTP/1.0\r\n\r\n", 8192);
  CHECK(old.request.version == 10);
  CHECK_FALSE(old.request.keep_alive);
  CHECK(oh::parse_request_head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 8192).request.keep_alive);
  CHECK_FALSE(oh::parse_request_head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 8192).request.keep_alive);
}

TEST_CASE("responses: routes, HEAD, methods, bodies, versions, keep-alive") {
  int calls = 0;
  auto metrics = [&] {
    ++calls;
    return std::string("objspy_up 1\n");
  };
  auto answer = [&](const std::string& req) { return oh::respond(oh::parse_request_head(req, 8192), metrics); };
  auto get = answer("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(get.status == 200);
  CHECK(get.scrape);
  CHECK_FALSE(get.close);
  CHECK(get.bytes.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(get.bytes.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != std::string::npos);
  CHECK(get.bytes.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(get.bytes.find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(get.bytes.ends_with("\r\n\r\nobjspy_up 1\n"));
  auto head = answer("HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.bytes.find("Content-Length: 12\r\n") != std::string::npos);
  CHECK(head.bytes.ends_with("\r\n\r\n"));  // no body
  CHECK(calls == 2);
  CHECK(answer("GET / HTTP/1.1\r\n\r\n").bytes.find("<a href=\"/metrics\">") != std::string::npos);
  CHECK(answer("GET /nope HTTP/1.1\r\n\r\n").status == 404);
  auto del = answer("DELETE /metrics HTTP/1.1\r\n\r\n");
  CHECK(del.status == 405);
  CHECK(del.bytes.find("Allow: GET, HEAD\r\n") != std::string::npos);
  CHECK_FALSE(del.close);
  auto post = answer("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1");
  CHECK(post.status == 405);
  CHECK(post.close);  // its body was not read: the connection cannot go on
  auto get_body = answer("GET /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1");
  CHECK(get_body.status == 400);
  CHECK(get_body.close);
  auto head_body = answer("HEAD /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1");
  CHECK(head_body.status == 400);
  CHECK(head_body.bytes.ends_with("\r\n\r\n"));  // an answer to HEAD never has a body (found by the fuzzer)
  CHECK(calls == 2);  // none asked for the metrics
  auto v10 = answer("GET /metrics HTTP/1.0\r\n\r\n");
  CHECK(v10.close);
  CHECK(v10.bytes.find("Connection: close\r\n") != std::string::npos);
  CHECK(answer("GET / HTTP/1.2\r\n\r\n").status == 400);  // the parser takes HTTP/1.0 and 1.1 only
  CHECK(answer("GET / HTTP/2.0\r\n\r\n").status == 400);
  CHECK(answer("GARBAGE\r\n\r\n").status == 400);
  auto big = answer("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'));
  CHECK(big.status == 431);
  CHECK(big.close);
  CHECK(big.bytes.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
}

TEST_CASE("responses: an extra route (the agent's /pprof) answers its path with its query; the rest stays 404") {
  auto metrics = [] { return std::string("objspy_up 1\n"); };
  std::string seen_query;
  oh::Extra extra = [&](std::string_view path, std::string_view query) -> std::optional<oh::Document> {
    if (path != "/pprof") return std::nullopt;
    seen_query = std::string(query);
    if (query == "pid=bad") return oh::Document{"text/plain; charset=utf-8", "pid= takes a PID\n", 400};
    return oh::Document{"application/octet-stream", std::string("\x1f\x8b\x08", 3), 200};
  };
  auto answer = [&](const std::string& req) { return oh::respond(oh::parse_request_head(req, 8192), metrics, extra); };
  auto p = answer("GET /pprof?pid=12 HTTP/1.1\r\n\r\n");
  CHECK(p.status == 200);
  CHECK_FALSE(p.scrape);
  CHECK(seen_query == "pid=12");
  CHECK(p.bytes.find("Content-Type: application/octet-stream\r\n") != std::string::npos);
  CHECK(p.bytes.ends_with(std::string("\r\n\r\n\x1f\x8b\x08", 7)));
  CHECK(answer("GET /pprof?pid=bad HTTP/1.1\r\n\r\n").status == 400);
  CHECK(answer("HEAD /pprof HTTP/1.1\r\n\r\n").bytes.ends_with("\r\n\r\n"));
  CHECK(answer("GET /other HTTP/1.1\r\n\r\n").status == 404);
  CHECK(answer("GET /metrics HTTP/1.1\r\n\r\n").scrape);
}

TEST_CASE("a request header must arrive whole within the deadline: a byte now and then does not extend it") {
  ServerLimits limits;
  limits.request_deadline = std::chrono::milliseconds(400);
  LoopServer s(limits);
  int fd = connect_from(s.addr, "127.0.0.1");
  REQUIRE(fd >= 0);
  const auto start = Clock::now();
  const std::string start_of_request = "GET /metrics HTTP/1.1\r\nX-Slow: ";
  REQUIRE(send(fd, start_of_request.data(), start_of_request.size(), MSG_NOSIGNAL) > 0);
  bool closed = false;
  std::string got;
  for (int i = 0; i < 40 && !closed; ++i) {  // a byte every 50 ms, for up to 2 s
    send(fd, "a", 1, MSG_NOSIGNAL);
    closed = closed_within(fd, 0.05, &got);
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  CHECK(closed);
  CHECK(got.empty());  // closed without an answer
  CHECK(took >= 0.35);
  CHECK(took < 1.0);
  CHECK(s.stats().timed_out == 1);
  // A client that sends its request at once is answered, and a kept-alive connection gets a
  // new deadline for its next request.
  auto r = flood::scrape(s.addr, "127.0.0.1");
  CHECK(r.answered);
  CHECK(r.status == 200);
}

TEST_CASE("an endless header is answered 431 and the connection closed; a pipelined pair answered in order") {
  LoopServer s(ServerLimits{});
  int fd = connect_from(s.addr, "127.0.0.1");
  REQUIRE(fd >= 0);
  std::string got;
  bool closed = false;
  const std::string line = "X-Pad: " + std::string(1000, 'p') + "\r\n";
  send(fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
  for (int i = 0; i < 100 && !closed; ++i) {
    send(fd, line.data(), line.size(), MSG_NOSIGNAL);  // fails once the server is gone: fine
    closed = closed_within(fd, 0.01, &got);
  }
  if (!closed) closed = closed_within(fd, 2, &got);
  close(fd);
  CHECK(closed);
  CHECK(got.rfind("HTTP/1.1 431 ", 0) == 0);

  fd = connect_from(s.addr, "127.0.0.1");
  REQUIRE(fd >= 0);
  const std::string two = "GET /metrics HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n";
  send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  got.clear();
  CHECK(closed_within(fd, 2, &got));
  close(fd);
  auto first = got.find("HTTP/1.1 200 OK"), second = got.find("HTTP/1.1 404 Not Found");
  CHECK(first == 0);
  CHECK(second != std::string::npos);
  CHECK(second > first);
}

TEST_CASE("over the per-client cap, the client's longest waiting connection makes room; other clients keep theirs") {
  ServerLimits limits;
  limits.max_per_client = 3;
  LoopServer s(limits);
  std::vector<int> a;
  for (int i = 0; i < 3; ++i) {
    a.push_back(connect_from(s.addr, "127.0.0.2"));
    REQUIRE(a.back() >= 0);
    REQUIRE(s.wait_open(a.size()));  // accepted in this order
  }
  int b = connect_from(s.addr, "127.0.0.3");
  REQUIRE(b >= 0);
  REQUIRE(s.wait_open(4));
  auto r = flood::scrape(s.addr, "127.0.0.2");  // a scrape from the full client gets in
  CHECK(r.answered);
  CHECK(r.status == 200);
  CHECK(r.body == "objspy_up 1\n");
  CHECK(closed_within(a[0], 1));
  CHECK_FALSE(closed_within(a[1], 0.1));
  CHECK_FALSE(closed_within(a[2], 0.1));
  CHECK_FALSE(closed_within(b, 0.1));
  CHECK(s.stats().evicted_client_cap == 1);
  for (int fd : a) close(fd);
  close(b);
}

TEST_CASE("over the total cap, the client holding the most connections gives up its longest waiting one") {
  ServerLimits limits;
  limits.max_connections = 4;
  LoopServer s(limits);
  std::vector<int> a;
  for (int i = 0; i < 3; ++i) {
    a.push_back(connect_from(s.addr, "127.0.0.2"));
    REQUIRE(s.wait_open(a.size()));
  }
  int b = connect_from(s.addr, "127.0.0.3");
  REQUIRE(s.wait_open(4));
  int c = connect_from(s.addr, "127.0.0.4");
  CHECK(closed_within(a[0], 1));
  REQUIRE(s.wait_open(4));
  CHECK_FALSE(closed_within(b, 0.1));
  CHECK_FALSE(closed_within(c, 0.1));
  CHECK_FALSE(closed_within(a[1], 0.1));
  auto r = flood::scrape(s.addr, "127.0.0.3");
  CHECK(r.status == 200);
  CHECK(closed_within(a[1], 1));  // 127.0.0.2 still held the most
  CHECK_FALSE(closed_within(b, 0.1));
  CHECK(s.stats().evicted_total_cap == 2);
  for (int fd : a) close(fd);
  close(b);
  close(c);
}

TEST_CASE("a flood of slow clients far over the caps: every scrape, from the flooding address or another, answered within a second") {
  ServerLimits limits;
  limits.max_connections = 64;
  limits.max_per_client = 32;
  limits.request_deadline = std::chrono::milliseconds(500);
  LoopServer s(limits);
  flood::SlowFlood attack(s.addr, 200, "127.0.0.2");
  for (auto until = Clock::now() + std::chrono::seconds(5); attack.connects() < 400 && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(attack.connects() >= 400);  // the flood is on: connections are being pushed out and renewed
  double slowest = 0;
  int again = 0;
  for (int i = 0; i < 20; ++i) {
    const bool flooding = i % 2;
    auto r = flood::scrape(s.addr, flooding ? "127.0.0.2" : "127.0.0.1");
    CAPTURE(i);
    CAPTURE(r.why);
    // From the flooding address a scrape's connection is the newest of its client; if the
    // scraper is descheduled between its connect and its request for as long as 32 of the
    // flood's connections take to arrive (a millisecond or two here), the cap pushes it out,
    // as it must: it cannot yet be told from the flood. Prometheus would try again at the next
    // scrape; the test tries once more, and allows that for a few scrapes only.
    if (flooding && !r.answered && again < 3) {
      ++again;
      MESSAGE("scrape " << i << " from the flooding address pushed out (" << r.why << "): once more");
      r = flood::scrape(s.addr, "127.0.0.2");
    }
    CHECK(r.answered);
    CHECK(r.status == 200);
    CHECK(r.seconds < 1.0);
    slowest = std::max(slowest, r.seconds);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto st = s.stats();
  MESSAGE("slowest scrape " << slowest * 1000 << " ms; flood connects " << attack.connects() << "; server: " << st.evicted_client_cap
                            << " pushed out by the per-client cap, " << st.timed_out << " timed out, " << st.open << " open");
  CHECK(st.evicted_client_cap > 0);
  CHECK(st.open <= 64);
}

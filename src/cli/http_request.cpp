#include "objspy/cli/http_request.hpp"

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
// GCC 12 at -O2 with ASan takes a boost::optional inside Beast's parser for maybe
// uninitialized: a false positive in the library's code, not in this file's.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/beast/http/parser.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <fmt/format.h>

namespace objspy::cli::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
  }
  return "Error";
}

Response make(int status, const char* type, std::string body, bool close, bool head_only, const char* extra = "") {
  Response r;
  r.status = status;
  r.close = close;
  r.bytes = fmt::format("HTTP/1.1 {} {}\r\nServer: objspy\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: {}\r\n\r\n", status,
                        reason(status), type, body.size(), extra, close ? "close" : "keep-alive");
  if (!head_only) r.bytes += body;  // HEAD: the length GET would have, no body
  return r;
}

}  // namespace

std::size_t header_end(std::string_view received, std::size_t from) {
  for (std::size_t i = received.find('\n', from); i != std::string_view::npos; i = received.find('\n', i + 1)) {
    if (i + 1 < received.size() && received[i + 1] == '\n') return i + 2;
    if (i + 2 < received.size() && received[i + 1] == '\r' && received[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

Head parse_request_head(std::string_view received, std::size_t max_bytes) {
  Head h;
  const std::size_t end = header_end(received);
  if (end == std::string_view::npos) {
    h.status = received.size() >= max_bytes ? HeadStatus::too_large : HeadStatus::incomplete;
    return h;
  }
  if (end > max_bytes) {
    h.status = HeadStatus::too_large;
    return h;
  }
  bhttp::request_parser<bhttp::empty_body> p;
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max_bytes, UINT32_MAX)));
  p.eager(false);  // the header only: a body, if announced, is never read
  beast::error_code ec;
  std::string_view rest = received.substr(0, end);
  while (!p.is_header_done() && !rest.empty()) {
    const std::size_t used = p.put(asio::buffer(rest.data(), rest.size()), ec);
    if (ec || used == 0) break;
    rest.remove_prefix(used);
  }
  if (ec || !p.is_header_done()) {
    h.status = HeadStatus::malformed;
    h.why = ec ? ec.message() : "the header does not end where its blank line is";
    return h;
  }
  const auto& req = p.get();
  h.status = HeadStatus::complete;
  h.size = end;
  h.request.method = std::string(req.method_string());
  h.request.target = std::string(req.target());
  h.request.version = req.version();
  h.request.keep_alive = req.keep_alive();
  // After the header the parser is done unless a body follows (chunked, or a length above 0).
  h.request.has_body = !p.is_done();
  return h;
}

Response respond(const Head& head, const std::function<std::string()>& metrics, const Extra& extra) {
  if (head.status == HeadStatus::too_large) return make(431, kTextType, "request header too large\n", true, false);
  if (head.status != HeadStatus::complete) return make(400, kTextType, "bad request\n", true, false);
  const Request& req = head.request;
  const bool get = req.method == "GET", head_only = req.method == "HEAD";
  // A body is never read: the connection must end after the answer, or the body would be
  // taken for the next request.
  const bool close = !req.keep_alive || req.has_body;
  if (!get && !head_only) return make(405, kTextType, "method not allowed\n", close, false, "Allow: GET, HEAD\r\n");
  if (req.has_body) return make(400, kTextType, "a GET or HEAD request has no body\n", true, head_only);
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (path == "/metrics") {
    Response r = make(200, kMetricsType, metrics(), close, head_only);
    r.scrape = true;
    return r;
  }
  if (path == "/")
    return make(200, "text/html; charset=utf-8",
                "<html><head><title>objspy exporter</title></head><body><h1>objspy exporter</h1>"
                "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
                close, head_only);
  if (extra) {
    const std::size_t q = req.target.find('?');
    const std::string_view query = q == std::string::npos ? std::string_view{} : std::string_view(req.target).substr(q + 1);
    if (auto doc = extra(path, query)) return make(doc->status, doc->type.c_str(), std::move(doc->body), close, head_only);
  }
  return make(404, kTextType, "not found: try /metrics\n", close, head_only);
}

}  // namespace objspy::cli::http

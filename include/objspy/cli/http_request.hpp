// The exporter's HTTP, without sockets: where a request header ends, what it asks for, and
// the whole response to it. Pure functions of bytes, so the unit tests and the fuzzer reach
// every case a client can send.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace objspy::cli::http {

struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // e.g. "/metrics?x=1"
  unsigned version = 11;  // 10 for HTTP/1.0, 11 for HTTP/1.1 (the parser takes no other)
  bool keep_alive = false;
  bool has_body = false;  // Content-Length above 0 or chunked: objspy reads no request body
};

enum class HeadStatus {
  incomplete,  // no blank line yet, and under the size limit: read more
  complete,    // `request` and `size` are set
  too_large,   // no end within max_bytes: 431
  malformed,   // a header objspy cannot take: 400
};

struct Head {
  HeadStatus status = HeadStatus::incomplete;
  std::size_t size = 0;  // bytes of the header with its blank line (complete only)
  Request request;       // complete only
  std::string why;       // malformed only: the parser's reason
};

// Where the header at the start of `received` ends: just past its first empty line ("\r\n\r\n",
// or "\n\n", which the parser then refuses), or npos. The search starts at `from`, so a
// connection that receives a byte at a time scans each byte once.
std::size_t header_end(std::string_view received, std::size_t from = 0);

// The request header at the start of `received` (the bytes a connection sent so far; what
// follows the header, a pipelined request, is left alone). A header longer than `max_bytes`
// is too_large however it ends.
Head parse_request_head(std::string_view received, std::size_t max_bytes);

struct Response {
  std::string bytes;   // status line, header fields, body
  int status = 0;
  bool close = false;  // close the connection after sending it
  bool scrape = false; // it carries the metrics
};

// The answer to a head that is complete, too_large or malformed: GET or HEAD of /metrics
// (the text `metrics` gives, called only then), of / (a short page), anything else 404; other
// methods 405; a GET or HEAD with a body, a malformed request (also any HTTP version but 1.0
// and 1.1) 400; too_large 431. Every answer but a kept-alive one says "Connection: close".
// A path the server serves besides /metrics (the agent's /pprof): the body and its type for
// the request target (path and query), or nullopt for 404.
struct Document {
  std::string type;
  std::string body;
  int status = 200;
};
using Extra = std::function<std::optional<Document>(std::string_view path, std::string_view query)>;
Response respond(const Head& head, const std::function<std::string()>& metrics, const Extra& extra = {});

}  // namespace objspy::cli::http

// The exporter's HTTP request parser and responses over arbitrary bytes. The first byte picks
// the header size limit (64 to 16,384 bytes), the rest is what a client sent. Checked: the
// parse agrees with where the header ends (also when the search resumes, as a connection
// does read by read), a complete head parses the same without what follows it, and every
// answer is one well-formed HTTP response that closes the connection unless the request was
// fully understood.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "objspy/cli/http_request.hpp"

namespace http = objspy::cli::http;
namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max = 64 + static_cast<std::size_t>(data[0]) * 64;
  const std::string_view received(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t end = http::header_end(received);

  // Resuming the search two bytes before the old end of the data finds the same end.
  for (std::size_t k : {received.size() / 2, received.size() / 3, std::size_t{1}}) {
    if (k > received.size() || http::header_end(received.substr(0, k)) != std::string_view::npos) continue;
    if (http::header_end(received, k >= 2 ? k - 2 : 0) != end) std::abort();
  }

  const http::Head head = http::parse_request_head(received, max);
  switch (head.status) {
    case http::HeadStatus::incomplete:
      if (end != std::string_view::npos || received.size() >= max) std::abort();
      return 0;  // nothing to answer yet
    case http::HeadStatus::too_large:
      if (!(end == std::string_view::npos ? received.size() >= max : end > max)) std::abort();
      break;
    case http::HeadStatus::malformed:
      if (end == std::string_view::npos || end > max || head.why.empty()) std::abort();
      break;
    case http::HeadStatus::complete: {
      if (head.size != end || head.size > max || head.size > received.size()) std::abort();
      const http::Head alone = http::parse_request_head(received.substr(0, head.size), max);
      if (alone.status != http::HeadStatus::complete || alone.request.method != head.request.method ||
          alone.request.target != head.request.target || alone.request.keep_alive != head.request.keep_alive ||
          alone.request.has_body != head.request.has_body)
        std::abort();
      if (head.request.version != 10 && head.request.version != 11) std::abort();
      // Short of its blank line, the same bytes are not a request yet.
      if (http::parse_request_head(received.substr(0, head.size - 1), max).status == http::HeadStatus::complete) std::abort();
      break;
    }
  }

  int metrics_calls = 0;
  const http::Response r = http::respond(head, [&] {
    ++metrics_calls;
    return std::string("objspy_up 1\n");
  });
  if (r.scrape != (metrics_calls == 1) || metrics_calls > 1) std::abort();
  if (head.status != http::HeadStatus::complete && !r.close) std::abort();
  if (head.status == http::HeadStatus::complete && head.request.has_body && !r.close) std::abort();
  bhttp::response_parser<bhttp::string_body> p;
  p.skip(head.status == http::HeadStatus::complete && head.request.method == "HEAD");
  p.eager(true);
  boost::beast::error_code ec;
  std::string_view rest = r.bytes;
  while (!rest.empty() && !p.is_done()) {
    const std::size_t used = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec || used == 0) std::abort();
    rest.remove_prefix(used);
  }
  if (!p.is_done() || !rest.empty()) std::abort();
  if (p.get().result_int() != static_cast<unsigned>(r.status)) std::abort();
  if (p.get().keep_alive() == r.close) std::abort();
  return 0;
}

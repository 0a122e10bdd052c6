#include "objspy/cli/http_server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <list>
#include <map>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "objspy/cli/http_request.hpp"

namespace objspy::cli {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class HttpConnection;

namespace {

// Connections are grouped by client: an IPv4 address (IPv4-mapped IPv6 too), or the /64 of
// an IPv6 address, since one host usually has a whole /64 to pick addresses from.
std::string client_key(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return std::string(b.begin(), b.end());
  }
  auto b = a.to_v6().to_bytes();
  return std::string(b.begin(), b.begin() + 8);
}

constexpr auto kNoteEvery = std::chrono::seconds(10);

}  // namespace

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
  Impl(asio::io_context& io, Metrics m, Log l, ServerLimits lim)
      : acceptor(io), retry(io), metrics(std::move(m)), log(std::move(l)), limits(lim) {
    limits.max_connections = std::max<std::size_t>(limits.max_connections, 1);
    limits.max_per_client = std::max<std::size_t>(limits.max_per_client, 1);
    limits.max_header_bytes = std::max<std::size_t>(limits.max_header_bytes, 64);
  }

  // Oldest wait first: a connection moves to the back when it is accepted and whenever it
  // starts to wait for a request or to send a response.
  using Group = std::list<std::shared_ptr<HttpConnection>>;

  tcp::acceptor acceptor;
  asio::steady_timer retry;  // accepting again after an error
  Metrics metrics;
  http::Extra extra;
  Log log;
  ServerLimits limits;
  bool closed = false;
  std::map<std::string, Group> clients;
  Stats stats;
  Stats noted;  // as of the last note in the log
  std::chrono::steady_clock::time_point noted_at{};
  // Every read lands here first, so a connection holds only the bytes it was sent.
  std::array<char, 16 * 1024> scratch{};

  void accept();
  void admit(tcp::socket s);
  bool evict_from_largest();
  void forget(HttpConnection& s);
  void to_back(HttpConnection& s);
  void note_drops();
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket s, std::shared_ptr<MetricsServer::Impl> server, std::string key, std::string peer)
      : socket_(std::move(s)), timer_(socket_.get_executor()), server_(std::move(server)), key_(std::move(key)), peer_(std::move(peer)) {}

  const std::string& key() const { return key_; }
  MetricsServer::Impl::Group::iterator where;

  void start() {
    error_code ec;
    socket_.non_blocking(true, ec);  // reads are tried when the socket is readable, never waited on
    arm(server_->limits.request_deadline);
    next();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    auto keep = shared_from_this();  // the server's list may hold the last reference
    server_->forget(*this);
    error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

 private:
  enum class Phase { reading, writing, lingering };

  void arm(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](const error_code& ec) {
      if (ec || self->closed_ || gen != self->timer_gen_) return;
      if (self->phase_ != Phase::lingering) {
        ++self->server_->stats.timed_out;
        self->server_->note_drops();
      }
      self->close();
    });
  }

  // Answer the request in `received_` if its header is whole, else wait for more of it.
  void next() {
    const std::size_t max = server_->limits.max_header_bytes;
    if (http::header_end(received_, scanned_) == std::string::npos) {
      scanned_ = received_.size() >= 2 ? received_.size() - 2 : 0;  // a blank line may span two reads
      if (received_.size() >= max) return send(http::respond(http::Head{http::HeadStatus::too_large, 0, {}, {}}, server_->metrics, server_->extra), 0);
      return wait_readable();
    }
    const http::Head head = http::parse_request_head(received_, max);
    send(http::respond(head, server_->metrics, server_->extra), head.size);
  }

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      if (ec || self->closed_) return;
      self->on_readable();
    });
  }

  void on_readable() {
    auto& buf = server_->scratch;
    std::size_t room = buf.size();
    if (phase_ == Phase::reading) room = std::min(room, server_->limits.max_header_bytes - received_.size());
    error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(buf.data(), room), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
    if (ec) return close();  // the client closed or reset: nothing to answer
    if (phase_ == Phase::lingering) return wait_readable();  // dropped until the client closes or the linger ends
    received_.append(buf.data(), n);
    next();
  }

  void send(http::Response r, std::size_t consumed) {
    auto& st = server_->stats;
    ++st.answered;
    if (r.status == 400 || r.status == 431) {
      ++st.bad_requests;
      server_->note_drops();
    }
    if (r.scrape && server_->log) server_->log(fmt::format("scrape from {}", peer_));
    phase_ = Phase::writing;
    out_ = std::move(r.bytes);
    close_after_ = r.close;
    consumed_ = consumed;
    arm(server_->limits.write_deadline);
    server_->to_back(*this);
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->close();
      self->sent();
    });
  }

  void sent() {
    out_ = std::string();  // the metrics text can be large: not kept while idle
    if (close_after_) return linger();
    received_.erase(0, consumed_);  // a pipelined request may follow
    scanned_ = 0;
    phase_ = Phase::reading;
    arm(server_->limits.request_deadline);
    server_->to_back(*this);
    next();
  }

  // Closing right away while the client still sends (an endless header, a body) would reset
  // the connection and could destroy the answer before the client reads it: say we are done,
  // then read and drop what comes until the client closes, for a short while.
  void linger() {
    phase_ = Phase::lingering;
    received_ = std::string();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    arm(server_->limits.linger);
    wait_readable();
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<MetricsServer::Impl> server_;
  std::string key_, peer_;
  Phase phase_ = Phase::reading;
  std::string received_;    // the request being read (and any pipelined after it)
  std::size_t scanned_ = 0; // where the search for the header's end resumes
  std::string out_;         // the response being sent
  bool close_after_ = false;
  std::size_t consumed_ = 0;
  unsigned timer_gen_ = 0;
  bool closed_ = false;
};

void MetricsServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket s) {
    if (self->closed) return;
    if (!ec) {
      self->admit(std::move(s));
      return self->accept();
    }
    // Out of file descriptors (a limit below the caps): free one if there is one to free;
    // any other error: try again shortly rather than spin on it.
    if ((ec == asio::error::no_descriptors || ec.value() == ENFILE) && self->evict_from_largest()) {
      ++self->stats.evicted_total_cap;
      return self->accept();
    }
    self->retry.expires_after(std::chrono::milliseconds(20));
    self->retry.async_wait([self](const error_code& rec) {
      if (!rec && !self->closed) self->accept();
    });
  });
}

void MetricsServer::Impl::admit(tcp::socket s) {
  error_code ec;
  const auto peer = s.remote_endpoint(ec);
  if (ec) return;  // already gone
  std::string key = client_key(peer.address());
  if (auto it = clients.find(key); it != clients.end() && it->second.size() >= limits.max_per_client) {
    it->second.front()->close();  // this client's longest wait
    ++stats.evicted_client_cap;
    note_drops();
  }
  if (stats.open >= limits.max_connections && evict_from_largest()) {
    ++stats.evicted_total_cap;
    note_drops();
  }
  const std::string where = peer.address().is_v6() ? fmt::format("[{}]:{}", peer.address().to_string(), peer.port())
                                                   : fmt::format("{}:{}", peer.address().to_string(), peer.port());
  auto session = std::make_shared<HttpConnection>(std::move(s), shared_from_this(), key, where);
  auto& group = clients[key];
  session->where = group.insert(group.end(), session);
  ++stats.open;
  ++stats.accepted;
  session->start();
}

bool MetricsServer::Impl::evict_from_largest() {
  Group* largest = nullptr;
  for (auto& [key, group] : clients)
    if (!group.empty() && (!largest || group.size() > largest->size())) largest = &group;
  if (!largest) return false;
  largest->front()->close();
  return true;
}

void MetricsServer::Impl::forget(HttpConnection& s) {
  auto it = clients.find(s.key());
  if (it == clients.end()) return;
  it->second.erase(s.where);
  if (it->second.empty()) clients.erase(it);
  --stats.open;
}

void MetricsServer::Impl::to_back(HttpConnection& s) {
  auto& group = clients[s.key()];
  group.splice(group.end(), group, s.where);
}

// With -v: at most one line every few seconds on connections closed for misbehaving, so a
// flood shows in the log without flooding it.
void MetricsServer::Impl::note_drops() {
  if (!log) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - noted_at < kNoteEvery) return;
  log(fmt::format("HTTP connections closed since the last note: {} over the per-client cap, {} over the total cap, {} too slow, {} bad "
                  "requests; {} open",
                  stats.evicted_client_cap - noted.evicted_client_cap, stats.evicted_total_cap - noted.evicted_total_cap,
                  stats.timed_out - noted.timed_out, stats.bad_requests - noted.bad_requests, stats.open));
  noted = stats;
  noted_at = now;
}

std::string fit_open_file_limit(ServerLimits& limits) {
  // objspy's own files: the listener, stdio, /proc files and ELF images read for a census.
  constexpr rlim_t kReserve = 64;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  const rlim_t want = static_cast<rlim_t>(limits.max_connections) + kReserve;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return {};
  limits.max_connections = rl.rlim_cur > kReserve + 16 ? static_cast<std::size_t>(rl.rlim_cur - kReserve) : 16;
  limits.max_per_client = std::max<std::size_t>(1, std::min(limits.max_per_client, limits.max_connections / 2));
  return fmt::format("the open file limit is {} (hard limit): serving at most {} HTTP connections", rl.rlim_cur, limits.max_connections);
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
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return bad("not an IP address");
  return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::listen(asio::io_context& io, const tcp::endpoint& at, Metrics metrics, Log log,
                                                             ServerLimits limits, http::Extra extra) {
  auto impl = std::make_shared<Impl>(io, std::move(metrics), std::move(log), limits);
  impl->extra = std::move(extra);
  error_code ec;
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
  error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

MetricsServer::Stats MetricsServer::stats() const { return impl_->stats; }

void MetricsServer::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  error_code ec;
  impl_->acceptor.close(ec);
  impl_->retry.cancel();
  std::vector<std::shared_ptr<HttpConnection>> all;
  for (auto& [key, group] : impl_->clients) all.insert(all.end(), group.begin(), group.end());
  for (auto& s : all) s->close();
}

}  // namespace objspy::cli

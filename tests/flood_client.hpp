// Test support shared by the unit and integration tests of the exporter's HTTP server: a
// flood of slow clients, each reconnected as soon as the server closes it, and a plain
// scrape over a raw socket that measures how long the answer took. POSIX sockets only, so
// what is measured is the server, not a client library.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace flood {

using Clock = std::chrono::steady_clock;

// The soft limit of open files raised to the hard one: a flood needs hundreds of sockets.
inline void raise_open_file_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

inline sockaddr_in loopback(const char* ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// A non-blocking socket bound to `from` (any 127.x.y.z is this host) and connecting to `to`;
// -1 if no socket could be had.
inline int start_connect(const sockaddr_in& to, const char* from) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src = loopback(from, 0);
  // The port is chosen by connect, against whole address pairs: a flood from one address goes
  // through the ephemeral ports within seconds, and a port chosen at bind can be refused.
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0 ||
      (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

struct Scrape {
  bool answered = false;  // a whole response came back (the server closed after it)
  int status = 0;
  std::string body;
  double seconds = 0;  // connect to the last byte
  std::string why;     // when not answered: what happened, for the test's message
};

// GET `path` with "Connection: close", from `from`; gives up after `timeout_s`.
inline Scrape scrape(const sockaddr_in& to, const char* from, const std::string& path = "/metrics", double timeout_s = 5) {
  Scrape s;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  auto left_ms = [&] { return static_cast<int>(std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count())); };
  int fd = start_connect(to, from);
  if (fd < 0) {
    s.why = std::string("no connection: ") + std::strerror(errno);
    return s;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: objspy\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  std::string got;
  bool eof = false;
  while (!eof && Clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < req.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, left_ms()) <= 0) {
      s.why = "no answer in time";
      break;
    }
    if ((p.revents & POLLOUT) && sent < req.size()) {
      ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      else if (errno != EAGAIN) {
        s.why = "send after " + std::to_string(sent) + " bytes: " + std::strerror(errno);
        break;
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      else if (n == 0) eof = true;
      else if (errno != EAGAIN) {
        s.why = "recv after sending " + std::to_string(sent) + " bytes: " + std::strerror(errno);
        break;
      }
    }
  }
  close(fd);
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto head_end = got.find("\r\n\r\n");
  if (eof && got.rfind("HTTP/1.1 ", 0) == 0 && head_end != std::string::npos) {
    s.answered = true;
    s.status = std::atoi(got.c_str() + 9);
    s.body = got.substr(head_end + 4);
  } else if (s.why.empty()) {
    s.why = "closed after sending " + std::to_string(sent) + " bytes, " + std::to_string(got.size()) + " received";
  }
  return s;
}

// `n` connections from `from` that never finish a request: a quarter never send anything, a
// quarter send the start of a request and then a byte every 200 ms, a quarter one byte a
// second, and a quarter an endless header (a 1 KB field every 10 ms). Whatever the server
// closes is connected again at once, as an attacker would.
class SlowFlood {
 public:
  SlowFlood(const sockaddr_in& to, int n, const char* from = "127.0.0.1") : to_(to), from_(from), conns_(static_cast<std::size_t>(n)) {
    raise_open_file_limit();
    for (std::size_t i = 0; i < conns_.size(); ++i) conns_[i].kind = static_cast<int>(i % 4);
    thread_ = std::thread([this] { run(); });
  }
  ~SlowFlood() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_)
      if (c.fd >= 0) close(c.fd);
  }
  SlowFlood(const SlowFlood&) = delete;
  SlowFlood& operator=(const SlowFlood&) = delete;

  std::uint64_t connects() const { return connects_; }
  std::uint64_t closed_by_server() const { return closed_by_server_; }
  std::uint64_t answered_431() const { return answered_431_; }
  // Connected and not yet closed by the server, as the flood sees it.
  std::size_t open() const { return open_; }

 private:
  struct Conn {
    int fd = -1;
    int kind = 0;
    bool connected = false;
    std::size_t step = 0;
    Clock::time_point next_send{};
  };

  void reconnect(Conn& c, Clock::time_point now) {
    if (c.fd >= 0) close(c.fd);
    c.fd = start_connect(to_, from_);
    c.connected = false;
    c.step = 0;
    c.next_send = now;
    if (c.fd >= 0) ++connects_;
  }

  // The next bytes this connection sends, or empty for nothing (yet).
  std::string next_bytes(Conn& c, Clock::time_point now) {
    using std::chrono::milliseconds;
    if (c.kind == 0 || now < c.next_send) return {};
    static const std::string start = "GET /metrics HTTP/1.1\r\nHost: objspy\r\nX-Slow: ";
    std::string out;
    switch (c.kind) {
      case 1:
        out = c.step == 0 ? start : "a";
        c.next_send = now + milliseconds(200);
        break;
      case 2:
        out = c.step < start.size() ? std::string(1, start[c.step]) : "a";
        c.next_send = now + milliseconds(1000);
        break;
      default:
        out = c.step == 0 ? "GET / HTTP/1.1\r\n" : "X-Pad: " + std::string(1000, 'p') + "\r\n";
        c.next_send = now + milliseconds(10);
        break;
    }
    ++c.step;
    return out;
  }

  void run() {
    std::vector<pollfd> fds(conns_.size());
    while (!stop_) {
      const auto now = Clock::now();
      std::size_t open = 0;
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if (c.fd < 0) reconnect(c, now);
        fds[i] = {c.fd, static_cast<short>(POLLIN | (c.connected ? 0 : POLLOUT)), 0};
        open += c.connected;
      }
      open_ = open;
      poll(fds.data(), fds.size(), 5);
      const auto after = Clock::now();
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if (c.fd < 0) continue;
        const short ev = fds[i].revents;
        if (!c.connected && (ev & POLLOUT) && !(ev & (POLLERR | POLLHUP))) c.connected = true;
        if (ev & (POLLIN | POLLHUP | POLLERR)) {
          char buf[4096];
          ssize_t n = recv(c.fd, buf, sizeof buf, 0);
          if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).substr(0, 12) == "HTTP/1.1 431") ++answered_431_;
          if (n == 0 || (n < 0 && errno != EAGAIN)) {
            if (c.connected) ++closed_by_server_;
            reconnect(c, after);
            continue;
          }
        }
        if (!c.connected) continue;
        std::string bytes = next_bytes(c, after);
        if (!bytes.empty() && send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
          ++closed_by_server_;
          reconnect(c, after);
        }
      }
    }
  }

  sockaddr_in to_;
  const char* from_;
  std::vector<Conn> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> connects_{0}, closed_by_server_{0}, answered_431_{0};
  std::atomic<std::size_t> open_{0};
};

}  // namespace flood

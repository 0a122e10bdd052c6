// The one interface every remote read goes through: live process, core file, test memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

#include "objspy/core/remote_addr.hpp"
#include "objspy/core/result.hpp"

namespace objspy {

// One piece of a batched read: `out` is filled from `addr`; `ok` tells whether it was.
struct ReadRequest {
  RemoteAddr addr;
  std::span<std::byte> out;
  bool ok = false;
};

class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Fill `out` from the target at `addr`, all or nothing. Errors: bad_address for memory the
  // target does not have, target_exited, permission_denied.
  virtual Status read(RemoteAddr addr, std::span<std::byte> out) = 0;
  // Fill a prefix of `out`; returns how many bytes were read (0 is an error). The cache uses
  // it to fill chunks that end in unmapped memory. By default all or nothing.
  virtual Result<std::size_t> read_some(RemoteAddr addr, std::span<std::byte> out) {
    OBJSPY_TRY(read(addr, out));
    return out.size();
  }

  // Many small independent reads at once (a live process answers up to 1024 in one syscall).
  // Each request is all or nothing; one outside mapped memory fails alone (ok = false). Errors
  // only for conditions that end the census (target exited, permission).
  virtual Status read_batch(std::span<ReadRequest> reqs) {
    for (auto& r : reqs) {
      auto st = read(r.addr, r.out);
      r.ok = st.ok();
      if (!st.ok() && st.error().code != Errc::bad_address) return st;
    }
    return {};
  }

  // Zero-copy access for hot loops: a pointer to `len` bytes at `addr` if the reader already
  // holds them contiguously (a cache), valid until the next call on this reader; else null.
  virtual const std::byte* peek(RemoteAddr addr, std::size_t len) {
    (void)addr;
    (void)len;
    return nullptr;
  }

  template <class T>
  Result<T> read_as(RemoteAddr addr) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    OBJSPY_TRY(read(addr, std::as_writable_bytes(std::span<T, 1>(&v, 1))));
    return v;
  }
  Result<std::uint64_t> u64(RemoteAddr a) { return read_as<std::uint64_t>(a); }
  Result<std::uint32_t> u32(RemoteAddr a) { return read_as<std::uint32_t>(a); }
  Result<RemoteAddr> ptr(RemoteAddr a) {
    OBJSPY_ASSIGN(std::uint64_t v, u64(a));
    return RemoteAddr(v);
  }
  // A NUL-terminated C string of at most max_len bytes; `truncated` tells whether it was longer.
  Result<std::string> c_string(RemoteAddr a, std::size_t max_len, bool* truncated);
};

}  // namespace objspy

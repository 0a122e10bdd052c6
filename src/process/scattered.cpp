#include "objspy/process/scattered.hpp"

#include <algorithm>
#include <memory>
#include <vector>

namespace objspy {

Status read_scattered(MemoryReader& mem, std::span<const std::uint64_t> addrs, std::size_t len,
                      const std::function<void(std::size_t, const std::byte*)>& each, const ScatterLimits& lim) {
  struct Piece {
    std::uint64_t start = 0, end = 0;
    std::size_t first = 0, last = 0;  // addrs[first, last)
  };
  const std::size_t n = addrs.size();
  // Not zero-filled: every byte handed out was read (a batch of 8 MiB zeroed first costs as
  // much as reading it).
  std::unique_ptr<std::byte[]> buf;
  std::size_t buf_size = 0;
  std::vector<Piece> pieces;
  std::vector<ReadRequest> reqs;
  std::vector<std::byte> one(len);
  std::size_t k = 0;
  while (k < n) {
    // One batch: pieces until max_batch bytes.
    pieces.clear();
    std::size_t bytes = 0;
    while (k < n && bytes < lim.max_batch) {
      Piece p{addrs[k], addrs[k] + len, k, k + 1};
      ++k;
      while (k < n && addrs[k] + len - p.start <= lim.max_piece && addrs[k] <= p.end + lim.max_gap) {
        p.end = std::max(p.end, addrs[k] + len);
        p.last = ++k;
      }
      bytes += p.end - p.start;
      pieces.push_back(p);
    }
    if (bytes > buf_size) {
      buf.reset(new std::byte[bytes]);
      buf_size = bytes;
    }
    reqs.clear();
    std::size_t off = 0;
    for (const Piece& p : pieces) {
      reqs.push_back({RemoteAddr(p.start), std::span<std::byte>(buf.get() + off, p.end - p.start)});
      off += p.end - p.start;
    }
    OBJSPY_TRY(mem.read_batch(reqs));
    off = 0;
    for (std::size_t q = 0; q < pieces.size(); ++q) {
      const Piece& p = pieces[q];
      if (reqs[q].ok) {
        for (std::size_t j = p.first; j < p.last; ++j) each(j, buf.get() + off + (addrs[j] - p.start));
      } else {
        // Part of the piece is not mapped (an arena freed, a hole read through): each alone.
        for (std::size_t j = p.first; j < p.last; ++j) {
          auto st = mem.read(RemoteAddr(addrs[j]), one);
          if (!st.ok() && st.error().code != Errc::bad_address) return st;
          each(j, st.ok() ? one.data() : nullptr);
        }
      }
      off += p.end - p.start;
    }
  }
  return {};
}

}  // namespace objspy

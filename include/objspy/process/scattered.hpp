// Many small reads at addresses spread over a heap, done as few larger reads: addresses close
// to each other are read in one piece (the gap between them read through), each piece one
// request of a batch. Reading 300,000 dict key tables one request each costs a page walk per
// request in the kernel; most of them sit a few hundred bytes apart in the same pools.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"

namespace objspy {

struct ScatterLimits {
  std::size_t max_gap = 4096;          // read through a gap up to this many bytes
  std::size_t max_piece = 256 << 10;   // one read is at most this long
  std::size_t max_batch = 8 << 20;     // bytes of pieces read in one batch
};

// Read `len` bytes at each of `addrs` (sorted ascending; repeats allowed) and call
// `each(k, bytes)` for every k in order, `bytes` null when address k could not be read (a
// piece that fails is read again address by address). Errors only for conditions that end
// the census (target exited, permission).
Status read_scattered(MemoryReader& mem, std::span<const std::uint64_t> addrs, std::size_t len,
                      const std::function<void(std::size_t, const std::byte*)>& each, const ScatterLimits& lim = {});

}  // namespace objspy

// Test memory: regions of bytes at chosen addresses, for unit tests and fuzzers.
#pragma once
#include <map>
#include <vector>

#include "objspy/process/reader.hpp"

namespace objspy {

class SyntheticMemory final : public MemoryReader {
 public:
  // Add (or extend) a zero-filled region [addr, addr+size).
  void map(RemoteAddr addr, std::size_t size);
  void write(RemoteAddr addr, const void* data, std::size_t size);
  void put_u64(RemoteAddr addr, std::uint64_t v) { write(addr, &v, 8); }
  void put_u32(RemoteAddr addr, std::uint32_t v) { write(addr, &v, 4); }
  void put_bytes(RemoteAddr addr, std::string_view s) { write(addr, s.data(), s.size()); }
  Status read(RemoteAddr addr, std::span<std::byte> out) override;
  std::size_t reads() const { return reads_; }

 private:
  std::map<std::uint64_t, std::vector<std::byte>> regions_;
  std::size_t reads_ = 0;
};

}  // namespace objspy

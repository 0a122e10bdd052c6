#include "objspy/process/synthetic_memory.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace objspy {


void SyntheticMemory::map(RemoteAddr addr, std::size_t size) {
  auto& r = regions_[addr.value()];
  if (r.size() < size) r.resize(size);
}

void SyntheticMemory::write(RemoteAddr addr, const void* data, std::size_t size) {
  auto it = regions_.upper_bound(addr.value());
  if (it == regions_.begin()) throw std::logic_error(fmt::format("synthetic write to unmapped {:#x}", addr.value()));
  --it;
  std::uint64_t off = addr.value() - it->first;
  if (off + size > it->second.size()) throw std::logic_error(fmt::format("synthetic write past region at {:#x}", addr.value()));
  std::memcpy(it->second.data() + off, data, size);
}

Status SyntheticMemory::read(RemoteAddr addr, std::span<std::byte> out) {
  ++reads_;
  if (out.empty()) return {};  // an empty span may have a null data(): no memcpy
  auto it = regions_.upper_bound(addr.value());
  if (it != regions_.begin()) {
    --it;
    std::uint64_t off = addr.value() - it->first;
    if (off <= it->second.size() && out.size() <= it->second.size() - off) {
      std::memcpy(out.data(), it->second.data() + off, out.size());
      return {};
    }
  }
  return make_error(Errc::bad_address, fmt::format("no memory at {:#x}+{}", addr.value(), out.size()));
}

}  // namespace objspy

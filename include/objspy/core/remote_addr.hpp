// An address inside the target process: a typed value, never dereferenced locally.
#pragma once
#include <cstdint>
#include <functional>

namespace objspy {

class RemoteAddr {
 public:
  constexpr RemoteAddr() = default;
  constexpr explicit RemoteAddr(std::uint64_t v) : v_(v) {}
  constexpr std::uint64_t value() const { return v_; }
  constexpr bool null() const { return v_ == 0; }
  constexpr RemoteAddr operator+(std::uint64_t off) const { return RemoteAddr(v_ + off); }
  constexpr RemoteAddr operator-(std::uint64_t off) const { return RemoteAddr(v_ - off); }
  constexpr std::uint64_t operator-(RemoteAddr o) const { return v_ - o.v_; }
  constexpr bool aligned(std::uint64_t a) const { return (v_ & (a - 1)) == 0; }
  constexpr auto operator<=>(const RemoteAddr&) const = default;

 private:
  std::uint64_t v_ = 0;
};

}  // namespace objspy

template <>
struct std::hash<objspy::RemoteAddr> {
  std::size_t operator()(objspy::RemoteAddr a) const noexcept { return std::hash<std::uint64_t>{}(a.value()); }
};

// What sizes.cpp and size_types.cpp share, private to them.
#pragma once
#include <cstdint>

#include "objspy/core/result.hpp"

namespace objspy::sizes {

inline constexpr std::uint64_t kHuge = 1ULL << 40;  // no real object's size or count reaches this

// An error that ends the census (target exited, permission), as opposed to memory that does
// not read as what it should be (then the object or type is measured as best it can be).
inline bool fatal(const Error& e) { return e.code != Errc::bad_address && e.code != Errc::corrupt_target; }

}  // namespace objspy::sizes

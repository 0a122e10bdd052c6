// An allocator for the large arrays of a census (a million entries and more): big blocks are
// mapped directly (reserved generously, only the touched pages cost), small ones come from
// the heap. They are not advised to use transparent huge pages: where THP defrag is "madvise"
// (the common default) a fault in such a block may compact memory synchronously, which made
// one census in five take twice as long on a 1M-object heap (median 104 ms, 170-230 ms
// outliers, 88 MiB RSS; without the advice 102-118 ms, 79 MiB).
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace objspy {

template <class T>
struct HugeAllocator {
  using value_type = T;
  static constexpr std::size_t kMapFrom = 2u << 20;  // bytes: one huge page

  HugeAllocator() = default;
  template <class U>
  HugeAllocator(const HugeAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMapFrom) return static_cast<T*>(::operator new(bytes));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kMapFrom) ::operator delete(p);
    else ::munmap(p, bytes);
  }
  template <class U>
  bool operator==(const HugeAllocator<U>&) const noexcept { return true; }
};

}  // namespace objspy

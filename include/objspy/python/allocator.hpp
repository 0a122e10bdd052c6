// pymalloc's own figures from outside: the arenas, and the pools and blocks in them per size
// class, read from the target's allocator state as sys._debugmallocstats() reads it
// (Objects/obmalloc.c _PyObject_DebugMallocStats; cpython-internals.md §7.4).
#pragma once
#include "objspy/census/census.hpp"
#include "objspy/core/result.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/layout.hpp"
#include "objspy/python/locate.hpp"

namespace objspy {

struct AllocatorLimits {
  std::uint64_t max_arenas = 1u << 17;  // arena slots examined (128 GiB of 1 MiB arenas)
  std::uint64_t max_pools = 1u << 21;   // pool headers read (32 GiB of 16 KiB pools)
};

// The allocator of the main interpreter (`main_interp`), from its 3.12+ state in the
// interpreter or the 3.8-3.11 globals `globals` (null: not found). What cannot be read (a debug
// build's layout, globals without symbols, a target with PYTHONMALLOC=malloc) is an
// AllocatorStat with read = false and a note saying why. Err only for conditions that end the
// census (target exited, permission).
Result<AllocatorStat> read_allocator(MemoryReader& mem, const Layout& l, const PythonImage::AllocatorGlobals* globals, RemoteAddr main_interp,
                                     const AllocatorLimits& lim = {});

}  // namespace objspy

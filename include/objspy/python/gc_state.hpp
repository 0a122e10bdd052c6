// The interpreters of a runtime and the GC state of each: where its list sentinels are.
#pragma once
#include <array>
#include <vector>

#include "objspy/core/remote_addr.hpp"
#include "objspy/process/maps.hpp"
#include "objspy/process/reader.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/layout.hpp"

namespace objspy {

struct GcState {
  RemoteAddr base;                     // struct _gc_runtime_state
  std::int64_t interpreter_index = 0;  // 0: the main interpreter; others 1.. in creation order
                                       // (objspy's numbering, not CPython's interpreter id)
  std::array<RemoteAddr, 3> heads;     // sentinels of the lists gc.get_objects() returns
  RemoteAddr permanent;                // permanent generation (frozen objects)
  RemoteAddr collecting;               // int flag
};

struct Interpreters {
  RemoteAddr main;                     // the main interpreter
  std::vector<RemoteAddr> all;         // every interpreter, newest first
  std::vector<GcState> gc_states;      // one per interpreter (one in all for 3.8), main first,
                                       // then the others in creation order
  std::vector<std::string> notes;      // layout facts discovered at run time, for --verbose
  bool truncated = false;              // the list went on past max_interpreters: the rest are not here
};

// Walk _PyRuntime.interpreters and validate each GC state against invariants CPython keeps
// (§1.5 of the internals notes). At most `max_interpreters` are read (the main one always
// among them): a longer list is cut, and said so. `map` may be null (test memory). `fresh`
// reads the target past any cache (`mem` itself when null): a list head whose link fails is
// read again through it, as a busy target moves its links. Err: corrupt_target.
Result<Interpreters> find_interpreters(MemoryReader& mem, const MemoryMap* map, const Layout& l, RemoteAddr runtime,
                                       std::size_t max_interpreters = CensusLimits{}.max_interpreters,
                                       MemoryReader* fresh = nullptr);

// Version facts only the target's sys module knows: sys.hexversion (the exact version of
// 3.8-3.10, which export no Py_Version) and whether sys.gettotalrefcount exists (Py_DEBUG).
struct SysFacts {
  std::optional<std::uint64_t> hexversion;
  bool debug_build = false;
};
Result<SysFacts> read_sys_facts(MemoryReader& mem, const Layout& l, RemoteAddr main_interp);

}  // namespace objspy

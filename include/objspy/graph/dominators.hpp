// Retained size: what would be freed if an object were gone. The dominator tree of the object
// graph (Cooper, Harvey and Kennedy's iterative algorithm over reverse postorder) from a
// virtual root that holds every object nothing in the graph refers to (held by C code, a
// frame or the interpreter), and then, until every object is reached, the first object of
// each cycle still unreached. An object's retained size is its own size plus the retained
// sizes of the objects it immediately dominates.
#pragma once
#include <cstdint>
#include <vector>

#include "objspy/graph/object_graph.hpp"

namespace objspy {

struct Dominators {
  static constexpr std::uint32_t kRoot = 0xFFFFFFFF;  // the virtual root, as an idom
  std::vector<std::uint32_t> idom;       // per node: its immediate dominator, or kRoot
  std::vector<std::uint64_t> retained;   // per node: its retained size
};

// `size`: each node's own size (sys.getsizeof). Memory: about 20 bytes per node.
Dominators dominators(const ObjectGraph& g, const std::vector<std::uint64_t>& size);

}  // namespace objspy

// The object graph of a still image of a target (a snapshot in memory or a core file): every
// GC-tracked object as a node, its referents (referents.hpp) among them as edges, in compact
// arrays: 16 bytes of address and type per node, a hash index (about 24 bytes per node), and
// two CSR arrays of 4-byte node numbers (referents and referrers), 8 bytes per edge in all.
// Objects outside the GC lists (str, int, float, bytes, untracked tuples and dicts) hold no
// GC object, so paths between GC objects never pass through them.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "objspy/core/flat_map.hpp"
#include "objspy/core/result.hpp"
#include "objspy/python/budget.hpp"
#include "objspy/python/gc_scan.hpp"
#include "objspy/python/referents.hpp"

namespace objspy {

struct ObjectGraph {
  std::vector<std::uint64_t> addr, type;  // node i
  FlatMap index;                           // address -> node
  std::vector<std::uint64_t> out_start;    // referents of i: out[out_start[i], out_start[i + 1])
  std::vector<std::uint32_t> out;
  std::vector<std::uint64_t> in_start;     // referrers of i, the same way
  std::vector<std::uint32_t> in;
  bool edges_cut = false;                  // the edge budget ran out: some referents are missing

  std::size_t size() const { return addr.size(); }
  std::uint32_t find(std::uint64_t a) const { return index.find(a); }
};

struct GraphLimits {
  std::uint64_t max_edges = 1ULL << 28;  // 2 GiB of edges at most
};

// Nodes from `objects`, edges from `refs`. Past the budget's deadline, or `max_edges`, the
// graph holds what was read (edges_cut). Err only when the image cannot be read at all.
Result<ObjectGraph> build_graph(const std::vector<ScanCounts::Object>& objects, ReferentReader& refs, const GraphLimits& lim,
                                CensusBudget* budget);

// The shortest chain of referrers from a node `is_root` accepts down to one of `targets`:
// nodes from the root to the target; empty when none is within `max_depth` steps.
std::vector<std::uint32_t> shortest_chain(const ObjectGraph& g, const std::vector<std::uint32_t>& targets,
                                          const std::function<bool(std::uint32_t)>& is_root, int max_depth);

}  // namespace objspy

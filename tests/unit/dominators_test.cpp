// Dominators and retained sizes over small graphs built by hand; the shortest chain.
#include <doctest/doctest.h>

#include "objspy/graph/dominators.hpp"
#include "objspy/graph/object_graph.hpp"

using namespace objspy;

namespace {

// A graph of n nodes from an edge list, the way build_graph lays it out.
ObjectGraph graph(std::uint32_t n, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& edges) {
  ObjectGraph g;
  for (std::uint32_t i = 0; i < n; ++i) {
    g.addr.push_back(0x1000 + 16 * i);
    g.type.push_back(0x10);
    g.index.put(g.addr.back(), i);
  }
  g.out_start.assign(n + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    g.out_start[i] = g.out.size();
    for (auto [a, b] : edges)
      if (a == i) g.out.push_back(b);
  }
  g.out_start[n] = g.out.size();
  g.in_start.assign(n + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    g.in_start[i] = g.in.size();
    for (auto [a, b] : edges)
      if (b == i) g.in.push_back(a);
  }
  g.in_start[n] = g.in.size();
  return g;
}

}  // namespace

TEST_CASE("dominators: a chain, a diamond, a shared leaf and a cycle nothing else holds") {
  // 0 -> 1 -> 2; 0 -> 3 -> 4, 0 -> 5 -> 4 (4 shared by 3 and 5); 1 -> 6 <-> 7 (a cycle under 1);
  // 8 <-> 9: a cycle no root reaches (held by C code, say).
  auto g = graph(10, {{0, 1}, {1, 2}, {0, 3}, {3, 4}, {0, 5}, {5, 4}, {1, 6}, {6, 7}, {7, 6}, {8, 9}, {9, 8}});
  std::vector<std::uint64_t> size(10, 10);
  const Dominators d = dominators(g, size);
  CHECK(d.idom[0] == Dominators::kRoot);
  CHECK(d.idom[1] == 0);
  CHECK(d.idom[2] == 1);
  CHECK(d.idom[4] == 0);  // reached through 3 and through 5
  CHECK(d.idom[6] == 1);
  CHECK(d.idom[7] == 6);
  CHECK(d.retained[1] == 40);  // 1, 2, 6, 7
  CHECK(d.retained[3] == 10);  // 3 alone: 4 is 5's too
  CHECK(d.retained[0] == 80);  // 0..7
  // The unreached cycle hangs from the virtual root by its first node.
  CHECK(d.idom[8] == Dominators::kRoot);
  CHECK(d.idom[9] == 8);
  CHECK(d.retained[8] == 20);
}

TEST_CASE("shortest_chain: from the nearest root to any target, within the depth") {
  auto g = graph(6, {{0, 1}, {1, 2}, {2, 3}, {4, 3}, {5, 4}});
  auto roots = [](std::uint32_t v) { return v == 0 || v == 5; };
  const auto chain = shortest_chain(g, {3}, roots, 20);
  REQUIRE(chain.size() == 3);  // 5 -> 4 -> 3 beats 0 -> 1 -> 2 -> 3
  CHECK(chain == std::vector<std::uint32_t>{5, 4, 3});
  CHECK(shortest_chain(g, {3}, roots, 1).empty());  // two steps needed
  CHECK(shortest_chain(g, {3}, [](std::uint32_t) { return false; }, 20).empty());
}

#include "objspy/graph/dominators.hpp"

#include <algorithm>

namespace objspy {

Dominators dominators(const ObjectGraph& g, const std::vector<std::uint64_t>& size) {
  const std::uint32_t n = static_cast<std::uint32_t>(g.size());
  const std::uint32_t root = n;  // the virtual root's number inside this function
  constexpr std::uint32_t kUndef = 0xFFFFFFFF;
  // Reverse postorder from the root, by an explicit stack; the root's children are added as
  // they are needed (in-degree 0 first, then whatever is still unreached).
  std::vector<std::uint32_t> order;  // postorder
  order.reserve(n + 1);
  std::vector<std::uint8_t> state(n, 0);  // 0 new, 1 on the stack, 2 done
  std::vector<std::uint8_t> from_root(n, 0);
  std::vector<std::pair<std::uint32_t, std::uint64_t>> stack;
  auto dfs = [&](std::uint32_t start) {
    from_root[start] = 1;
    state[start] = 1;
    stack.push_back({start, g.out_start[start]});
    while (!stack.empty()) {
      auto& [v, e] = stack.back();
      if (e < g.out_start[v + 1]) {
        const std::uint32_t w = g.out[e++];
        if (state[w] == 0) {
          state[w] = 1;
          stack.push_back({w, g.out_start[w]});
        }
        continue;
      }
      state[v] = 2;
      order.push_back(v);
      stack.pop_back();
    }
  };
  for (std::uint32_t v = 0; v < n; ++v)
    if (g.in_start[v] == g.in_start[v + 1] && state[v] == 0) dfs(v);
  for (std::uint32_t v = 0; v < n; ++v)
    if (state[v] == 0) dfs(v);
  // Postorder numbers; the root last.
  std::vector<std::uint32_t> po(n + 1);
  for (std::uint32_t i = 0; i < order.size(); ++i) po[order[i]] = i;
  po[root] = n;
  std::vector<std::uint32_t> idom(n + 1, kUndef);
  idom[root] = root;
  auto intersect = [&](std::uint32_t a, std::uint32_t b) {
    while (a != b) {
      while (po[a] < po[b]) a = idom[a];
      while (po[b] < po[a]) b = idom[b];
    }
    return a;
  };
  // Reverse postorder makes this converge in a few passes on real graphs; a bound keeps a
  // hostile one from making it quadratic (the idoms then are still dominators' ancestors).
  bool changed = true;
  for (int pass = 0; changed && pass < 256; ++pass) {
    changed = false;
    for (std::size_t k = order.size(); k-- > 0;) {  // reverse postorder
      const std::uint32_t b = order[k];
      std::uint32_t nd = from_root[b] ? root : kUndef;
      for (std::uint64_t e = g.in_start[b]; e < g.in_start[b + 1]; ++e) {
        const std::uint32_t p = g.in[e];
        if (idom[p] == kUndef) continue;
        nd = nd == kUndef ? p : intersect(p, nd);
      }
      if (nd != kUndef && idom[b] != nd) {
        idom[b] = nd;
        changed = true;
      }
    }
  }
  Dominators d;
  d.idom.assign(n, Dominators::kRoot);
  d.retained.assign(size.begin(), size.end());
  d.retained.resize(n, 0);
  for (std::uint32_t v = 0; v < n; ++v) d.idom[v] = idom[v] == root || idom[v] == kUndef ? Dominators::kRoot : idom[v];
  // Children before their dominators: postorder of the DFS tree keeps a dominator after every
  // node it dominates.
  for (std::uint32_t v : order)
    if (d.idom[v] != Dominators::kRoot) d.retained[d.idom[v]] += d.retained[v];
  return d;
}

}  // namespace objspy

#include "objspy/graph/object_graph.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace objspy {

Result<ObjectGraph> build_graph(const std::vector<ScanCounts::Object>& objects, ReferentReader& refs, const GraphLimits& lim,
                                CensusBudget* budget) {
  ObjectGraph g;
  if (objects.size() >= std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::internal, fmt::format("{} objects: more than the graph numbers", objects.size()));
  g.addr.reserve(objects.size());
  g.type.reserve(objects.size());
  for (const auto& o : objects) {
    if (g.index.find(o.addr) != FlatMap::kNone) continue;  // counted twice (never, but an image can lie)
    g.index.put(o.addr, static_cast<std::uint32_t>(g.addr.size()));
    g.addr.push_back(o.addr);
    g.type.push_back(o.type);
  }
  const std::size_t n = g.addr.size();
  g.out_start.assign(n + 1, 0);
  std::vector<Referent> rs;
  auto is_node = [&](std::uint64_t a) { return g.index.find(a) != FlatMap::kNone; };
  for (std::size_t i = 0; i < n; ++i) {
    g.out_start[i] = g.out.size();
    if (g.edges_cut) continue;
    if ((i & 4095) == 0 && budget && budget->expired()) {
      g.edges_cut = true;
      continue;
    }
    rs.clear();
    OBJSPY_TRY(refs.referents(g.addr[i], g.type[i], is_node, rs));
    for (const Referent& r : rs) {
      const std::uint32_t j = g.index.find(r.addr);
      if (j == FlatMap::kNone) continue;  // not a GC object: holds none
      if (g.out.size() >= lim.max_edges) {
        g.edges_cut = true;
        break;
      }
      g.out.push_back(j);
    }
    // One edge per referent object (a list holding it twice is one referrer, as for gc).
    auto first = g.out.begin() + static_cast<std::ptrdiff_t>(g.out_start[i]);
    std::sort(first, g.out.end());
    g.out.erase(std::unique(first, g.out.end()), g.out.end());
  }
  g.out_start[n] = g.out.size();
  // Referrers: the same edges reversed, by counting.
  g.in_start.assign(n + 1, 0);
  for (std::uint32_t j : g.out) ++g.in_start[j + 1];
  for (std::size_t i = 0; i < n; ++i) g.in_start[i + 1] += g.in_start[i];
  g.in.resize(g.out.size());
  std::vector<std::uint64_t> at(g.in_start.begin(), g.in_start.end() - 1);
  for (std::size_t i = 0; i < n; ++i)
    for (std::uint64_t e = g.out_start[i]; e < g.out_start[i + 1]; ++e) g.in[at[g.out[e]]++] = static_cast<std::uint32_t>(i);
  return g;
}

std::vector<std::uint32_t> shortest_chain(const ObjectGraph& g, const std::vector<std::uint32_t>& targets,
                                          const std::function<bool(std::uint32_t)>& is_root, int max_depth) {
  constexpr std::uint32_t kUnseen = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> next(g.size(), kUnseen);  // toward the target: the node this one refers to
  std::vector<std::uint32_t> frontier, later;
  for (std::uint32_t t : targets) {
    if (t >= g.size() || next[t] != kUnseen) continue;
    next[t] = t;
    frontier.push_back(t);
  }
  for (int depth = 0; depth <= max_depth && !frontier.empty(); ++depth) {
    for (std::uint32_t v : frontier) {
      if (is_root(v)) {
        std::vector<std::uint32_t> chain{v};
        while (next[chain.back()] != chain.back() && chain.size() <= g.size()) chain.push_back(next[chain.back()]);
        return chain;
      }
    }
    later.clear();
    for (std::uint32_t v : frontier)
      for (std::uint64_t e = g.in_start[v]; e < g.in_start[v + 1]; ++e) {
        const std::uint32_t u = g.in[e];
        if (next[u] != kUnseen) continue;
        next[u] = v;
        later.push_back(u);
      }
    frontier.swap(later);
  }
  return {};
}

}  // namespace objspy

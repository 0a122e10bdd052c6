#include "objspy/python/gc_walk.hpp"

#include "objspy/python/sizes.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace objspy {

TypeCounter::TypeCounter(std::size_t max_types) : max_types_(max_types) { slots_.resize(1024); }

TypeCounter::Entry* TypeCounter::probe(std::uint64_t type) {
  std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>((type >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & mask;
  while (slots_[i].type && slots_[i].type != type) i = (i + 1) & mask;
  return &slots_[i];
}

void TypeCounter::grow() {
  std::vector<Entry> old(slots_.size() * 2);
  old.swap(slots_);
  last_ = nullptr;
  for (const auto& e : old)
    if (e.type) *probe(e.type) = e;
}

bool TypeCounter::bump(std::uint64_t type) {
  if (!last_ || last_->type != type) {
    Entry* e = probe(type);
    if (!e->type) return false;
    last_ = e;
  }
  ++last_->count;
  ++total_;
  return true;
}

void TypeCounter::add(std::uint64_t type, std::uint64_t n) {
  Entry* e = probe(type);
  if (!e->type) {
    if (used_ >= max_types_) {
      other_ += n;
      total_ += n;
      last_ = nullptr;
      return;
    }
    if ((used_ + 1) * 2 > slots_.size()) {
      grow();
      e = probe(type);
    }
    e->type = type;
    ++used_;
  }
  e->count += n;
  total_ += n;
  last_ = e;
}

const TypeCounter::Entry* TypeCounter::find(std::uint64_t type) const {
  std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>((type >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & mask;
  while (slots_[i].type && slots_[i].type != type) i = (i + 1) & mask;
  return slots_[i].type ? &slots_[i] : nullptr;
}

void TypeCounter::set_tag(std::uint64_t type, std::uint8_t tag) {
  Entry* e = probe(type);
  if (e->type) e->tag = tag;
}

void TypeCounter::add_bytes(std::uint64_t type, std::uint64_t bytes) {
  Entry* e = (last_ && last_->type == type) ? last_ : probe(type);
  if (e->type) e->bytes += bytes;
  else other_bytes_ += bytes;
}

std::uint64_t TypeCounter::bytes_of(std::uint64_t type) const {
  const Entry* e = find(type);
  return e ? e->bytes : 0;
}

Result<bool> TypeValidator::valid(RemoteAddr type) {
  if (std::uint32_t v = type.null() ? FlatMap::kNone : cache_.find(type.value()); v != FlatMap::kNone) return v != 0;
  bool ok = false;
  if (!type.null() && type.aligned(8)) {  // read even where an older map says nothing is: reads fail cleanly
    auto flags = mem_.u64(type + l_.tp_flags);
    auto meta = mem_.ptr(type + l_.ob_type);
    for (auto* r : {&flags}) if (!r->ok() && r->error().code != Errc::bad_address) return r->take_error();
    if (!meta.ok() && meta.error().code != Errc::bad_address) return meta.take_error();
    if (flags.ok() && meta.ok() && (!gc_only_ || (*flags & kTpFlagsHaveGc)) && !meta->null() && meta->aligned(8)) {
      auto meta_flags = mem_.u64(*meta + l_.tp_flags);
      if (!meta_flags.ok() && meta_flags.error().code != Errc::bad_address) return meta_flags.take_error();
      ok = meta_flags.ok() && (*meta_flags & kTpFlagsTypeSubclass);
    }
  }
  if (!type.null() && cache_.size() < max_cached_) cache_.put(type.value(), ok ? 1 : 0);
  return ok;
}

void HeadSet::add(RemoteAddr h) {
  if (h.null()) return;
  set_.put(h.value(), 1);
  lo_ = std::min(lo_, h.value());
  hi_ = std::max(hi_, h.value());
}

Result<ListResult> walk_gc_list(WalkContext& ctx, RemoteAddr head, TypeCounter& counts) {
  ListResult r;
  constexpr std::uint64_t kMask = ~std::uint64_t{3};  // low bits are flags in both links
  const std::uint64_t obj_off = ctx.layout.gc_head_size;
  const std::uint64_t type_off = obj_off + ctx.layout.ob_type;
  CensusBudget& budget = ctx.budget;
  auto stop = [&](std::string why) {
    budget.steps += r.objects;
    r.complete = false;
    r.problem = std::move(why);
    return r;
  };
  auto soft = [](const Error& e) { return e.code == Errc::bad_address; };

  OBJSPY_ASSIGN(std::uint64_t first, ctx.mem.u64(head));
  std::uint64_t prev = head.value();
  std::uint64_t g = first & kMask;
  // Brent's cycle detection: a loop that does not pass through the sentinel means the walk
  // was diverted into another list (or garbage).
  std::uint64_t saved = g;
  std::uint64_t power = 1, lambda = 0;
  // The bound is over the whole census: lists that share nodes cannot multiply it. What is
  // left of it, counted here and added to the census's steps when the list ends.
  const std::uint64_t room = ctx.max_steps > budget.steps ? ctx.max_steps - budget.steps : 0;
  while (g != head.value()) {
    if (r.objects >= room) {
      budget.hit(CensusBudget::Kind::steps, fmt::format("the walk reached its bound of {} objects over all lists (the target's writable memory / 32)", ctx.max_steps));
      return stop(fmt::format("stopped after {} objects: the census's bound of {} objects over all lists was reached", r.objects, ctx.max_steps));
    }
    if ((r.objects & 1023) == 1023 && budget.expired()) return stop(fmt::format("stopped after {} objects: the census's deadline passed", r.objects));
    if (g == 0 || (g & 7)) return stop(fmt::format("bad link {:#x} after {} objects", g, r.objects));
    if (ctx.known_heads.contains(g))
      return stop(fmt::format("reached another list's head after {} objects (a collection moved objects)", r.objects));
    // PyGC_Head {_gc_next, _gc_prev} then PyObject {ob_refcnt, ob_type}: 32 bytes, read in
    // place from the cache when possible.
    std::uint64_t node[4];
    if (const std::byte* p = ctx.mem.peek(RemoteAddr(g), sizeof node)) {
      std::memcpy(node, p, sizeof node);
    } else {
      auto rd = ctx.mem.read(RemoteAddr(g), std::as_writable_bytes(std::span(node)));
      if (!rd.ok()) {
        if (soft(rd.error())) return stop(fmt::format("link {:#x} leaves mapped memory after {} objects", g, r.objects));
        return rd.take_error();
      }
    }
    std::uint64_t type = node[3];
    if (type_off != 24) {
      OBJSPY_ASSIGN(type, ctx.mem.u64(RemoteAddr(g + type_off)));
    }
    if ((node[1] & kMask) != prev) ++r.broken_links;
    // Only types already validated are in the counter, so one probe both checks and counts.
    if (!counts.bump(type)) {
      OBJSPY_ASSIGN(bool type_ok, ctx.types.valid(RemoteAddr(type)));
      if (!type_ok) return stop(fmt::format("object {:#x} has no valid type after {} objects", g + obj_off, r.objects));
      counts.add(type);
    }
    if (ctx.objects) ctx.objects->push_back({g + obj_off, type});
    if (ctx.meter && !ctx.frozen_list) {  // frozen objects are counted, not sized
      // Tag 1: all objects of the type have one size (counted per type later); 2: sized one by one.
      std::uint8_t tag = counts.last_tag();
      if (!tag) {
        OBJSPY_ASSIGN(const TypeSizing* sz, ctx.meter->sizing(type));
        tag = sz->per_object() ? 2 : 1;
        counts.set_tag(type, tag);
      }
      if (tag == 2) OBJSPY_TRY(ctx.meter->object(g + obj_off, type, nullptr, counts));
    }
    ++r.objects;
    prev = g;
    g = node[0] & kMask;
    if (g == saved) return stop(fmt::format("list loops without reaching its head after {} objects", r.objects));
    if (++lambda == power) { saved = g; power <<= 1; lambda = 0; }
  }
  budget.steps += r.objects;
  if (r.broken_links) r.complete = false, r.problem = fmt::format("{} back links did not match (the list changed during the walk)", r.broken_links);
  return r;
}

}  // namespace objspy

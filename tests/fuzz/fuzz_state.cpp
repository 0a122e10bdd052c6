// The --growth state (and a diff input) as read back from a file anyone may have written:
// parse_snapshot must never throw or crash, must agree with a DOM reading of the same JSON,
// and what it accepts must compare with the right signs (counts capped at 2^62).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "objspy/census/series.hpp"
#include "objspy/output/render.hpp"

namespace {

using nlohmann::json;

bool count_ok(const json& v) { return v.is_number_unsigned() && v.get<std::uint64_t>() <= objspy::kMaxCount; }

// Would objspy's census reader accept this document? The rules, written against the DOM.
bool acceptable(const json& j) {
  if (!j.is_object() || j.contains("event") || !j.contains("types") || !j["types"].is_array()) return false;
  if (j.contains("pid") && !(j["pid"].is_number_unsigned() && j["pid"].get<std::uint64_t>() <= 0x7fffffff)) return false;
  if (j.contains("timestamp") && !j["timestamp"].is_number()) return false;
  if (j.contains("total_objects") && !count_ok(j["total_objects"])) return false;
  if (j.contains("walk")) {
    const json& w = j["walk"];
    if (!w.is_object()) return false;
    if (w.contains("complete") && !w["complete"].is_boolean()) return false;
    if (w.contains("torn") && !w["torn"].is_boolean()) return false;
    if (w.contains("uncertain") && !count_ok(w["uncertain"])) return false;
  }
  if (j.contains("pause_ms") && !j["pause_ms"].is_null() && !(j["pause_ms"].is_number() && j["pause_ms"].get<double>() >= 0)) return false;
  if (j.contains("python")) {
    const json& p = j["python"];
    if (!p.is_object()) return false;
    if (p.contains("version") && !(p["version"].is_string() && p["version"].get<std::string>().size() <= 32)) return false;
  }
  if (j.contains("memory") && !j["memory"].is_null()) {
    const json& m = j["memory"];
    if (!m.is_object()) return false;
    if (m.contains("rss_bytes") && !count_ok(m["rss_bytes"])) return false;
  }
  std::map<std::string, std::uint64_t> sums, bytes;
  for (const json& t : j["types"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("count") || !count_ok(t["count"])) return false;
    auto& s = sums[t["name"].get<std::string>()];
    s += t["count"].get<std::uint64_t>();
    if (s > objspy::kMaxCount) return false;
    if (t.contains("bytes")) {
      if (!count_ok(t["bytes"])) return false;
      auto& b = bytes[t["name"].get<std::string>()];
      b += t["bytes"].get<std::uint64_t>();
      if (b > objspy::kMaxCount) return false;
    }
  }
  return true;
}

void check_changes(const std::vector<objspy::Change>& rows) {
  for (const auto& c : rows) {
    if ((c.after > c.before) != (c.delta() > 0) || (c.after < c.before) != (c.delta() < 0)) std::abort();
    if (static_cast<std::uint64_t>(c.delta() < 0 ? -c.delta() : c.delta()) != (c.after > c.before ? c.after - c.before : c.before - c.after)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = objspy::parse_snapshot(text);
  // Against a DOM of the same document, unless a key repeats in an object (the DOM keeps only
  // the last of them, the reader sees every one).
  std::vector<std::set<std::string>> keys;
  bool repeated = false;
  int levels = 0;  // deepest nesting (counted here: a recursive walk of the DOM could overflow the stack)
  const json dom = json::parse(
      text,
      [&](int depth, json::parse_event_t e, json& parsed) {
        if (e == json::parse_event_t::object_start || e == json::parse_event_t::array_start) levels = std::max(levels, depth + 1);
        if (e == json::parse_event_t::object_start) keys.emplace_back();
        else if (e == json::parse_event_t::object_end) keys.pop_back();
        else if (e == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second) repeated = true;
        return true;
      },
      false);
  if (!dom.is_discarded() && !repeated && levels <= 64) {
    if (acceptable(dom) != s.ok()) std::abort();
    if (s.ok()) {
      std::map<std::string, std::uint64_t> want;
      for (const json& t : dom["types"]) want[t["name"].get<std::string>()] += t["count"].get<std::uint64_t>();
      if (want != s->counts) std::abort();
      // Bytes: kept when every entry has them, summed by name like the counts.
      bool all = true;
      std::map<std::string, std::uint64_t> want_bytes;
      for (const json& t : dom["types"]) {
        if (!t.contains("bytes")) { all = false; break; }
        want_bytes[t["name"].get<std::string>()] += t["bytes"].get<std::uint64_t>();
      }
      if (all != s->has_bytes) std::abort();
      if (all ? want_bytes != s->bytes : !s->bytes.empty()) std::abort();
    }
  }
  if (!s.ok()) {
    if (s.error().code != objspy::Errc::io || s.error().message.empty()) std::abort();
    return 0;
  }
  for (const auto& [name, n] : s->counts)
    if (n > objspy::kMaxCount) std::abort();
  if (s->total > objspy::kMaxCount || s->uncertain > objspy::kMaxCount) std::abort();
  objspy::Snapshot other;
  other.counts = {{"a", 1}, {"dict", objspy::kMaxCount}, {"list", 0}};
  for (const auto* pair : {&*s, &other}) {
    const objspy::Snapshot& before = *pair;
    const objspy::Snapshot& after = pair == &other ? *s : other;
    auto g = objspy::growth(before, after, 0);
    for (const auto& c : g)
      if (c.delta() <= 0) std::abort();
    check_changes(g);
    auto d = objspy::diff(before, after, 0);
    check_changes(d);
    (void)objspy::render_growth(g);
    (void)objspy::render_diff(d);
  }
  (void)s->trusted();
  (void)s->coverage();
  return 0;
}

// One saved census document read back without a DOM. The files it reads (diff and suspects
// inputs, the --growth state) may have been written by anyone: every field's type is checked
// as it streams past, a wrong one is an error value naming the field (never an exception), and
// the memory used is the snapshot's names and counts, not a tree of the whole document.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "objspy/census/series.hpp"

namespace objspy {
namespace {

// objspy writes 3 levels (a record's suspects line); anything far deeper is not ours, and
// stopping early keeps the parser's own stack small.
constexpr std::size_t kMaxDepth = 64;

// Where the next value lands, from the enclosing container and the key before it.
enum class Slot { ignored, root, pid, timestamp, total, walk, types, complete, uncertain, torn, entry, name, count, bytes, pause_ms, python, version, memory, rss };
enum class Frame { ignored, census, walk, types, entry, python, memory };

// A Python version string longer than this is not one ("3.15.0a1+" is 9).
constexpr std::size_t kMaxVersion = 32;

class CensusReader {
 public:
  using json = nlohmann::json;

  bool null() {
    if (slot() == Slot::pause_ms || slot() == Slot::memory) return true;  // not paused; not read
    return wrong_unless_ignored("null");
  }
  bool boolean(bool v) {
    switch (slot()) {
      case Slot::complete: snap_.complete = v; return true;
      case Slot::torn: torn_ = v; return true;
      default: return wrong_unless_ignored("a boolean");
    }
  }
  bool number_unsigned(json::number_unsigned_t v) {
    switch (slot()) {
      case Slot::pid:
        if (v > static_cast<std::uint64_t>(INT_MAX)) return wrong("a number too large for a PID");
        snap_.pid = static_cast<pid_t>(v);
        return true;
      case Slot::timestamp: snap_.timestamp = static_cast<double>(v); return true;
      case Slot::total: return count_into(v, snap_.total);
      case Slot::uncertain: return count_into(v, snap_.uncertain);
      case Slot::count:
        stack_.back().has_count = true;
        return count_into(v, stack_.back().count);
      case Slot::bytes:
        stack_.back().has_bytes = true;
        return count_into(v, stack_.back().bytes);
      case Slot::pause_ms: snap_.pause_ms = static_cast<double>(v); return true;
      case Slot::rss: return count_into(v, snap_.rss_bytes);
      default: return wrong_unless_ignored("a number");
    }
  }
  // Non-negative integers arrive as number_unsigned: this one is negative.
  bool number_integer(json::number_integer_t v) {
    if (slot() == Slot::timestamp) {
      snap_.timestamp = static_cast<double>(v);
      return true;
    }
    return wrong_unless_ignored("a negative number");
  }
  // Also integers too large for 64 bits.
  bool number_float(json::number_float_t v, const std::string&) {
    if (slot() == Slot::timestamp) {
      if (!std::isfinite(v)) return wrong("not a finite number");
      snap_.timestamp = v;
      return true;
    }
    if (slot() == Slot::pause_ms) {
      if (!std::isfinite(v) || v < 0) return wrong("not a finite number");
      snap_.pause_ms = v;
      return true;
    }
    return wrong_unless_ignored("a fractional or huge number");
  }
  bool string(std::string& v) {
    if (slot() == Slot::name) {
      stack_.back().name = std::move(v);
      stack_.back().has_name = true;
      return true;
    }
    if (slot() == Slot::version) {
      if (v.size() > kMaxVersion) return wrong("a string too long for a version");
      snap_.python_version = std::move(v);
      return true;
    }
    return wrong_unless_ignored("a string");
  }
  bool binary(json::binary_t&) { return wrong_unless_ignored("binary data"); }

  bool start_object(std::size_t) {
    const Slot s = slot();
    Frame f = Frame::ignored;
    if (s == Slot::root) f = Frame::census;
    else if (s == Slot::walk) f = Frame::walk;
    else if (s == Slot::entry) f = Frame::entry;
    else if (s == Slot::python) f = Frame::python;
    else if (s == Slot::memory) f = Frame::memory;
    else if (s != Slot::ignored) wrong("an object");
    return push(f);
  }
  bool start_array(std::size_t) {
    const Slot s = slot();
    Frame f = Frame::ignored;
    if (s == Slot::types) {
      f = Frame::types;
      has_types_ = true;
    } else if (s != Slot::ignored && s != Slot::root) {
      wrong("an array");
    }
    return push(f);
  }
  bool key(std::string& k) {
    Level& l = stack_.back();
    l.next = Slot::ignored;
    if (l.frame == Frame::census) {
      if (k == "pid") l.next = Slot::pid;
      else if (k == "timestamp") l.next = Slot::timestamp;
      else if (k == "total_objects") l.next = Slot::total;
      else if (k == "walk") l.next = Slot::walk;
      else if (k == "types") l.next = Slot::types;
      else if (k == "pause_ms") l.next = Slot::pause_ms;
      else if (k == "python") l.next = Slot::python;
      else if (k == "memory") l.next = Slot::memory;
      else if (k == "event") event_ = true;  // record's start/end lines: not a census
    } else if (l.frame == Frame::walk) {
      if (k == "complete") l.next = Slot::complete;
      else if (k == "uncertain") l.next = Slot::uncertain;
      else if (k == "torn") l.next = Slot::torn;
    } else if (l.frame == Frame::entry) {
      if (k == "name") l.next = Slot::name;
      else if (k == "count") l.next = Slot::count;
      else if (k == "bytes") l.next = Slot::bytes;
    } else if (l.frame == Frame::python) {
      if (k == "version") l.next = Slot::version;
    } else if (l.frame == Frame::memory) {
      if (k == "rss_bytes") l.next = Slot::rss;
    }
    return true;
  }
  bool end_object() {
    Level l = std::move(stack_.back());
    stack_.pop_back();
    if (l.frame == Frame::entry) finish_entry(l);
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    not_json_ = true;
    error_position_ = position;
    return false;
  }

  // After sax_parse: the snapshot, nullopt for an event line, or the first error.
  Result<std::optional<Snapshot>> result(bool* not_json) && {
    if (not_json) *not_json = not_json_;
    if (not_json_) return make_error(Errc::io, fmt::format("not JSON (at byte {})", error_position_));
    if (event_) return std::optional<Snapshot>{};
    if (error_) return make_error(Errc::io, *error_);
    if (!has_types_) return make_error(Errc::io, "not an objspy census (no \"types\" array)");
    if (torn_) snap_.uncertain = 0;  // a partial count, whatever its estimate
    snap_.has_bytes = !lacks_bytes_;
    if (lacks_bytes_) snap_.bytes.clear();
    return std::optional<Snapshot>(std::move(snap_));
  }

 private:
  struct Level {
    explicit Level(Frame f) : frame(f) {}
    Frame frame;
    Slot next = Slot::ignored;  // for the next value of an object, set by its key
    std::size_t index = 0;      // entries of a "types" array seen so far
    // A "types" entry being read.
    std::string name;
    std::uint64_t count = 0;
    std::uint64_t bytes = 0;
    bool has_name = false, has_count = false, has_bytes = false;
  };

  Slot slot() const {
    if (stack_.empty()) return Slot::root;
    const Level& l = stack_.back();
    switch (l.frame) {
      case Frame::types: return Slot::entry;
      case Frame::ignored: return Slot::ignored;
      default: return l.next;
    }
  }

  bool push(Frame f) {
    if (stack_.size() >= kMaxDepth) {
      note(fmt::format("nested deeper than {} levels", kMaxDepth));
      return false;  // stop here: nothing this deep is ours, and the parser's stack stays small
    }
    if (!stack_.empty() && stack_.back().frame == Frame::types) ++stack_.back().index;
    stack_.emplace_back(f);
    return true;
  }

  // The name of the field the current slot is, for messages.
  std::string field() const {
    const Slot s = slot();
    std::string entry;
    for (const auto& l : stack_)
      if (l.frame == Frame::types) entry = fmt::format("types[{}]", s == Slot::entry ? l.index : l.index - 1);
    switch (s) {
      case Slot::pid: return "pid";
      case Slot::timestamp: return "timestamp";
      case Slot::total: return "total_objects";
      case Slot::walk: return "walk";
      case Slot::types: return "types";
      case Slot::complete: return "walk.complete";
      case Slot::uncertain: return "walk.uncertain";
      case Slot::torn: return "walk.torn";
      case Slot::entry: return entry;
      case Slot::name: return entry + ".name";
      case Slot::count: return entry + ".count";
      case Slot::bytes: return entry + ".bytes";
      case Slot::pause_ms: return "pause_ms";
      case Slot::python: return "python";
      case Slot::version: return "python.version";
      case Slot::memory: return "memory";
      case Slot::rss: return "memory.rss_bytes";
      default: return "?";
    }
  }
  static const char* expected(Slot s) {
    switch (s) {
      case Slot::pid: return "a PID";
      case Slot::timestamp: return "a number";
      case Slot::total:
      case Slot::uncertain:
      case Slot::count:
      case Slot::bytes:
      case Slot::rss: return "a count (a whole number up to 2^62)";
      case Slot::walk:
      case Slot::python:
      case Slot::memory:
      case Slot::entry: return "an object";
      case Slot::pause_ms: return "a number of milliseconds or null";
      case Slot::version: return "a version string";
      case Slot::types: return "an array";
      case Slot::complete:
      case Slot::torn: return "true or false";
      case Slot::name: return "a string";
      default: return "?";
    }
  }

  // The first error is kept; parsing goes on, because a later "event" key makes the line
  // one that readers skip whatever its fields hold.
  void note(std::string message) {
    if (!error_) error_ = std::move(message);
  }
  bool wrong(const char* what) {
    note(fmt::format("\"{}\" is {}, not {}", field(), what, expected(slot())));
    return true;
  }
  bool wrong_unless_ignored(const char* what) {
    const Slot s = slot();
    if (s == Slot::ignored || s == Slot::root) return true;
    return wrong(what);
  }
  // Counts past 2^62 are corrupt: no heap holds that many objects, and below it every
  // difference of two counts is exact in a signed 64-bit integer.
  bool count_into(std::uint64_t v, std::uint64_t& out) {
    if (v > kMaxCount) {
      note(fmt::format("\"{}\" is {}, above 2^62: not a real count", field(), v));
      return true;
    }
    out = v;
    return true;
  }
  void finish_entry(const Level& l) {
    const std::size_t index = stack_.empty() ? 0 : stack_.back().index - 1;
    if (!l.has_name || !l.has_count) {
      note(fmt::format("\"types[{}]\" has no {}", index, l.has_name ? "\"count\"" : "\"name\""));
      return;
    }
    std::uint64_t& sum = snap_.counts[l.name];
    if (l.count > kMaxCount - sum) {
      note(fmt::format("\"types[{}].count\": the counts of one name add up past 2^62", index));
      return;
    }
    sum += l.count;
    // Bytes: a census has them for every entry (written with them) or none (--no-bytes, or
    // objspy before 0.6).
    if (!l.has_bytes) {
      lacks_bytes_ = true;
      return;
    }
    std::uint64_t& b = snap_.bytes[l.name];
    if (l.bytes > kMaxCount - b) {
      note(fmt::format("\"types[{}].bytes\": the bytes of one name add up past 2^62", index));
      return;
    }
    b += l.bytes;
  }

  std::vector<Level> stack_;
  Snapshot snap_;
  bool has_types_ = false, event_ = false, torn_ = false, not_json_ = false, lacks_bytes_ = false;
  std::size_t error_position_ = 0;
  std::optional<std::string> error_;
};

}  // namespace

Result<std::optional<Snapshot>> parse_census_document(std::string_view text, bool* not_json) {
  CensusReader reader;
  nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &reader);
  return std::move(reader).result(not_json);
}

}  // namespace objspy

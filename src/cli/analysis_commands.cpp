// diff and suspects: offline analysis of saved censuses.
#include <cstdio>
#include <istream>

#include <ext/stdio_filebuf.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "objspy/cli/commands.hpp"
#include "objspy/census/series.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/core/escape.hpp"

namespace objspy::cli {
namespace {

void out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

// A census that is not trusted is still compared (it is what the user asked for), flagged.
void warn_if_untrusted(const std::string& path, const Snapshot& s) {
  if (s.trusted()) return;
  const std::string why = s.uncertain == 0 ? "a partial count" : fmt::format("coverage {:.1f}%", s.coverage() * 100);
  std::fputs(fmt::format("objspy: warning: {} is an incomplete census ({}): its changes are not reliable\n", escape_for_terminal(path), why).c_str(),
             stderr);
}

}  // namespace

Status run_diff(const std::string& a, const std::string& b, std::size_t limit, SortBy by) {
  OBJSPY_ASSIGN(std::string ta, read_input_file(a));
  OBJSPY_ASSIGN(std::string tb, read_input_file(b));
  auto sa = parse_snapshot(ta);
  if (!sa.ok()) return make_error(Errc::io, fmt::format("{}: {}", a, sa.error().message));
  auto sb = parse_snapshot(tb);
  if (!sb.ok()) return make_error(Errc::io, fmt::format("{}: {}", b, sb.error().message));
  warn_if_untrusted(a, *sa);
  warn_if_untrusted(b, *sb);
  auto ma = measured_by(std::move(*sa), by);
  if (!ma.ok()) return make_error(Errc::io, fmt::format("{}: {}", a, ma.error().message));
  auto mb = measured_by(std::move(*sb), by);
  if (!mb.ok()) return make_error(Errc::io, fmt::format("{}: {}", b, mb.error().message));
  out(render_diff(diff(*ma, *mb, limit), by));
  return {};
}

Status run_suspects(const std::string& file, std::size_t limit, bool json, std::size_t max_types, SortBy by) {
  // Line by line: memory for one line and at most max_types types, whatever the file holds.
  OBJSPY_ASSIGN(Fd fd, open_input_file(file));
  __gnu_cxx::stdio_filebuf<char> buf(fd.release(), std::ios::in);
  std::istream in(&buf);
  auto read = read_series(in, max_types, {}, by);
  if (!read.ok()) return make_error(Errc::io, fmt::format("{}: {}", file, read.error().message));
  auto rows = leak_suspects(read->series, limit);
  const RankedOver over = ranked_over(read->series, read->skipped);
  if (json) {
    auto j = suspects_to_json(rows, over);
    j["measure"] = by == SortBy::bytes ? "bytes" : "count";
    out(j.dump(2, ' ', true) + "\n");
  } else {
    out(render_suspects(rows, over, by));
  }
  return {};
}

}  // namespace objspy::cli

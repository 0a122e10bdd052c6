// objspy report: a recording read once, line by line, into the HTML report.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <istream>

#include <ext/stdio_filebuf.h>

#include <fmt/format.h>

#include "objspy/census/report_data.hpp"
#include "objspy/cli/commands.hpp"
#include "objspy/cli/safe_file.hpp"
#include "objspy/output/report_html.hpp"

namespace objspy::cli {

Status write_report(std::FILE* out, const std::string& path, const ReportData& data, const std::string& source) {
  const std::string html = render_report_html(data, source);
  const bool ok = std::fwrite(html.data(), 1, html.size(), out) == html.size();
  const int e = errno;
  const bool closed = std::fclose(out) == 0;
  if (!ok || !closed) return make_error(Errc::io, fmt::format("cannot write {}: {}", path, std::strerror(ok ? errno : e)));
  return {};
}

Status refuse_same_file(const std::string& input, const std::string& output) {
  struct stat a {}, b {};
  if (::stat(input.c_str(), &a) == 0 && ::stat(output.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return make_error(Errc::io, fmt::format("refusing {}: it is the recording itself ({}), which writing the report would destroy", output, input));
  return {};
}

Status run_report(const ReportOptions& o) {
  OBJSPY_TRY(refuse_same_file(o.input, o.output));
  // The output is opened first: a name that cannot be written is said before any reading.
  OBJSPY_ASSIGN(std::FILE * out, open_for_writing(o.output));
  auto in_fd = open_input_file(o.input);
  if (!in_fd.ok()) {
    std::fclose(out);
    return in_fd.take_error();
  }
  __gnu_cxx::stdio_filebuf<char> buf(in_fd->release(), std::ios::in);
  std::istream in(&buf);
  ReportBuilder builder;
  auto read = read_series(in, o.max_types, [&](const Snapshot* s, std::string_view line) { builder.observe(s, line); });
  if (!read.ok()) {
    std::fclose(out);
    return make_error(Errc::io, fmt::format("{}: {}", o.input, read.error().message));
  }
  const ReportData data = std::move(builder).finish(read->series, read->skipped, o.suspects);
  if (data.censuses == 0) {
    std::fclose(out);
    return make_error(Errc::io, fmt::format("{}: no census in it (is it the output of objspy record?)", o.input));
  }
  return write_report(out, o.output, data, o.input);
}

}  // namespace objspy::cli

// The HTML report from a recording anyone may have written: read_series with the report's
// observer must never throw or crash, and the page it renders must keep every byte of the
// recording inside its data element (no "<" outside the page's own markup).
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "objspy/census/report_data.hpp"
#include "objspy/output/report_html.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  objspy::ReportBuilder builder;
  auto read = objspy::read_series(in, 50, [&](const objspy::Snapshot* s, std::string_view line) { builder.observe(s, line); });
  if (!read.ok()) {
    if (read.error().code != objspy::Errc::io) std::abort();
    return 0;
  }
  const auto report = std::move(builder).finish(read->series, read->skipped, 0);
  if (report.timeline.size() > objspy::kMaxReportPoints || report.failures.size() > objspy::kMaxReportFailures) std::abort();
  const std::string html = objspy::render_report_html(report, "fuzz");
  const std::string open = "<script id=\"objspy-data\" type=\"application/json\">";
  const auto a = html.find(open);
  if (a == std::string::npos) std::abort();
  const auto b = html.find("</script>", a);
  if (b == std::string::npos) std::abort();
  const std::string_view inside(html.data() + a + open.size(), b - a - open.size());
  if (inside.find('<') != std::string_view::npos || inside.find('>') != std::string_view::npos) std::abort();
  return 0;
}

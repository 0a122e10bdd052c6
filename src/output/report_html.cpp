// The HTML report: the page around the data (report_html.hpp).
#include "objspy/output/report_html.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace objspy {
namespace report_assets {
extern const unsigned char uplot_js[], uplot_css[], uplot_license[], page_js[], page_css[];
extern const std::size_t uplot_js_size, uplot_css_size, uplot_license_size, page_js_size, page_css_size;
}  // namespace report_assets

namespace {

std::string asset(const unsigned char* bytes, std::size_t size) { return std::string(reinterpret_cast<const char*>(bytes), size); }

// Null where a number is not finite (JSON has no NaN).
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json to_json(const ReportData& d, const std::string& source) {
  using nlohmann::json;
  json j;
  j["source"] = source;
  j["pid"] = d.pid;
  j["python_version"] = d.python_version;
  j["first_t"] = number(d.first_t);
  j["last_t"] = number(d.last_t);
  j["censuses"] = d.censuses;
  j["untrusted"] = d.untrusted;
  j["failed"] = d.failed;
  j["reattaches"] = d.reattaches;
  j["exited"] = d.exited;
  j["paused"] = d.paused;
  j["pause_max_ms"] = number(d.pause_max_ms);
  j["pause_mean_ms"] = number(d.pause_mean_ms);
  json t = json::array(), total = json::array(), trusted = json::array(), pause = json::array(), rss = json::array();
  for (const auto& p : d.timeline) {
    t.push_back(number(p.t));
    rss.push_back(p.rss_bytes ? json(p.rss_bytes) : json());
    total.push_back(p.total);
    trusted.push_back(p.trusted);
    pause.push_back(p.pause_ms >= 0 ? number(p.pause_ms) : json());
  }
  j["timeline"] = {{"t", t}, {"total", total}, {"trusted", trusted}, {"pause_ms", pause}, {"rss_bytes", rss}};
  json failures = json::array();
  for (const auto& [message, n] : d.failures) failures.push_back({{"message", message}, {"count", n}});
  j["failures"] = failures;
  j["failures_other"] = d.failures_other;
  j["series_start"] = number(d.series_start);
  j["ranked"] = {{"samples", d.over.samples}, {"skipped", d.over.skipped}, {"hours", number(d.over.hours)}, {"max_types", d.over.max_types},
                 {"folded", d.over.folded}, {"other_types", d.over.other_types}, {"other_objects", d.over.other_objects}};
  json suspects = json::array();
  for (const auto& r : d.suspects) {
    const Suspect& s = r.suspect;
    json ts = json::array();
    for (double v : r.t) ts.push_back(number(v));
    suspects.push_back({{"name", s.name},
                        {"confidence", s.confidence},
                        {"first", s.first},
                        {"last", s.last},
                        {"per_hour", number(s.per_hour)},
                        {"line_at_start", number(s.line_at_start)},
                        {"r2", number(s.r2)},
                        {"rising", number(s.rising)},
                        {"falling", number(s.falling)},
                        {"share", number(s.share)},
                        {"t", ts},
                        {"counts", r.counts}});
  }
  j["suspects"] = suspects;
  return j;
}

}  // namespace

std::string json_for_script(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xe2' && i + 2 < text.size() && text[i + 1] == '\x80' && (text[i + 2] == '\xa8' || text[i + 2] == '\xa9')) {
      out += text[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";  // U+2028, U+2029 (only inside strings)
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_report_html(const ReportData& d, const std::string& source_name) {
  // Invalid UTF-8 in a name (the recording is untrusted) becomes U+FFFD rather than an exception.
  const std::string data = json_for_script(to_json(d, source_name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::string html;
  html.reserve(data.size() + report_assets::uplot_js_size + 16384);
  html += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // Nothing may be fetched: no network, no other file; the inline script and style only.
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
          "style-src 'unsafe-inline'; img-src data:\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"objspy " OBJSPY_VERSION_STRING "\">\n";
  html += "<title>objspy report</title>\n<style>\n";
  html += asset(report_assets::uplot_css, report_assets::uplot_css_size);
  html += "\n";
  html += asset(report_assets::page_css, report_assets::page_css_size);
  html += "</style>\n</head>\n<body>\n<main id=\"report\"><noscript>This report draws its content with JavaScript.</noscript></main>\n";
  html += "<script id=\"objspy-data\" type=\"application/json\">";
  html += data;
  html += "</script>\n<!-- uPlot, embedded:\n";
  std::string license = asset(report_assets::uplot_license, report_assets::uplot_license_size);
  for (std::size_t p; (p = license.find("--")) != std::string::npos;) license.replace(p, 2, "- -");  // no end of comment
  html += license;
  html += "-->\n<script>\n";
  html += asset(report_assets::uplot_js, report_assets::uplot_js_size);
  html += "\n</script>\n<script>\n";
  html += asset(report_assets::page_js, report_assets::page_js_size);
  html += "\n</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace objspy

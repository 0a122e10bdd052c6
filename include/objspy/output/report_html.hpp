// The HTML report of a recorded series (objspy report, record --report): one self-contained
// file, charts drawn by uPlot embedded at build time. Everything from the recording (type
// names come from an untrusted process) travels as JSON in a non-executed script element,
// escaped so that no text can close it, and the page script puts it in the document only as
// text (textContent), never as markup; a Content-Security-Policy forbids loading anything.
#pragma once
#include <string>

#include "objspy/census/report_data.hpp"

namespace objspy {

std::string render_report_html(const ReportData& data, const std::string& source_name);

// JSON text made safe inside <script type="application/json">: '<', '>', '&' and the two
// JavaScript line separators are written as \u escapes (valid JSON, same value).
std::string json_for_script(const std::string& json_text);

}  // namespace objspy

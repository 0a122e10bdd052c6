// objspy report and record --report: the HTML report of a real recording on every
// interpreter, rendered by Chromium; hostile type names stay text; bad inputs get one line.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace {


std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The JSON of the page's data element (what the page draws from).
nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script id=\"objspy-data\" type=\"application/json\">";
  const auto a = html.find(open);
  if (a == std::string::npos) return nullptr;
  const auto b = html.find("</script>", a);
  if (b == std::string::npos) return nullptr;
  return nlohmann::json::parse(html.substr(a + open.size(), b - a - open.size()), nullptr, false);
}

// The page as headless Chromium shows it (tests/report/check_report.mjs, playwright-core
// driving Debian's Chromium): what it drew, what it requested, what it logged, with a
// screenshot at `shot`. Null (the test failed through itest::missing) when the tools are absent.
nlohmann::json check_page(const std::string& html_path, const std::string& shot) {
  const std::string dir = itest::source_dir() + "/tests/report";
  if (access("/usr/bin/chromium", X_OK) != 0) {
    itest::missing("chromium", "not installed (tools/setup.sh --chroot installs it): the report's page is not rendered");
    return nullptr;
  }
  if (access((dir + "/node_modules/playwright-core/package.json").c_str(), R_OK) != 0) {
    itest::missing("playwright-core", "not installed in tests/report (tools/setup.sh --chroot runs npm ci there)");
    return nullptr;
  }
  auto r = itest::run({"node", dir + "/check_report.mjs", html_path, shot}, 120);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

// The page drew, loaded nothing, logged no error and ran no foreign code.
void check_clean(const nlohmann::json& page) {
  CHECK(page.at("title") == "objspy report");
  CHECK(page.at("requests").empty());  // nothing beyond the file itself
  CHECK(page.at("errors").empty());
  CHECK(page.at("dialogs").empty());
  CHECK(page.at("planted") == 0);
  CHECK(page.at("scripts") == 3);  // the data, uPlot, the page's own
}


}  // namespace

TEST_CASE("record --report and report: the leak is the first suspect on every interpreter, ranked as suspects ranks it, and the page draws it") {
  bool rendered = false;
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "leak_and_wave.py", {{"LEAK_RATE", "500"}});
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    const itest::TempDir dir;
    const std::string series = dir.path + "/series.ndjson", live = dir.path + "/live.html", offline = dir.path + "/offline.html";
    const std::string pid = std::to_string(t.pid());
    auto rec = itest::run(itest::objspy({"record", "--pid", pid, "--interval", "100ms", "--count", "12", "-q", "-o", series, "--report", live}));
    INFO(rec.err);
    REQUIRE(rec.exit_code == 0);
    const auto a = page_data(slurp(live));
    REQUIRE(a.is_object());
    CHECK(a.at("censuses") == 12);
    CHECK(a.at("pid") == t.pid());
    CHECK(a.at("python_version").get<std::string>().rfind(py.expect_minor + ".", 0) == 0);
    CHECK(a.at("timeline").at("t").size() == 12);
    for (const auto& rss : a.at("timeline").at("rss_bytes")) CHECK(rss.is_number());  // the target's memory, per census
    REQUIRE_FALSE(a.at("suspects").empty());
    CHECK(a.at("suspects").at(0).at("name") == "Leak");
    // High with 10 trusted censuses or more; a busy machine can leave one or two incomplete.
    CHECK(a.at("suspects").at(0).at("confidence") != "low");

    auto rep = itest::run(itest::objspy({"report", series, "-o", offline}));
    INFO(rep.err);
    REQUIRE(rep.exit_code == 0);
    CHECK(rep.out.empty());
    const auto b = page_data(slurp(offline));
    REQUIRE(b.is_object());
    CHECK(b.at("censuses") == 12);
    // The same ranking as `objspy suspects`, row by row.
    auto sus = itest::run(itest::objspy({"suspects", series, "--json"}));
    REQUIRE(sus.exit_code == 0);
    const auto ranked = nlohmann::json::parse(sus.out).at("suspects");
    REQUIRE(ranked.size() == b.at("suspects").size());
    for (std::size_t i = 0; i < ranked.size(); ++i) {
      CHECK(ranked[i].at("name") == b.at("suspects")[i].at("name"));
      CHECK(ranked[i].at("confidence") == b.at("suspects")[i].at("confidence"));
    }
    // The leak's points are its counts in the recording, census by census (the ranked ones:
    // an incomplete census is left out of the series, so they are a subsequence).
    const auto& leak = b.at("suspects").at(0);
    REQUIRE(leak.at("name") == "Leak");
    CHECK(leak.at("counts").size() == b.at("ranked").at("samples"));
    std::ifstream lines(series);
    std::string line;
    std::size_t matched = 0;
    while (std::getline(lines, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("event")) continue;
      for (const auto& e : j.at("types"))
        if (e.at("name") == "Leak" && matched < leak.at("counts").size() && e.at("count") == leak.at("counts")[matched]) ++matched;
    }
    CHECK(matched == leak.at("counts").size());

    if (!rendered) {  // once: Chromium takes a second or two
      rendered = true;
      const std::string shot = dir.path + "/report.png";
      const auto page = check_page(offline, shot);
      if (page.is_null()) return;
      check_clean(page);
      CHECK(std::filesystem::file_size(shot) > 10000);  // a screenshot was taken
      REQUIRE(page.at("suspects").size() >= 1);
      CHECK(page.at("suspects").at(0) == "Leak");  // the leaking type is the first suspect shown
      // The charts drew: objects over time in its colour, the memory in its own, the leak's
      // count in its own (canvas pixels, not only elements).
      const auto& canvases = page.at("canvases");
      REQUIRE(canvases.size() >= 3);
      CHECK(canvases.at(0).at("total").get<int>() > 100);
      CHECK(canvases.at(1).at("rss").get<int>() > 100);
      CHECK(canvases.at(2).at("count").get<int>() > 100);
    }
  }
}

TEST_CASE("report: type names from a hostile recording are shown as text and run nothing") {
  const itest::TempDir dir;
  const std::string series = dir.path + "/hostile.ndjson", html = dir.path + "/hostile.html";
  const std::vector<std::string> names = {
      "</script><script>document.title='pwned'</script>",
      "<img src=x onerror=alert(1)>",
      "\"><svg onload=\"document.title='pwned'\">",
      "line\xe2\x80\xa8separator",
  };
  {
    std::ofstream out(series);
    for (int i = 0; i < 12; ++i) {
      nlohmann::json types = nlohmann::json::array();
      std::uint64_t total = 0;
      for (std::size_t k = 0; k < names.size(); ++k) {
        const std::uint64_t n = 10 + (k + 1) * static_cast<std::uint64_t>(i) * 7;
        types.push_back({{"name", names[k]}, {"count", n}});
        total += n;
      }
      out << nlohmann::json({{"pid", 4242}, {"timestamp", 1.7e9 + 30 * i}, {"total_objects", total}, {"walk", {{"complete", true}}}, {"types", types}})
                 .dump()
          << "\n";
    }
  }
  auto r = itest::run(itest::objspy({"report", series, "-o", html}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto data = page_data(slurp(html));
  REQUIRE(data.is_object());
  REQUIRE(data.at("suspects").size() == names.size());
  const auto page = check_page(html, dir.path + "/hostile.png");
  if (page.is_null()) return;
  check_clean(page);  // no alert, no element of theirs, no request
  // Every name is shown, as the text it is.
  auto shown = page.at("suspects").get<std::vector<std::string>>();
  auto want = names;
  std::sort(shown.begin(), shown.end());
  std::sort(want.begin(), want.end());
  CHECK(shown == want);
}

TEST_CASE("report: bad inputs and outputs get one line and exit 12") {
  const itest::TempDir dir;
  const std::string text = dir.path + "/notes.txt", events = dir.path + "/events.ndjson", out = dir.path + "/r.html";
  std::ofstream(text) << "not a recording\n";
  std::ofstream(events) << R"({"event":"target_exited","pid":1,"samples":0})" << "\n";
  for (const auto& input : {text, events}) {
    auto r = itest::run(itest::objspy({"report", input, "-o", out}));
    INFO(r.err);
    CHECK(r.exit_code == 12);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.rfind("objspy: error: ", 0) == 0);
  }
  // A link planted at the output's name is not written through.
  const std::string victim = dir.path + "/victim", link = dir.path + "/link.html";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, link);
  std::ofstream good(dir.path + "/good.ndjson");
  good << R"({"pid":1,"timestamp":1,"total_objects":1,"walk":{"complete":true},"types":[{"name":"A","count":1}]})" << "\n";
  good.close();
  auto r = itest::run(itest::objspy({"report", dir.path + "/good.ndjson", "-o", link}));
  CHECK(r.exit_code == 12);
  CHECK(r.err.find("symbolic link") != std::string::npos);
  CHECK(slurp(victim) == "precious");
  // The recording itself is never the output.
  r = itest::run(itest::objspy({"report", dir.path + "/good.ndjson", "-o", dir.path + "/good.ndjson"}));
  CHECK(r.exit_code == 12);
  CHECK(r.err.find("the recording itself") != std::string::npos);
  CHECK(slurp(dir.path + "/good.ndjson").find("\"types\"") != std::string::npos);
  // And a recording with censuses but too few to rank still gives a page that says so.
  r = itest::run(itest::objspy({"report", dir.path + "/good.ndjson", "-o", out}));
  CHECK(r.exit_code == 0);
  const auto data = page_data(slurp(out));
  REQUIRE(data.is_object());
  CHECK(data.at("suspects").empty());
  CHECK(data.at("censuses") == 1);
}

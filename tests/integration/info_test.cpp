// objspy info on every interpreter: the same interpreter, build, objects and collector as a
// census of the same idle target says, with the process's facts and memory.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "support.hpp"

TEST_CASE("info: the interpreter, its build and how it was read, memory, objects and each collector, on every interpreter") {
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    itest::Target t(py, "idle.py");
    std::string err;
    REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
    const std::string pid = std::to_string(t.pid());
    auto r = itest::run(itest::objspy({"info", "--pid", pid, "--json"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    auto d = itest::run(itest::objspy({"dump", "--pid", pid, "--format", "json", "-q"}));
    REQUIRE(d.exit_code == 0);
    const auto census = nlohmann::json::parse(d.out);
    CHECK(j.at("pid") == t.pid());
    CHECK(j.at("python").at("version") == census.at("python").at("version"));
    CHECK(j.at("python").at("version").get<std::string>().rfind(py.expect_minor + ".", 0) == 0);
    CHECK(j.at("python").at("debug_build") == py.debug);
    CHECK(j.at("python").at("binary") == census.at("python").at("binary"));
    CHECK(j.at("python").at("layout_source") == census.at("python").at("layout_source"));
    CHECK_FALSE(j.at("python").at("symbols_from").get<std::string>().empty());
    CHECK(j.at("process").at("threads").get<int>() >= 1);
    CHECK(j.at("process").at("threads").get<std::size_t>() ==
          static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/" + pid + "/task"), {})));
    CHECK(j.at("memory").at("rss_bytes").get<std::uint64_t>() > 0);
    // An idle target: the same objects and the same collector as the census.
    CHECK(j.at("objects").at("total") == census.at("total_objects"));
    CHECK(j.at("objects").at("complete") == true);
    CHECK(j.at("interpreters") == census.at("interpreters"));
    // Where each layout field came from: the target's own offsets exactly when it has them.
    const bool published = census.at("python").at("layout_source").get<std::string>().find("_Py_DebugOffsets") != std::string::npos;
    std::size_t from_target = 0;
    REQUIRE(j.at("layout_fields").size() > 20);
    for (const auto& f : j.at("layout_fields")) from_target += f.at("source") == "_Py_DebugOffsets";
    CHECK((from_target > 0) == published);
    CHECK(published == (std::stoi(py.expect_minor.substr(2)) >= 13));  // 3.13+ publish them
    auto text = itest::run(itest::objspy({"info", "--pid", pid}));
    CHECK(text.exit_code == 0);
    CHECK(text.out.find("python       " + census.at("python").at("version").get<std::string>()) != std::string::npos);
    CHECK(text.out.find("collector    gc: ") != std::string::npos);
    auto listed = itest::run(itest::objspy({"info", "--pid", pid, "--fields"}));
    CHECK(listed.exit_code == 0);
    CHECK(listed.out.find("PyInterpreterState.gc") != std::string::npos);
  }
  auto none = itest::run(itest::objspy({"info", "--pid", "999999999"}));
  CHECK(none.exit_code != 0);
  CHECK(none.err.rfind("objspy: error: ", 0) == 0);
}

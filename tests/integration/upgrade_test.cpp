// objspy as the packaged units run it, with CAP_SYS_PTRACE and nothing else: /proc/PID/map_files
// is refused, so the symbols come from the file on disk (only when it is provably the mapped
// one) or from the image in the target's memory. A package upgrade that replaces libpython
// under a running service must still give the exact census, as must every interpreter with the
// capabilities dropped, as root (the units) and as an unprivileged user.
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "objspy/core/escape.hpp"
#include "support.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Counts = std::map<std::string, long long>;

// How objspy is run: root with only CAP_SYS_PTRACE left (CapabilityBoundingSet= and
// AmbientCapabilities= of the units in packaging/), or user nobody with only CAP_SYS_PTRACE.
enum class Who { root_ptrace_only, nobody_ptrace_only };

std::vector<std::string> restricted(Who who, std::vector<std::string> argv) {
  std::vector<std::string> out = {"setpriv"};
  if (who == Who::nobody_ptrace_only) {
    out.insert(out.end(), {"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+sys_ptrace", "--ambient-caps=-all,+sys_ptrace"});
  } else {
    out.insert(out.end(), {"--inh-caps=-all", "--ambient-caps=-all"});
  }
  out.insert(out.end(), {"--bounding-set=-all,+sys_ptrace", "--"});
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// A std::string: doctest prints a const char* in a message as a pointer.
std::string who_name(Who w) { return w == Who::root_ptrace_only ? "root with only CAP_SYS_PTRACE" : "nobody with CAP_SYS_PTRACE"; }

Counts from_target(const json& j) {
  Counts c;
  for (auto& [k, v] : j.at("short").items()) c[objspy::sanitize_utf8(itest::hex_decode(k))] += v.get<long long>();
  return c;
}

// "" when objspy's census equals the target's own, else what differs.
std::string compare(const json& truth, const json& got) {
  Counts want = from_target(truth), have;
  for (const auto& t : got.at("types")) have[t.at("name").get<std::string>()] += t.at("count").get<long long>();
  std::string diff;
  for (const auto& [name, n] : want)
    if (auto it = have.find(name); it == have.end() || it->second != n)
      diff += fmt::format(" {}: target {} objspy {};", objspy::escape_for_terminal(name), n, it == have.end() ? 0 : it->second);
  for (const auto& [name, n] : have)
    if (!want.count(name)) diff += fmt::format(" {}: target 0 objspy {};", objspy::escape_for_terminal(name), n);
  if (got.at("total_objects").get<long long>() != truth.at("total").get<long long>())
    diff += fmt::format(" total {} vs target {};", got.at("total_objects").get<long long>(), truth.at("total").get<long long>());
  if (got.at("frozen").get<long long>() != truth.at("frozen").get<long long>()) diff += " frozen differs;";
  if (got.at("python").at("version").get<std::string>() != truth.at("version").get<std::string>())
    diff += " version " + got.at("python").at("version").get<std::string>() + ";";
  if (!got.at("walk").at("complete").get<bool>()) diff += " walk incomplete;";
  return diff;
}

// objspy dump --verbose under `who`: "" if the census is exact, else why not. `source` gets
// the way the symbols were read ("map_files", "verified file", "target memory").
std::string census_as(Who who, const json& truth, pid_t pid, std::string* source) {
  auto r = itest::run(restricted(who, itest::objspy({"dump", "--pid", std::to_string(pid), "--format", "json", "--verbose"})));
  const std::string tag = "symbols read from ";
  if (auto at = r.err.find(tag); at != std::string::npos) *source = r.err.substr(at + tag.size(), r.err.find(':', at) - at - tag.size());
  if (r.exit_code != 0) return fmt::format("objspy exit {}: {}", r.exit_code, objspy::escape_for_terminal(r.err).substr(0, 600));
  std::string diff = compare(truth, json::parse(r.out));
  return diff.empty() ? "" : fmt::format("census differs:{} (stderr: {})", diff, objspy::escape_for_terminal(r.err).substr(0, 400));
}

// The first mapping of `file` in the process (its start-end range), or "".
std::string mapped_range(pid_t pid, const std::string& file, bool* deleted = nullptr) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  std::string line;
  while (std::getline(maps, line)) {
    auto at = line.find(file);
    if (at == std::string::npos) continue;
    if (deleted) *deleted = line.find(" (deleted)", at) != std::string::npos;
    return line.substr(0, line.find(' '));
  }
  return "";
}

// Precondition of every case: the restriction really refuses map_files (else the test would
// pass through the old way of reading).
void require_map_files_refused(Who who, pid_t pid, const std::string& range) {
  REQUIRE_FALSE(range.empty());
  auto r = itest::run(restricted(who, {"head", "-c", "4", fmt::format("/proc/{}/map_files/{}", pid, range)}));
  INFO("head on map_files as " << who_name(who) << ": exit " << r.exit_code << " " << r.err);
  REQUIRE(r.exit_code != 0);
}

// Atomically replace `path` by `content` as a package manager does: write a new file, rename
// it over the old name. The running process keeps its (now nameless) old inode.
void replace_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".dpkg-new";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    REQUIRE(f.good());
  }
  REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
}

// A private directory, removed however the test case ends.
struct TempDir {
  fs::path path;
  TempDir() {
    char t[] = "/tmp/objspy-upgrade-XXXXXX";
    if (::mkdtemp(t)) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a libpython replaced on disk under the target: exact census with only CAP_SYS_PTRACE") {
  REQUIRE_MESSAGE(::geteuid() == 0, "dropping to only CAP_SYS_PTRACE with setpriv needs root");
  // pyenv's shared builds: run the pyenv executable on a private copy of its libpython
  // (LD_LIBRARY_PATH wins over their RUNPATH), then replace that copy.
  std::vector<const itest::Interpreter*> shared;
  for (const auto& py : itest::discover().found)
    if (py.label.rfind("pyenv ", 0) == 0 && py.argv.size() == 1) shared.push_back(&py);
  REQUIRE_FALSE(shared.empty());
  int tested = 0;
  for (std::size_t i = 0; i < shared.size(); ++i) {
    const itest::Interpreter& py = *shared[i];
    CAPTURE(py.label);
    const fs::path prefix = fs::path(py.argv[0]).parent_path().parent_path();
    const std::string soname = fmt::format("libpython{}.so.1.0", py.expect_minor);
    const fs::path lib = prefix / "lib" / soname;
    REQUIRE(fs::exists(lib));
    TempDir tmp;
    REQUIRE_FALSE(tmp.path.empty());
    const fs::path dir = tmp.path;
    const fs::path copy = dir / soname;
    fs::copy_file(lib, copy);
    {
      itest::Target t(py, "known_heap.py", {{"LD_LIBRARY_PATH", dir.string()}});
      std::string err;
      auto line = t.ready_line(120, &err);
      REQUIRE_MESSAGE(line, py.label << ": target did not start: " << err.substr(0, 300));
      json truth = json::parse(*line);
      bool deleted = true;
      const std::string range = mapped_range(t.pid(), copy.string(), &deleted);
      REQUIRE_MESSAGE(!range.empty(), py.label << " does not map the copy " << copy);
      REQUIRE_FALSE(deleted);

      // The upgrade: another Python's libpython (the next one, or the previous for the last)
      // under the same name, or for every other interpreter a truncated file.
      const bool other_version = i % 2 == 0;
      if (other_version) {
        const itest::Interpreter& other = *shared[i + 1 < shared.size() ? i + 1 : (i > 0 ? i - 1 : i)];
        const fs::path other_prefix = fs::path(other.argv[0]).parent_path().parent_path();
        replace_file(copy.string(), read_all((other_prefix / "lib" / fmt::format("libpython{}.so.1.0", other.expect_minor)).string()));
      } else {
        replace_file(copy.string(), read_all(lib.string()).substr(0, 4096));
      }
      REQUIRE(mapped_range(t.pid(), copy.string(), &deleted) == range);
      REQUIRE(deleted);

      for (Who who : {Who::root_ptrace_only, Who::nobody_ptrace_only}) {
        const std::string as = who_name(who);
        CAPTURE(as);
        require_map_files_refused(who, t.pid(), range);
        std::string source;
        std::string problem = census_as(who, truth, t.pid(), &source);
        CHECK_MESSAGE(problem.empty(), py.label << " after replacing its libpython by " << std::string(other_version ? "another version" : "a truncated file")
                                                << ", as " << who_name(who) << ": " << problem);
        CHECK_MESSAGE(source == "target memory", py.label << ": symbols read from '" << source << "'");
        itest::record({py.label, truth.at("version").get<std::string>(), problem.empty() ? "exact" : "DIFFERS", "",
                       fmt::format("libpython replaced ({}), {}: {}", other_version ? "other version" : "truncated", who_name(who), source)});
        ++tested;
      }
    }
  }
  REQUIRE(tested > 0);
}

TEST_CASE("every interpreter, with only CAP_SYS_PTRACE (root as the units run, and an unprivileged user): exact census") {
  REQUIRE_MESSAGE(::geteuid() == 0, "dropping to only CAP_SYS_PTRACE with setpriv needs root");
  const auto& found = itest::discover().found;
  REQUIRE_FALSE(found.empty());
  int tested = 0;
  for (const auto& py : found) {
    CAPTURE(py.label);
    itest::Target t(py, "known_heap.py");
    std::string err;
    auto line = t.ready_line(120, &err);
    REQUIRE_MESSAGE(line, py.label << ": target did not start: " << err.substr(0, 300));
    json truth = json::parse(*line);
    // The file that holds the interpreter: a libpython if mapped, else the executable.
    std::string range = mapped_range(t.pid(), "libpython");
    if (range.empty()) range = mapped_range(t.pid(), "/python3");
    for (Who who : {Who::root_ptrace_only, Who::nobody_ptrace_only}) {
      const std::string as = who_name(who);
      CAPTURE(as);
      require_map_files_refused(who, t.pid(), range);
      std::string source;
      std::string problem = census_as(who, truth, t.pid(), &source);
      CHECK_MESSAGE(problem.empty(), py.label << " as " << who_name(who) << ": " << problem);
      CHECK_MESSAGE((source == "verified file" || source == "target memory"), py.label << ": symbols read from '" << source << "'");
      itest::record({py.label, truth.at("version").get<std::string>(), problem.empty() ? "exact" : "DIFFERS", "", fmt::format("{}: {}", who_name(who), source)});
      ++tested;
    }
  }
  REQUIRE(tested > 0);
}

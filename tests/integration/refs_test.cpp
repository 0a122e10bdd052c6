// objspy refs on every interpreter, against the target's own view: the chain to a planted
// Leaked object has the length of objgraph.find_backref_chain inside the target, and the
// target confirms every step with gc.get_referents; the referrers listed for a planted object
// are gc.get_referrers's. The same on an objspy snapshot and a gcore core after the target
// exited (the chain's addresses are those of the live run). heap --retained gives a planted
// subtree's retained size as the target's own sum of sys.getsizeof over it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kObjgraph = "/usr/lib/python3/dist-packages/objgraph.py";

bool chrooted(const itest::Interpreter& py) { return py.argv.size() >= 3 && py.argv[0] == "chroot"; }

json refs_json(const std::vector<std::string>& args, std::string* err) {
  std::vector<std::string> a{"refs"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back("--json");
  a.push_back("-q");
  auto r = itest::run(itest::objspy(a), itest::kPatience);
  *err = fmt::format("exit {}: {}", r.exit_code, r.err);
  if (r.exit_code != 0) return json();
  return json::parse(r.out);
}

// heap --retained's retained size of the object at `address` (-1: not listed; err says why).
long long retained_of(const std::vector<std::string>& target, const std::string& address, std::string* err) {
  std::vector<std::string> a{"heap", "--retained", "--json", "-l", "0", "-q"};
  a.insert(a.end(), target.begin(), target.end());
  auto r = itest::run(itest::objspy(a), itest::kPatience);
  *err = fmt::format("exit {}: {}", r.exit_code, r.err);
  if (r.exit_code != 0) return -1;
  const json heap = json::parse(r.out);
  for (const auto& o : heap.at("retained").at("objects"))
    if (o.at("address").get<std::string>() == address) return o.at("retained").get<long long>();
  return -1;
}

std::vector<std::string> chain_of(const json& j) {
  std::vector<std::string> out;
  for (const auto& s : j.at("chain")) out.push_back(s.at("address").get<std::string>());
  return out;
}

std::set<std::string> set_of(const json& a) {
  std::set<std::string> out;
  for (const auto& x : a) out.insert(x.get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("refs: the chain to a planted object (objgraph's length, every step confirmed by the target) and its referrers (gc.get_referrers), live and from cores") {
  if (access(kObjgraph, R_OK) != 0) {
    itest::missing("python3-objgraph", "the refs test compares with objgraph inside the target (apt install python3-objgraph: tools/setup.sh)");
    return;
  }
  for (const auto& py : itest::interpreters()) {
    INFO(py.label);
    if (chrooted(py)) {
      // objgraph next to the target script, where the chroot's interpreter finds it.
      std::error_code ec;
      fs::copy_file(kObjgraph, py.argv[1] + py.script_dir + "/objgraph.py", fs::copy_options::overwrite_existing, ec);
      REQUIRE_MESSAGE(!ec, ec.message());
    }
    itest::Target t(py, "planted_refs.py");
    std::string err;
    auto line = t.ready_line(itest::kPatience, &err);
    REQUIRE_MESSAGE(line, err);
    const json truth = json::parse(*line);
    const std::string pid = std::to_string(t.pid());

    const json chain = refs_json({"--pid", pid, "--type", "Leaked"}, &err);
    REQUIRE_MESSAGE(!chain.is_null(), err);
    const auto steps = chain_of(chain);
    CHECK(steps.size() == truth.at("chain_len").get<std::size_t>());
    CHECK(chain.at("instances").get<int>() == 1);
    std::string ask = "check";
    for (const auto& s : steps) ask += " " + s;
    CHECK(t.ask(ask, itest::kPatience) == "ok");
    const std::string expr = chain.at("chain_expression").get<std::string>();
    CHECK_MESSAGE(expr.find("['REGISTRY']['h']") != std::string::npos, expr);
    CHECK_MESSAGE(expr.find("pending") != std::string::npos, expr);
    CHECK_MESSAGE(expr.ends_with("[2]"), expr);
    // --show: the instance's attributes.
    const json shown = refs_json({"--pid", pid, "--type", "Leaked", "--show", "1"}, &err);
    REQUIRE_MESSAGE(!shown.is_null(), err);
    CHECK(shown.at("shown").at(0).at("attributes").at("size").get<std::string>() == "42");
    CHECK(shown.at("shown").at(0).at("attributes").at("name").get<std::string>() == "'leak'");

    const std::string held = truth.at("held").get<std::string>();
    const json holders = refs_json({"--pid", pid, "--address", held}, &err);
    REQUIRE_MESSAGE(!holders.is_null(), err);
    CHECK(set_of(holders.at("held_by")) == set_of(truth.at("referrers")));

    // Retained size: the subtree only one object holds, as the target sums it.
    CHECK(retained_of({"--pid", pid}, truth.at("subtree").get<std::string>(), &err) == truth.at("subtree_bytes").get<long long>());
    // The same from an objspy snapshot and a gcore core, read after the target exited.
    if (itest::heap_in_sanitizer_reservation(py)) {
      MESSAGE("no core of the ASan-built embedding host: its heap is inside ASan's allocator reservation");
      continue;
    }
    itest::TempDir dir;
    const std::string snap = dir.path + "/snap.core";
    REQUIRE(itest::run(itest::objspy({"snapshot", "--pid", pid, "-o", snap, "-q"})).exit_code == 0);
    auto g = itest::run({"/usr/bin/gcore", "-o", dir.path + "/gcore", pid}, itest::kPatience);
    const std::string gcore = dir.path + "/gcore." + pid;
    REQUIRE_MESSAGE(fs::exists(gcore), std::string(g.out + g.err));
    if (chrooted(py)) itest::copy_mapped_files(t.pid(), dir.path);  // the chroot's libraries, as from another machine
    t.kill_now();
    t.wait_exit(itest::kPatience);
    for (const std::string& core : {snap, gcore}) {
      INFO(core);
      const json c = refs_json({"--core", core, "--type", "Leaked"}, &err);
      REQUIRE_MESSAGE(!c.is_null(), err);
      CHECK(chain_of(c) == steps);
      const json h = refs_json({"--core", core, "--address", held}, &err);
      REQUIRE_MESSAGE(!h.is_null(), err);
      CHECK(set_of(h.at("held_by")) == set_of(truth.at("referrers")));
      CHECK(retained_of({"--core", core}, truth.at("subtree").get<std::string>(), &err) == truth.at("subtree_bytes").get<long long>());
    }
  }
}

TEST_CASE("refs: bad requests get one line and their exit code") {
  const auto* py = itest::plain_python();
  REQUIRE(py);
  itest::Target t(*py, "known_heap.py");
  std::string err;
  REQUIRE_MESSAGE(t.ready_line(itest::kPatience, &err), err);
  const std::string pid = std::to_string(t.pid());
  auto none = itest::run(itest::objspy({"refs", "--pid", pid, "--type", "NoSuchTypeAnywhere"}));
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("no GC-tracked object of type NoSuchTypeAnywhere") != std::string::npos);
  CHECK(itest::run(itest::objspy({"refs", "--pid", pid})).exit_code == 2);
  CHECK(itest::run(itest::objspy({"refs", "--pid", pid, "--address", "zz"})).exit_code == 2);
  CHECK(itest::run(itest::objspy({"refs", "--pid", pid, "--address", "0x10"})).exit_code == 2);
  CHECK(itest::run(itest::objspy({"refs", "--type", "dict"})).exit_code == 2);
  // A hostile type name reaches the terminal escaped and the DOT file quoted.
  itest::TempDir dir;
  auto dot = itest::run(itest::objspy({"refs", "--pid", pid, "--type", "dict", "--dot", dir.path + "/g.dot", "-q"}));
  CHECK(dot.exit_code == 0);
  CHECK(fs::exists(dir.path + "/g.dot"));
}

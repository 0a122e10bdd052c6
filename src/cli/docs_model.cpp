// The command line read into a plain model (docs.hpp): the man pages and completions are
// rendered from it, never written by hand, so that a new option appears in all of them.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <CLI/CLI.hpp>

#include "objspy/cli/docs.hpp"

namespace objspy::cli::docs {

namespace {

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == '-') c = '_';
  }
  return s;
}

bool starts_with_any(const std::string& s, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (s.rfind(p, 0) == 0) return true;
  return false;
}

// "INT:INT in [1 - 60000]" -> "1 to 60000"; `unit` follows each bound (a duration's seconds).
std::string range_from_type_name(const std::string& t, const std::string& unit) {
  const auto in = t.find(" in [");
  if (in == std::string::npos) return {};
  const auto close = t.find(']', in);
  const auto dash = t.find(" - ", in);
  if (close == std::string::npos || dash == std::string::npos || dash > close) return {};
  const auto lo = t.substr(in + 5, dash - (in + 5));
  const auto hi = t.substr(dash + 3, close - (dash + 3));
  return lo + unit + " to " + hi + unit;
}

// A CheckedTransformer's captured default is the mapped value ("0" for scan): shown as the
// word the user types.
std::string word_for_default(const std::string& type_name, const std::string& value) {
  const auto open = type_name.find('{');
  const auto close = type_name.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return value;
  const std::string body = type_name.substr(open + 1, close - open - 1);
  std::size_t start = 0;
  while (start <= body.size()) {
    auto comma = body.find(',', start);
    if (comma == std::string::npos) comma = body.size();
    const std::string item = body.substr(start, comma - start);
    const auto arrow = item.find("->");
    if (arrow != std::string::npos && item.substr(arrow + 2) == value) return item.substr(0, arrow);
    start = comma + 1;
  }
  return value;
}

OptionDoc describe_option(const CLI::Option& o, bool rest_is_command) {
  OptionDoc d;
  d.shorts = o.get_snames();
  d.longs = o.get_lnames();
  if (o.get_positional()) d.name = o.get_name(true);
  d.description = o.get_description();
  d.required = o.get_required();
  for (const CLI::Option* ex : o.get_excludes()) d.excludes.push_back(ex->get_name());
  std::sort(d.excludes.begin(), d.excludes.end());
  if (o.get_expected_max() == 0) return d;  // a flag

  const std::string type = o.get_type_name();
  d.choices = choices_from_type_name(type);
  d.default_value = o.get_default_str();
  if (!d.default_value.empty() && !d.choices.empty()) d.default_value = word_for_default(type, d.default_value);
  d.repeatable = o.get_positional() && o.get_items_expected_max() >= CLI::detail::expected_max_vector_size;

  if (!d.choices.empty()) {
    d.kind = ValueKind::choice;
  } else if (!d.longs.empty() && d.longs.front() == "pid") {
    d.kind = ValueKind::pid;
  } else if (type.find("[UNIT]") != std::string::npos) {
    d.kind = ValueKind::duration;
  } else if (starts_with_any(type, {"INT", "UINT", "FLOAT", "NUMBER"})) {
    d.kind = ValueKind::number;
  } else if (d.repeatable && rest_is_command) {
    d.kind = ValueKind::command;
  } else if (type.find("FILE") != std::string::npos || type.find("PATH") != std::string::npos || d.default_value.empty()) {
    // Free text without a default is a path everywhere in objspy (--state, --output, inputs).
    d.kind = ValueKind::file;
  } else {
    d.kind = ValueKind::text;
  }
  // A duration's plain number is seconds: its default and range are shown as the user would
  // write them.
  d.range = range_from_type_name(type, d.kind == ValueKind::duration ? "s" : "");
  if (d.kind == ValueKind::duration && !d.default_value.empty() &&
      d.default_value.find_first_not_of("0123456789.") == std::string::npos)
    d.default_value += "s";
  if (!o.get_positional()) {
    if (d.kind == ValueKind::duration) d.metavar = "DURATION";
    else if (d.kind != ValueKind::choice) d.metavar = upper(d.longs.empty() ? d.shorts.front() : d.longs.front());
  }
  return d;
}

CommandDoc describe_command(const CLI::App& sub) {
  CommandDoc c;
  c.name = sub.get_name();
  c.description = sub.get_description();
  c.footer = sub.get_footer();
  for (const CLI::Option* o : sub.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    if (o->get_positional() && !o->nonpositional())
      c.positionals.push_back(describe_option(*o, sub.get_positionals_at_end()));
    else
      c.options.push_back(describe_option(*o, false));
  }
  return c;
}

}  // namespace

std::vector<std::string> choices_from_type_name(const std::string& type_name) {
  std::vector<std::string> out;
  const auto open = type_name.find('{');
  if (open == std::string::npos) return out;
  const auto close = type_name.find('}', open);
  if (close == std::string::npos) return out;
  const std::string body = type_name.substr(open + 1, close - open - 1);
  std::size_t start = 0;
  while (start <= body.size()) {
    auto comma = body.find(',', start);
    if (comma == std::string::npos) comma = body.size();
    std::string item = body.substr(start, comma - start);
    // A transformer's pair "scan->0": the user types the key.
    if (const auto arrow = item.find("->"); arrow != std::string::npos) item.resize(arrow);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

ProgramDoc describe(const CLI::App& app, std::string version) {
  ProgramDoc p;
  p.name = "objspy";  // app.get_name() is argv[0] once parsed
  p.version = std::move(version);
  p.description = app.get_description();
  for (const CLI::Option* o : app.get_options())
    if (!o->get_group().empty()) p.options.push_back(describe_option(*o, false));
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); }))
    p.commands.push_back(describe_command(*sub));
  return p;
}

namespace {

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return make_error(Errc::io, "cannot create " + path + ": " + std::strerror(errno));
  return {};
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(Errc::io, "cannot write " + path);
  return {};
}

}  // namespace

Status write_docs(const ProgramDoc& doc, const std::string& dir) {
  auto pages = man_pages(doc);
  if (!pages.ok()) return pages.error();
  std::vector<File> files = std::move(pages.value());
  files.push_back({"completions/objspy.bash", bash_completion(doc)});
  files.push_back({"completions/_objspy", zsh_completion(doc)});
  files.push_back({"completions/objspy.fish", fish_completion(doc)});
  for (const std::string& sub : {dir, dir + "/man", dir + "/completions"})
    if (auto st = make_dir(sub); !st.ok()) return st;
  for (const File& f : files)
    if (auto st = write_file(dir + "/" + f.path, f.text); !st.ok()) return st;
  return {};
}

}  // namespace objspy::cli::docs

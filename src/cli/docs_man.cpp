// Man pages (roff, man macros) from the command-line model: objspy(1) lists the commands,
// objspy-COMMAND(1) documents one. Names, options, defaults, ranges and choices come from the
// model; only the prose below (what objspy is, examples) is written by hand, and every option
// an example uses is checked against the model, so a page cannot show an option that is gone.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "objspy/cli/docs.hpp"

namespace objspy::cli::docs {

namespace {

// Text for roff: a backslash is \e, every '-' a minus sign (what the user types, also when
// copied from a UTF-8 terminal), and a line must not start with a control character.
std::string roff(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  return out;
}

std::string paragraph(const std::string& s) {
  std::string r = roff(s);
  if (!r.empty() && (r.front() == '.' || r.front() == '\'')) r.insert(0, "\\&");
  return r + "\n";
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string bold(const std::string& s) { return "\\fB" + roff(s) + "\\fR"; }
std::string italic(const std::string& s) { return "\\fI" + roff(s) + "\\fR"; }

std::string option_names(const OptionDoc& o) {
  std::vector<std::string> names;
  for (const auto& s : o.shorts) names.push_back(bold("-" + s));
  for (const auto& l : o.longs) names.push_back(bold("--" + l));
  std::string out = join(names, ", ");
  if (o.kind == ValueKind::choice) {
    std::vector<std::string> words;
    for (const auto& c : o.choices) words.push_back(bold(c));
    out += " " + join(words, "|");
  } else if (!o.metavar.empty()) {
    out += " " + italic(o.metavar);
  }
  return out;
}

// "(default 10; 1 to 60000; required; not with --duration)", or nothing.
std::string facts(const OptionDoc& o) {
  std::vector<std::string> f;
  if (!o.default_value.empty()) f.push_back("default " + o.default_value);
  if (!o.range.empty()) f.push_back(o.range);
  if (o.required) f.push_back("required");
  for (const auto& e : o.excludes) f.push_back("not with " + e);
  if (f.empty()) return {};
  return "(" + join(f, "; ") + ")";
}

std::string option_entry(const OptionDoc& o) {
  std::string out = ".TP\n" + option_names(o) + "\n" + paragraph(o.description);
  if (const auto f = facts(o); !f.empty()) out += paragraph(f);
  return out;
}

std::string header(const std::string& page, const ProgramDoc& doc, const std::string& whatis) {
  std::string upper_page;
  for (char c : page) upper_page += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return fmt::format(".\\\" Generated from objspy's command-line definitions (objspy _docs); do not edit.\n"
                     ".TH \"{}\" \"1\" \"\" \"objspy {}\" \"objspy manual\"\n"
                     // No hyphenation or justification: names like show_most_common_types() stay whole.
                     ".nh\n.ad l\n"
                     ".SH NAME\n{} \\- {}\n",
                     roff(upper_page), roff(doc.version), roff(page), roff(whatis));
}

std::string exit_status() {
  std::string out = ".SH EXIT STATUS\n.TP\n.B 0\nsuccess\n";
  // Every code the edge can return: errc_name knows each Errc; bad_address never leaves the
  // library (user_facing turns it into incomplete).
  for (int i = 1; i < 64; ++i) {
    const auto e = static_cast<Errc>(i);
    const std::string name = errc_name(e);
    if (name == "error" || e == Errc::bad_address) continue;
    out += fmt::format(".TP\n.B {}\n{}", i, paragraph(name));
  }
  out += ".PP\nEvery error is one line on standard error, starting with \\(lqobjspy: error:\\(rq.\n";
  return out;
}

std::string see_also(const ProgramDoc& doc, const std::string& self) {
  std::vector<std::string> refs;
  if (self != doc.name) refs.push_back(bold(doc.name) + "(1)");
  for (const auto& c : doc.commands)
    if (doc.name + "-" + c.name != self) refs.push_back(bold(doc.name + "-" + c.name) + "(1)");
  std::string out = ".SH SEE ALSO\n";
  out += join(refs, ",\n") + "\n";
  out += ".PP\nThe README in /usr/share/doc/objspy (installed from a package) explains the census, "
         "its exactness and the JSON documents in detail.\n";
  return out;
}

// Hand-written examples, per command: {command line after "objspy", what it does}.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& examples() {
  static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> ex{
      {"dump",
       {{"dump --pid 1234", "The ten most common types, as objgraph.show_most_common_types() prints them."},
        {"dump --pid 1234 --limit 0 --qualified", "Every type, named module.name."},
        {"dump --pid 1234 --format json", "The whole census as one JSON document."},
        {"dump --pid 1234 --growth", "What grew since the previous census of this process."},
        {"dump --pause --pid 1234", "An exact snapshot: the target's threads are held during the census."},
        {"dump --delay 5 -- python3 app.py", "Start a program, let it run five seconds, census, end it."}}},
      {"record",
       {{"record --pid 1234 --interval 30s -o app.ndjson", "A census every 30 seconds, appended to app.ndjson."},
        {"record --pid 1234 --interval 1m --duration 1h", "An hour of censuses on standard output, then the leak suspects."}}},
      {"top", {{"top --pid 1234", "A live table of counts and their changes; q quits."}}},
      {"serve",
       {{"serve --pid 1234 --listen 127.0.0.1:9464", "Serve the census at http://127.0.0.1:9464/metrics for Prometheus."}}},
      {"diff", {{"diff before.json after.json", "Per-type change between two saved censuses."}}},
      {"suspects", {{"suspects app.ndjson", "The types that grew steadily over a recorded series, most likely leak first."}}},
  };
  return ex;
}

// Err: internal when an example uses an option `c` does not have.
Result<std::string> examples_section(const ProgramDoc& doc, const CommandDoc& c) {
  const auto it = examples().find(c.name);
  if (it == examples().end()) return std::string{};
  std::set<std::string> known;
  for (const auto& o : c.options) {
    for (const auto& s : o.shorts) known.insert("-" + s);
    for (const auto& l : o.longs) known.insert("--" + l);
  }
  std::string out = ".SH EXAMPLES\n";
  for (const auto& [line, what] : it->second) {
    std::size_t start = 0;
    bool after_dashes = false;  // words after "--" belong to the launched program
    while (start < line.size()) {
      auto end = line.find(' ', start);
      if (end == std::string::npos) end = line.size();
      const std::string word = line.substr(start, end - start);
      if (word == "--") after_dashes = true;
      else if (!after_dashes && word.size() > 1 && word[0] == '-' && !known.count(word))
        return make_error(Errc::internal, fmt::format("man page example \"{} {}\" uses {}, which {} {} does not have", doc.name, line, word, doc.name, c.name));
      start = end + 1;
    }
    out += ".TP\n.B " + roff(doc.name + " " + line) + "\n" + paragraph(what);
  }
  return out;
}

std::string synopsis(const ProgramDoc& doc, const CommandDoc& c) {
  std::string out = ".SH SYNOPSIS\n.B " + roff(doc.name + " " + c.name) + "\n";
  for (const auto& o : c.options) {
    if (!o.required) continue;
    // One spelling of a required option: the long one.
    OptionDoc one = o;
    if (!one.longs.empty()) one.shorts.clear();
    one.longs.resize(std::min<std::size_t>(one.longs.size(), 1));
    out += option_names(one) + "\n";
  }
  out += "[\\fIOPTIONS\\fR]\n";
  for (const auto& p : c.positionals) {
    std::string word = p.kind == ValueKind::command ? bold("--") + " " + italic(p.name) + " ..." : italic(p.name);
    if (p.repeatable && p.kind != ValueKind::command) word += " ...";
    out += p.required ? word + "\n" : "[" + word + "]\n";
  }
  return out;
}

std::string command_page(const ProgramDoc& doc, const CommandDoc& c, const std::string& examples_text) {
  std::string out = header(doc.name + "-" + c.name, doc, c.description);
  out += synopsis(doc, c);
  out += ".SH DESCRIPTION\n" + paragraph(c.description + ".");
  if (!c.footer.empty()) out += ".PP\n" + paragraph(c.footer);
  if (!c.positionals.empty()) {
    out += ".SH ARGUMENTS\n";
    for (const auto& p : c.positionals) {
      out += ".TP\n" + italic(p.name) + "\n" + paragraph(p.description);
      if (const auto f = facts(p); !f.empty()) out += paragraph(f);
    }
  }
  out += ".SH OPTIONS\n";
  for (const auto& o : c.options) out += option_entry(o);
  out += examples_text;
  out += exit_status();
  out += see_also(doc, doc.name + "-" + c.name);
  return out;
}

std::string program_page(const ProgramDoc& doc) {
  std::string out = header(doc.name, doc, "count the objects of a running CPython process, read-only");
  out += ".SH SYNOPSIS\n.B " + roff(doc.name) + "\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n.B " + roff(doc.name) +
         "\n[\\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR]\n";
  out += ".SH DESCRIPTION\n" + paragraph(doc.description + ".");
  out += ".PP\n" + paragraph(
      "objspy attaches to a process by PID without stopping it (process_vm_readv: no code injection, no "
      "debugger), finds the interpreter through the ELF symbols of the python binary or libpython, and "
      "counts the objects the garbage collector tracks by type, exactly as objgraph.show_most_common_types() "
      "would inside the target: the objects gc.get_objects() returns. Atomic objects (int, float, str, bytes) "
      "are not tracked and not counted; objects frozen with gc.freeze() are reported separately.");
  out += ".PP\n" + paragraph(
      "Reading another process's memory needs root, CAP_SYS_PTRACE, or the same user with "
      "kernel.yama.ptrace_scope set to 0. objspy never writes to its target.");
  out += ".SH COMMANDS\n";
  for (const auto& c : doc.commands) out += ".TP\n" + bold(doc.name + "-" + c.name) + "(1)\n" + paragraph(c.description);
  out += ".SH OPTIONS\n";
  for (const auto& o : doc.options) out += option_entry(o);
  out += exit_status();
  out += see_also(doc, doc.name);
  return out;
}

}  // namespace

Result<std::vector<File>> man_pages(const ProgramDoc& doc) {
  std::vector<File> pages{{"man/" + doc.name + ".1", program_page(doc)}};
  for (const auto& c : doc.commands) {
    auto ex = examples_section(doc, c);
    if (!ex.ok()) return ex.error();
    pages.push_back({"man/" + doc.name + "-" + c.name + ".1", command_page(doc, c, ex.value())});
  }
  return pages;
}

}  // namespace objspy::cli::docs

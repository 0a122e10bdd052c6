// Shell completions (bash, zsh, fish) from the command-line model: commands, each command's
// options, and for an option's value what its kind allows (a choice's words, running PIDs,
// paths, the default of free text, nothing for a number).
#include <fmt/format.h>

#include "objspy/cli/docs.hpp"

namespace objspy::cli::docs {

namespace {

const char* const kGenerated = "Generated from objspy's command-line definitions (objspy _docs); do not edit.";

std::string join(const std::vector<std::string>& words, const std::string& sep = " ") {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) out += (i ? sep : "") + words[i];
  return out;
}

std::vector<std::string> dashed(const OptionDoc& o) {
  std::vector<std::string> out;
  for (const auto& s : o.shorts) out.push_back("-" + s);
  for (const auto& l : o.longs) out.push_back("--" + l);
  return out;
}

// Inside single quotes in sh, bash, zsh: a quote is closed, escaped and reopened.
std::string sq(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- bash ---------------------------------------------------------------------------------

std::string bash_value_case(const OptionDoc& o) {
  const std::string pattern = join(dashed(o), "|");
  switch (o.kind) {
    case ValueKind::none:
      return {};
    case ValueKind::choice:
      return fmt::format("        {}) COMPREPLY=($(compgen -W {} -- \"$cur\")); return ;;\n", pattern, sq(join(o.choices)));
    case ValueKind::pid:
      return fmt::format("        {}) COMPREPLY=($(compgen -W \"$(_objspy_pids)\" -- \"$cur\")); return ;;\n", pattern);
    case ValueKind::file:
    case ValueKind::command:
      return fmt::format("        {}) _objspy_files; return ;;\n", pattern);
    case ValueKind::text:
      return fmt::format("        {}) COMPREPLY=($(compgen -W {} -- \"$cur\")); return ;;\n", pattern, sq(o.default_value));
    case ValueKind::number:
    case ValueKind::duration:
      return fmt::format("        {}) return ;;  # {}: nothing to offer\n", pattern, o.metavar);
  }
  return {};
}

std::string bash_command(const CommandDoc& c) {
  std::vector<std::string> words;
  std::string value_cases;
  for (const auto& o : c.options) {
    for (const auto& w : dashed(o)) words.push_back(w);
    value_cases += bash_value_case(o);
  }
  bool files = false, command = false;
  for (const auto& p : c.positionals) {
    if (p.kind == ValueKind::command) command = true;
    else files = true;
  }
  std::string out = fmt::format("    {})\n", c.name);
  if (command)
    out += "        if [ \"$dashdash\" -gt 0 ]; then _objspy_command \"$dashdash\"; return; fi\n";
  if (!value_cases.empty()) out += "        case $prev in\n" + value_cases + "        esac\n";
  if (command) words.push_back("--");
  const std::string opts = fmt::format("COMPREPLY=($(compgen -W {} -- \"$cur\"))", sq(join(words)));
  if (files)
    out += fmt::format("        if [[ $cur == -* ]]; then {}; else _objspy_files; fi\n", opts);
  else
    out += "        " + opts + "\n";
  out += "        ;;\n";
  return out;
}

// ---- zsh ----------------------------------------------------------------------------------

// A description inside an _arguments spec's brackets.
std::string zsh_desc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ']' || c == '[') out += '\\';
    out += c;
  }
  return out;
}

std::string zsh_action(const OptionDoc& o) {
  switch (o.kind) {
    case ValueKind::none: return {};
    case ValueKind::choice: return "(" + join(o.choices) + ")";
    case ValueKind::pid: return "_pids";
    case ValueKind::file: return "_files";
    case ValueKind::command: return "_normal";
    case ValueKind::text: return "(" + o.default_value + ")";
    case ValueKind::number:
    case ValueKind::duration: return " ";
  }
  return {};
}

std::string zsh_option(const OptionDoc& o) {
  const auto names = dashed(o);
  const bool takes_value = o.kind != ValueKind::none;
  std::string exclusion = "(" + join(names) + ")";
  if (o.longs.size() == 1 && (o.longs.front() == "help" || o.longs.front() == "version")) exclusion = "(- *)";
  std::string spec_tail = "[" + zsh_desc(o.description) + "]";
  if (takes_value) {
    const std::string label = o.metavar.empty() ? (o.longs.empty() ? o.shorts.front() : o.longs.front()) : o.metavar;
    spec_tail += ":" + label + ":" + zsh_action(o);
  }
  // -p+ takes its value in the same word or the next; --pid= after '=' or in the next word.
  std::vector<std::string> forms;
  for (const auto& s : o.shorts) forms.push_back("-" + s + (takes_value ? "+" : ""));
  for (const auto& l : o.longs) forms.push_back("--" + l + (takes_value ? "=" : ""));
  if (forms.size() == 1) return sq(exclusion + forms.front() + spec_tail);
  return sq(exclusion) + "{" + join(forms, ",") + "}" + sq(spec_tail);
}

std::string zsh_positional(const OptionDoc& p, std::size_t index) {
  if (p.kind == ValueKind::command) return sq("*::" + p.name + ":_normal");
  if (p.repeatable) return sq("*:" + p.name + ":" + zsh_action(p));
  return sq(fmt::format("{}:{}:{}", index + 1, p.name, zsh_action(p)));
}

// ---- fish ---------------------------------------------------------------------------------

std::string fq(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_option(const std::string& prog, const std::string& condition, const OptionDoc& o) {
  std::string out = "complete -c " + prog + " -n " + fq(condition);
  for (const auto& s : o.shorts) out += " -s " + s;
  for (const auto& l : o.longs) out += " -l " + l;
  switch (o.kind) {
    case ValueKind::none: break;
    case ValueKind::choice: out += " -x -a " + fq(join(o.choices)); break;
    case ValueKind::pid: out += " -x -a '(__fish_complete_pids)'"; break;
    case ValueKind::file:
    case ValueKind::command: out += " -r -F"; break;
    case ValueKind::text: out += " -x -a " + fq(o.default_value); break;
    case ValueKind::number:
    case ValueKind::duration: out += " -x"; break;
  }
  return out + " -d " + fq(o.description) + "\n";
}

}  // namespace

std::string bash_completion(const ProgramDoc& doc) {
  std::vector<std::string> names, root_words;
  for (const auto& c : doc.commands) names.push_back(c.name);
  for (const auto& o : doc.options)
    for (const auto& w : dashed(o)) root_words.push_back(w);
  std::string out = fmt::format("# bash completion for {}(1). {}\n", doc.name, kGenerated);
  out += R"(
_objspy_pids() {
    local p
    for p in /proc/[0-9]*; do printf '%s\n' "${p#/proc/}"; done
}

_objspy_files() {
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
}

# Launch mode: what follows "--" is a command line of its own.
_objspy_command() {
    if declare -F _command_offset >/dev/null; then
        _command_offset $(($1 + 1))
    elif [ "$COMP_CWORD" -eq $(($1 + 1)) ]; then
        COMPREPLY=($(compgen -c -- "$cur"))
    else
        _objspy_files
    fi
}

_objspy() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    # --option=value: bash splits at '=' (COMP_WORDBREAKS).
    if [ "$cur" = "=" ]; then
        cur=""
    elif [ "$prev" = "=" ] && [ "$COMP_CWORD" -ge 2 ]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    local cmd="" dashdash=0 i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [ -z "$cmd" ]; then
            case ${COMP_WORDS[i]} in
)";
  out += "            " + join(names, "|") + ") cmd=${COMP_WORDS[i]} ;;\n";
  out += R"(            esac
        elif [ "${COMP_WORDS[i]}" = "--" ]; then
            dashdash=$i
            break
        fi
    done
    case $cmd in
    "")
)";
  out += fmt::format("        if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W {} -- \"$cur\"))\n", sq(join(root_words)));
  out += fmt::format("        else COMPREPLY=($(compgen -W {} -- \"$cur\")); fi\n        ;;\n", sq(join(names)));
  for (const auto& c : doc.commands) out += bash_command(c);
  out += "    esac\n}\n\ncomplete -F _objspy " + doc.name + "\n";
  return out;
}

std::string zsh_completion(const ProgramDoc& doc) {
  std::string out = fmt::format("#compdef {}\n# zsh completion for {}(1). {}\n\n", doc.name, doc.name, kGenerated);
  out += "_objspy() {\n  local curcontext=$curcontext state line ret=1\n  typeset -A opt_args\n";
  out += "  _arguments -C \\\n";
  for (const auto& o : doc.options) out += "    " + zsh_option(o) + " \\\n";
  out += "    '1: :->command' \\\n    '*:: :->args' && ret=0\n";
  out += "  case $state in\n    command)\n      local -a commands\n      commands=(\n";
  for (const auto& c : doc.commands) out += "        " + sq(c.name + ":" + c.description) + "\n";
  out += "      )\n      _describe -t commands " + sq(doc.name + " command") + " commands && ret=0\n      ;;\n";
  out += "    args)\n      curcontext=${curcontext%:*:*}:" + doc.name + "-$words[1]:\n      case $words[1] in\n";
  for (const auto& c : doc.commands) {
    out += "        " + c.name + ")\n          _arguments -s -S \\\n";
    for (const auto& o : c.options) out += "            " + zsh_option(o) + " \\\n";
    for (std::size_t i = 0; i < c.positionals.size(); ++i) out += "            " + zsh_positional(c.positionals[i], i) + " \\\n";
    out += "            && ret=0\n          ;;\n";
  }
  out += "      esac\n      ;;\n  esac\n  return ret\n}\n\n_objspy \"$@\"\n";
  return out;
}

std::string fish_completion(const ProgramDoc& doc) {
  std::vector<std::string> names;
  for (const auto& c : doc.commands) names.push_back(c.name);
  const std::string& p = doc.name;
  std::string out = fmt::format("# fish completion for {}(1). {}\n\n", p, kGenerated);
  out += "complete -c " + p + " -f\n";
  for (const auto& o : doc.options) out += fish_option(p, "__fish_use_subcommand", o);
  for (const auto& c : doc.commands)
    out += "complete -c " + p + " -n __fish_use_subcommand -a " + c.name + " -d " + fq(c.description) + "\n";
  for (const auto& c : doc.commands) {
    const std::string cond = "__fish_seen_subcommand_from " + c.name;
    out += "\n";
    for (const auto& o : c.options) out += fish_option(p, cond, o);
    bool files = false;
    for (const auto& pos : c.positionals) {
      if (pos.kind == ValueKind::command)
        out += "complete -c " + p + " -n " + fq(cond + "; and contains -- -- (commandline -opc)") + " -F -a '(__fish_complete_command)'\n";
      else
        files = true;
    }
    if (files) out += "complete -c " + p + " -n " + fq(cond) + " -F\n";
  }
  return out;
}

}  // namespace objspy::cli::docs

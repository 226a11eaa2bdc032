#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "bootmirror/shell.h"
#include "bootmirror/unicode.h"
#include "shell/words.h"

namespace bootmirror::shell {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return out;
}

// diskpart accepts each word of a command abbreviated to three letters or more.
bool word_matches(const std::string& token, const std::string& word) {
  const std::string t = lower(token);
  if (t == word) return true;
  return t.size() >= 3 && t.size() < word.size() && word.compare(0, t.size(), t) == 0;
}

std::string strip(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

}  // namespace

bool Arguments::has(std::string_view word) const {
  return std::find(words.begin(), words.end(), lower(word)) != words.end();
}

std::optional<std::string> Arguments::option(std::string_view key) const {
  auto it = options.find(lower(key));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

void CommandTable::add(std::string_view words, std::string help, Handler handler, bool leaves) {
  Command command;
  for (const std::string& word : tokenize(words)) command.words.push_back(lower(word));
  command.help = std::move(help);
  command.handler = std::move(handler);
  command.leaves = leaves;
  commands_.push_back(std::move(command));
}

std::optional<std::pair<const CommandTable::Command*, std::size_t>> CommandTable::find(
    const std::vector<std::string>& tokens) const {
  const Command* best = nullptr;
  bool best_exact = false;
  for (const Command& command : commands_) {
    if (command.words.size() > tokens.size()) continue;
    bool all = true, exact = true;
    for (std::size_t i = 0; i < command.words.size() && all; ++i) {
      all = word_matches(tokens[i], command.words[i]);
      exact = exact && lower(tokens[i]) == command.words[i];
    }
    // The longest command wins; between equally long ones, the one spelled out in full ("rem" is
    // a comment, not an abbreviation of "remove").
    if (all && (!best || command.words.size() > best->words.size() ||
                (command.words.size() == best->words.size() && exact && !best_exact))) {
      best = &command;
      best_exact = exact;
    }
  }
  if (!best) return std::nullopt;
  return std::make_pair(best, best->words.size());
}

bool CommandTable::knows_verb(std::string_view token) const {
  for (const Command& command : commands_)
    if (word_matches(std::string(token), command.words.front())) return true;
  return false;
}

void add_session_commands(CommandTable& table) {
  table.add("exit", "Exit DiskPart", [](Machine&, const Arguments&) { return std::string("Leaving Diskpart..."); }, true);
  // The shell answers help itself, from its own table (help_text).
  table.add("help", "Print a list of commands", [](Machine&, const Arguments&) { return std::string(); });
  table.add("rem", "Does nothing: comments a script", [](Machine&, const Arguments&) { return std::string(); });
}

CommandTable diskpart_commands() {
  CommandTable table;
  add_disk_commands(table);
  add_partition_commands(table);
  add_dynamic_commands(table);
  add_volume_commands(table);
  add_session_commands(table);  // last: help lists what the others registered
  return table;
}

Diskpart::Diskpart(Machine& machine, CommandTable commands) : machine_(machine), commands_(std::move(commands)) {}

namespace {
std::string help_text(const CommandTable& table) {
  std::string out = "Microsoft DiskPart version 5.2.3790 (bootmirror)\n";
  for (const auto& command : table.commands()) {
    std::string words;
    for (const auto& w : command.words) words += (words.empty() ? "" : " ") + w;
    std::transform(words.begin(), words.end(), words.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    out += fmt::format("\n{:<25} - {}", words, command.help);
  }
  return out;
}
}  // namespace

Outcome Diskpart::execute(std::string_view line) {
  auto hold = machine_.hold();
  // What a command prints is always text: on-disk bytes that are not UTF-8 (a damaged label or
  // name) show as U+FFFD instead of failing the console.
  Outcome outcome = dispatch(line);
  outcome.text = utf8_or_replacement(outcome.text);
  return outcome;
}

Outcome Diskpart::dispatch(std::string_view line) {
  const std::vector<std::string> tokens = tokenize(line);
  if (tokens.empty() || lower(tokens.front()) == "rem") return {};
  auto found = commands_.find(tokens);
  if (!found) {
    if (commands_.knows_verb(tokens.front()))
      return {fmt::format("The arguments you specified for this command are not valid.\n"
                          "For more information on the command type: HELP {}",
                          upper(tokens.front())),
              false};
    return {fmt::format("The command \"{}\" is not a DiskPart command. Type HELP for the list of commands.", tokens.front()),
            false};
  }
  const auto& [command, used] = *found;
  if (command->words.front() == "help") return {help_text(commands_), true};
  Arguments args;
  for (std::size_t i = used; i < tokens.size(); ++i) {
    const auto eq = tokens[i].find('=');
    if (eq == std::string::npos) args.words.push_back(lower(tokens[i]));
    else args.options[lower(tokens[i].substr(0, eq))] = tokens[i].substr(eq + 1);
  }
  try {
    return {command->handler(machine_, args), true, command->leaves};
  } catch (const CommandFailed& e) {
    return {e.what(), false};
  } catch (const Error& e) {
    return {fmt::format("Diskpart has encountered an error: {}\nSee the System Event Log for more information.", e.what()),
            false};
  }
}

std::string Diskpart::run(std::string_view script, bool check) {
  // A script is one diskpart session: its selections must not interleave with another thread's.
  auto hold = machine_.hold();
  std::string transcript;
  std::size_t start = 0;
  while (start <= script.size()) {
    std::size_t end = script.find('\n', start);
    if (end == std::string_view::npos) end = script.size();
    const std::string line = strip(script.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    Outcome outcome = execute(line);
    transcript += fmt::format("{}{}\n\n", kPrompt, line);
    if (!outcome.text.empty()) transcript += outcome.text + "\n\n";
    if (!outcome.ok && check)
      throw UsageError(fmt::format("diskpart: '{}' failed: {}\n\n{}", line, outcome.text, transcript));
    if (outcome.leave) break;
  }
  return transcript;
}

}  // namespace bootmirror::shell

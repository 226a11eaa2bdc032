// bootcfg.exe on EFI, Windows Server 2003 (bootmirror/bootcfg.h). Its text ([C] confirmed by a
// source, [I] inferred), from KB 814070's transcripts ("Establish and boot to GPT mirrors in 64-bit
// Windows", MicrosoftDocs/SupportArticles-docs) and Microsoft's "Overview of Boot Options in EFI"
// (MicrosoftDocs/windows-driver-docs, devtest/overview-of-boot-options-in-efi.md, the query layout):
//   query display: the EFI overview's layout [C] (values at column 22 in Boot Options, 19 in the entries; 12
//     dashes under each heading), "N/A" for empty OsLoadOptions and "(null)" for a path that no
//     longer resolves [C], firmware entries with their ID and name only [C];
//   /list: the layout KB 814070 prints [C] (its dashed line of 33, "Starting  offset:" with two
//     spaces, byte counts with thousands separators, lowercase GUIDs in braces);
//   /clone: "INFO: Boot entry whose id is 'N' successfully cloned." per entry, then "SUCCESS: The
//     operation completed successfully." [C]; /mirror /add: "SUCCESS: The mirrored boot entry has
//     been added." [C]; /delete: "SUCCESS: Specified boot entry has been deleted." [C];
//   "ERROR: Invalid syntax." / "Type "BOOTCFG /?" for usage." [C, Windows 10's binary];
//   /default, /timeout and /raw successes, the bad-ID error and the help text [I]: not found in
//     any source, worded in the style of the confirmed ones.
#include "bootmirror/bootcfg.h"

#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "bootmirror/firmware.h"
#include "bootmirror/partitioning.h"
#include "bootmirror/unicode.h"
#include "bootmirror/units.h"

namespace bootmirror::shell {

namespace {

class Invalid : public UsageError {
 public:
  using UsageError::UsageError;
};

constexpr std::string_view kSyntax = "ERROR: Invalid syntax.\nType \"BOOTCFG /?\" for usage.";

std::string lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The command line's words, a "quoted text" being one word without its quotes (and never a
// switch: bootcfg /raw "/fastdetect" /id 1).
struct Word {
  std::string text;
  bool quoted = false;
};
std::vector<Word> words_of(std::string_view line) {
  std::vector<Word> out;
  Word word;
  bool in_quotes = false, have = false;
  for (char c : line) {
    if (c == '"') {
      in_quotes = !in_quotes;
      word.quoted = have = true;
    } else if (!in_quotes && std::isspace(static_cast<unsigned char>(c))) {
      if (have) out.push_back(word);
      word = Word{};
      have = false;
    } else {
      word.text.push_back(c);
      have = true;
    }
  }
  if (in_quotes) throw Invalid("an unclosed quote");
  if (have) out.push_back(word);
  return out;
}

bool is_switch(const Word& word) { return !word.quoted && word.text.size() > 1 && (word.text[0] == '/' || word.text[0] == '-'); }

// "/clone /sg {a} /tg {b} /d+ text" -> operation "clone", {sg: a, tg: b, d+: text}; a switch
// without a value maps to "". /list, /timeout and /raw take a bare word first (the disk, the
// seconds, the options): their argument.
struct CommandLine {
  std::string operation = "query";
  std::optional<std::string> argument;
  std::map<std::string, std::string> switches;
  bool has(const std::string& key) const { return switches.count(key) != 0; }
  const std::string& value(const std::string& key) const {
    auto it = switches.find(key);
    if (it == switches.end() || it->second.empty()) throw Invalid(fmt::format("/{} needs a value", key));
    return it->second;
  }
};

CommandLine parse(std::string_view arguments) {
  const std::vector<Word> words = words_of(arguments);
  CommandLine line;
  std::size_t i = 0;
  if (i < words.size()) {
    if (!is_switch(words[i])) throw Invalid("an argument without a switch");
    line.operation = lower(words[i].text.substr(1));
    ++i;
  }
  if (i < words.size() && !is_switch(words[i])) line.argument = words[i++].text;
  while (i < words.size()) {
    if (!is_switch(words[i])) throw Invalid(fmt::format("'{}' follows no switch", words[i].text));
    const std::string key = lower(words[i++].text.substr(1));
    if (line.switches.count(key)) throw Invalid(fmt::format("/{} is given twice", key));
    // /a (append to the options) takes no value: a word after it follows no switch.
    const bool flag = key == "a";
    line.switches[key] = !flag && i < words.size() && !is_switch(words[i]) ? words[i++].text : std::string();
  }
  return line;
}

void allow_only(const CommandLine& line, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : line.switches)
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) throw Invalid(fmt::format("/{} does not go with /{}", key, line.operation));
}

int number_of(const std::string& text) {
  int value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) throw Invalid(fmt::format("'{}' is not a number", text));
  return value;
}

Guid guid_of(std::string text) {
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
  if (!Guid::is_valid(text)) throw Invalid(fmt::format("'{}' is not a GUID", text));
  return Guid::parse(text);
}

std::string query(Machine& machine) {
  const firmware::BootOptions options = firmware::boot_options(machine);
  auto shown = [](const std::optional<std::string>& path) { return path ? *path : std::string("(null)"); };
  std::string out = "Boot Options\n------------\n";
  out += fmt::format("{:<21}{}\n", "Timeout:", options.timeout ? std::to_string(*options.timeout) : std::string("(null)"));
  out += fmt::format("{:<21}{}\n", "Default:", shown(options.default_os_path));
  out += fmt::format("{:<21}{}\n", "CurrentBootEntryID:", options.current_id ? std::to_string(*options.current_id) : std::string("(null)"));
  out += "\nBoot Entries\n------------\n";
  for (const firmware::EntryView& e : options.entries) {
    out += fmt::format("\n{:<18}{}\n{:<18}{}\n", "Boot entry ID:", e.id, "OS Friendly Name:", e.description);
    if (!e.windows) continue;
    out += fmt::format("{:<18}{}\n", "OsLoadOptions:", e.os_load_options.empty() ? std::string("N/A") : e.os_load_options);
    out += fmt::format("{:<18}{}\n{:<18}{}\n", "BootFilePath:", shown(e.boot_file_path), "OsFilePath:", shown(e.os_file_path));
  }
  return out;
}

std::string list(Machine& machine, int disk_number) {
  if (!machine.has_disk(disk_number) || machine.disk(disk_number).missing())
    throw UsageError(fmt::format("Disk {} does not exist.", disk_number));
  std::string out = fmt::format("Partition table info for Disk: {}\n---------------------------------\n", disk_number);
  bool first = true;
  for (const firmware::PartitionPlace& p : firmware::partitions(machine)) {
    if (p.disk != disk_number) continue;
    if (!first) out += "\n";
    first = false;
    out += fmt::format("Partition No:      {}\n", p.number);
    out += "Partition Style:  GPT\n";
    out += fmt::format("Starting  offset: {}\n", with_thousands(p.offset()));
    out += fmt::format("Partition length: {}\n", with_thousands(p.size()));
    out += fmt::format("Partition GUID:   {{{}}}\n", p.partition.unique.to_string());
    out += fmt::format("GUID type:        {{{}}}\n", p.partition.type.to_string());
    out += fmt::format("Partition name:   {}\n", p.partition.name_utf8());
  }
  return out;
}

constexpr std::string_view kHelp =
    "BOOTCFG /parameter [arguments]\n"
    "\n"
    "Description:\n"
    "    This command line tool can be used to configure, query, change or\n"
    "    delete the boot entry settings in the NVRAM of an EFI system.\n"
    "\n"
    "Parameter List:\n"
    "    /Query      Displays the current boot entries and their settings.\n"
    "    /List       Lists the partitions of a disk.\n"
    "    /Clone      Copies the boot entries of one EFI partition to another.\n"
    "    /Mirror     Adds a boot entry for a mirrored boot partition.\n"
    "    /Delete     Deletes an existing boot entry.\n"
    "    /Default    Makes a boot entry the default one.\n"
    "    /Timeout    Changes the operating system time-out value.\n"
    "    /Raw        Sets the OS load options of a boot entry.\n"
    "    /?          Displays this help message.\n";

std::string run(Machine& machine, const CommandLine& line) {
  const std::string& op = line.operation;
  if ((op == "?" || op == "query") && line.argument) throw Invalid(fmt::format("/{} takes no bare value", op));
  if (op == "?") return std::string(kHelp);
  if (op == "query") {
    allow_only(line, {});
    return query(machine);
  }
  if ((op == "list" || op == "timeout" || op == "raw") != line.argument.has_value())
    throw Invalid(fmt::format("/{} {}", op, line.argument ? "takes no bare value" : "needs its value"));
  if (op == "list") {
    allow_only(line, {});
    return list(machine, number_of(*line.argument));
  }
  if (op == "clone") {
    allow_only(line, {"sg", "tg", "d+", "d"});
    if (line.has("d+") == line.has("d")) throw Invalid("/clone needs one of /d+ and /d");
    const bool replace = line.has("d");
    const std::vector<int> ids = firmware::clone_entries(machine, guid_of(line.value("sg")), guid_of(line.value("tg")),
                                                         wtf8_to_utf16(line.value(replace ? "d" : "d+")), replace);
    if (ids.empty()) throw UsageError(fmt::format("No boot entry loads from the partition {}.", line.value("sg")));
    std::string out;
    for (int id : ids) out += fmt::format("INFO: Boot entry whose id is '{}' successfully cloned.\n", id);
    return out + "SUCCESS: The operation completed successfully.\n";
  }
  if (op == "mirror") {
    allow_only(line, {"add", "d"});
    firmware::add_mirror_entry(machine, guid_of(line.value("add")), wtf8_to_utf16(line.value("d")));
    return "SUCCESS: The mirrored boot entry has been added.\n";
  }
  if (op == "delete" || op == "default") {
    allow_only(line, {"id"});
    const int id = number_of(line.value("id"));
    if (op == "delete") {
      firmware::delete_entry(machine, id);
      return "SUCCESS: Specified boot entry has been deleted.\n";
    }
    firmware::make_default(machine, id);
    return "SUCCESS: The default boot entry was changed.\n";
  }
  if (op == "timeout") {
    allow_only(line, {});
    const int seconds = number_of(*line.argument);
    if (seconds > 999) throw UsageError("The time-out value must be from 0 to 999 seconds.");
    firmware::set_timeout(machine, std::uint16_t(seconds));
    return fmt::format("SUCCESS: Changed the timeout value to {}.\n", seconds);
  }
  if (op == "raw") {
    allow_only(line, {"id", "a"});
    firmware::set_os_load_options(machine, number_of(line.value("id")), wtf8_to_utf16(*line.argument), line.has("a"));
    return fmt::format("SUCCESS: Changed the OS load options for the boot entry ID {}.\n", line.value("id"));
  }
  throw Invalid(fmt::format("/{} is no bootcfg operation", op));
}

}  // namespace

BootcfgResult bootcfg(Machine& machine, std::string_view arguments) {
  auto hold = machine.hold();
  try {
    return {run(machine, parse(arguments)), true};
  } catch (const Invalid&) {
    return {std::string(kSyntax) + "\n", false};
  } catch (const UsageError& e) {
    return {fmt::format("ERROR: {}\n", e.what()), false};
  }
}

}  // namespace bootmirror::shell

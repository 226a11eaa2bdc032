// The diskpart shell: parses diskpart's commands (case-insensitive, words abbreviated to three
// letters or more, key=value options), runs them on a Machine and answers with Windows Server
// 2003's text. One handler per command, kept in a CommandTable that later modules extend (volumes,
// dynamic disks) with a registration function of their own.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bootmirror/ldm.h"
#include "bootmirror/machine.h"

namespace bootmirror::shell {

// A command that fails: its message is what diskpart prints.
class CommandFailed : public Error {
 public:
  using Error::Error;
};

struct Arguments {
  std::vector<std::string> words;              // the bare words after the command, lowercase
  std::map<std::string, std::string> options;  // key=value, keys lowercase, values as typed
  bool has(std::string_view word) const;
  std::optional<std::string> option(std::string_view key) const;
};

// Returns the text diskpart prints; throws CommandFailed with diskpart's message.
using Handler = std::function<std::string(Machine&, const Arguments&)>;

class CommandTable {
 public:
  struct Command {
    std::vector<std::string> words;  // "list", "partition"
    std::string help;
    Handler handler;
    bool leaves = false;  // exit
  };
  // `words` as diskpart spells the command, e.g. "create partition efi".
  void add(std::string_view words, std::string help, Handler handler, bool leaves = false);
  // The command the tokens name (longest match) and how many tokens its words took.
  std::optional<std::pair<const Command*, std::size_t>> find(const std::vector<std::string>& tokens) const;
  // Whether some command starts with this verb (for diskpart's two different complaints).
  bool knows_verb(std::string_view token) const;
  const std::vector<Command>& commands() const { return commands_; }

 private:
  std::vector<Command> commands_;
};

// The command families; each module with commands adds one function here.
void add_session_commands(CommandTable& table);    // help, exit, rem
void add_disk_commands(CommandTable& table);       // list/select/detail disk, clean, convert gpt
void add_partition_commands(CommandTable& table);  // list/select/detail/create/delete partition
void add_dynamic_commands(CommandTable& table);    // convert dynamic, list/select/detail volume, add/break/delete disk
void add_volume_commands(CommandTable& table);     // list/select volume, assign, remove
CommandTable diskpart_commands();

struct Outcome {
  std::string text;
  bool ok = true;
  bool leave = false;
};

class Diskpart {
 public:
  static constexpr std::string_view kPrompt = "DISKPART> ";

  explicit Diskpart(Machine& machine, CommandTable commands = diskpart_commands());
  // One command line (blank and REM lines give empty text).
  Outcome execute(std::string_view line);
  // A script, one command a line: the transcript, each command echoed after the prompt and its
  // answer after a blank line. With `check`, the first failing command raises UsageError.
  std::string run(std::string_view script, bool check = false);

 private:
  Outcome dispatch(std::string_view line);
  Machine& machine_;
  CommandTable commands_;
};

// diskpart's Size/Offset columns: see the rule beside the code.
std::string format_size(std::uint64_t bytes);
// diskpart's Type column for a dynamic volume: Simple, Spanned, Stripe, Mirror, RAID-5.
std::string volume_type_word(ldm::Layout layout);

// `format <drive> <switches>` and `xcopy <source> <destination> <switches>` on a machine's drive
// letters (Windows' command prompt beside diskpart): their text, as Windows prints it. `progress`
// as run_format's and run_xcopy's.
std::string format_drive(Machine& machine, std::string_view drive, std::string_view switches,
                         const ProgressCallback& progress = {});
std::string xcopy_drives(Machine& machine, std::string_view source, std::string_view destination,
                         std::string_view switches, const ProgressCallback& progress = {});

}  // namespace bootmirror::shell

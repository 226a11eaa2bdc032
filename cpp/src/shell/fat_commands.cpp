#include "bootmirror/fat_commands.h"

#include <fmt/format.h>

#include "bootmirror/ntfs_commands.h"
#include "bootmirror/unicode.h"
#include "bootmirror/units.h"
#include "shell/words.h"

namespace bootmirror::shell {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string serial_text(std::uint32_t serial) { return fmt::format("{:04X}-{:04X}", serial >> 16, serial & 0xFFFF); }

FormatCommand parse_format_switches(std::string_view switches) {
  FormatCommand c;
  c.options.quick = false;
  // Quoted as the console passes it: /v:"MY LABEL" is one switch, the label without its quotes.
  for (const std::string& w : tokenize(switches)) {
    std::string l = lower(w);
    if (l == "/q") c.options.quick = true;
    else if (l == "/y") c.yes = true;
    else if (l.starts_with("/fs:")) {
      std::string fs = l.substr(4);
      if (fs != "fat" && fs != "fat32" && fs != "ntfs")
        throw UsageError(fmt::format("Invalid parameter - {} (this format knows FAT, FAT32 and NTFS)", w));
      c.ntfs = fs == "ntfs";
      c.options.file_system = fs == "fat" ? "FAT" : "FAT32";
      c.file_system_given = true;
    } else if (l.starts_with("/v:")) {
      c.options.label = w.substr(3);
    } else if (l.starts_with("/a:")) {
      const std::uint64_t size = parse_size(w.substr(3));
      // Narrowed only once checked: 4 GiB + 4 KiB wrapped to a 4 KiB cluster, 4 GiB to "default".
      if (size == 0 || size > UINT32_MAX) throw UsageError(fmt::format("Invalid parameter - {} (no such allocation unit size)", w));
      c.options.cluster_size = std::uint32_t(size);
    } else {
      throw UsageError(fmt::format("Invalid parameter - {}", w));
    }
  }
  return c;
}

std::string format_summary(const fat::FormatResult& r, std::uint64_t volume_bytes,
                           std::string_view previous_file_system, bool quick) {
  std::string fs = r.geometry.type == fat::FatType::fat32 ? "FAT32" : "FAT";
  std::string out;
  out += fmt::format("The type of the file system is {}.\n", previous_file_system);
  out += fmt::format("The new file system is {}.\n", fs);
  out += fmt::format("{} {}M\n", quick ? "QuickFormatting" : "Verifying", volume_bytes / (1024 * 1024));
  out += fmt::format("Initializing the File Allocation Table (FAT)...\n");
  out += "Format complete.\n\n";
  out += fmt::format("{:>13} bytes total disk space.\n", with_thousands(r.total_bytes));
  out += fmt::format("{:>13} bytes available on disk.\n\n", with_thousands(r.available_bytes));
  out += fmt::format("{:>13} bytes in each allocation unit.\n", with_thousands(r.geometry.cluster_size()));
  out += fmt::format("{:>13} allocation units available on disk.\n\n",
                     with_thousands(r.available_bytes / r.geometry.cluster_size()));
  out += fmt::format("{:>13} bits in each FAT entry.\n\n", r.geometry.bits_per_entry());
  out += fmt::format("Volume Serial Number is {}\n", serial_text(r.serial));
  return out;
}

fat::CopyOptions parse_xcopy_switches(std::string_view switches) {
  fat::CopyOptions o;
  for (const std::string& w : tokenize(switches)) {
    std::string l = lower(w);
    if (l == "/s") o.recurse = true;
    else if (l == "/e") o.recurse = o.empty_dirs = true;
    else if (l == "/h") o.hidden = true;
    else if (l == "/y" || l == "/i" || l == "/q" || l == "/f" || l == "/k") {
    } else {
      throw UsageError(fmt::format("Invalid switch - {}", w));
    }
  }
  return o;
}

std::string xcopy_listing(std::string_view source_folder, const std::vector<std::string>& copied) {
  std::string out;
  std::string base(source_folder);
  if (!base.empty() && base.back() != '\\' && base.back() != ':') base.push_back('\\');
  // Names come from the volume as WTF-8; what xcopy prints is UTF-8 (a lone surrogate as U+FFFD).
  base = wtf8_for_display(base);
  for (const std::string& path : copied) out += base + wtf8_for_display(path) + "\n";
  out += fmt::format("{} File(s) copied\n", copied.size());
  return out;
}

}  // namespace bootmirror::shell

namespace bootmirror::shell {

std::string file_system_name(const DevicePtr& device) {
  try {
    auto volume = fat::Volume::open(device);
    return volume->geometry().type == fat::FatType::fat32 ? "FAT32" : "FAT";
  } catch (const Error&) {
  }
  try {
    ntfs::Volume::open(device);
    return "NTFS";
  } catch (const Error&) {
    return "RAW";
  }
}

std::string run_format(const DevicePtr& device, std::string_view switches, std::string_view codepage,
                       const ProgressCallback& progress) {
  FormatCommand command = parse_format_switches(switches);
  command.options.codepage = std::string(codepage);
  std::string previous = file_system_name(device);
  // Without /fs format makes the file system the volume has again (turning NTFS into FAT
  // unasked would be a surprise no user wants); a volume with none needs one named.
  if (!command.file_system_given) {
    if (previous == "RAW") throw UsageError("The volume holds no file system: name one with /fs:FAT, /fs:FAT32 or /fs:NTFS.");
    command.ntfs = previous == "NTFS";
    if (!command.ntfs) command.options.file_system = previous;
  }
  if (command.ntfs) {
    ntfs::FormatOptions options;
    options.label = command.options.label;
    options.cluster_size = command.options.cluster_size.value_or(0);
    options.quick = command.options.quick;
    return ntfs_format_summary(ntfs::format(device, options, progress), device->size(), previous, options.quick);
  }
  fat::FormatResult result = fat::format(device, command.options, progress);
  return format_summary(result, device->size(), previous, command.options.quick);
}

DrivePath parse_drive_path(std::string_view text) {
  if (text.size() < 2 || text[1] != ':' || !std::isalpha(static_cast<unsigned char>(text[0])))
    throw UsageError(fmt::format("Invalid drive specification: {}", text));
  return DrivePath{char(std::toupper(static_cast<unsigned char>(text[0]))), text[0], std::string(text.substr(2))};
}

std::string run_xcopy(fat::Volume& source, const DrivePath& from, fat::Volume& target, const DrivePath& to,
                      std::string_view switches, const ProgressCallback& progress) {
  fat::CopyOptions options = parse_xcopy_switches(switches);
  // The source's last component is a pattern when it has wildcards or names a file; otherwise it
  // is a folder whose files are all copied.
  std::string folder = from.rest, pattern = "*.*";
  std::size_t cut = folder.find_last_of("\\/");
  std::string last = cut == std::string::npos ? folder : folder.substr(cut + 1);
  std::string parent = cut == std::string::npos ? "" : folder.substr(0, cut);
  if (last.find_first_of("*?") != std::string::npos || (!last.empty() && source.exists(folder) && !source.stat(folder).is_dir())) {
    pattern = last;
    folder = parent;
  }
  if (!source.exists(folder) || !source.stat(folder).is_dir())
    throw UsageError(fmt::format("File not found - {}", last.empty() ? folder : last));
  options.pattern = pattern;
  std::vector<std::string> copied;
  fat::copy_tree(source, folder, target, to.rest, options, [&](const std::string& p) { copied.push_back(p); }, progress);
  if (copied.empty()) return fmt::format("File not found - {}\n0 File(s) copied\n", pattern);
  // Paths are listed as typed: "p:\" + the folder + '\' + the path below it.
  std::string inner = folder;
  while (!inner.empty() && (inner.front() == '\\' || inner.front() == '/')) inner.erase(0, 1);
  for (char& c : inner)
    if (c == '/') c = '\\';
  std::string shown = fmt::format("{}:\\{}{}", from.typed ? from.typed : from.drive, inner, inner.empty() ? "" : "\\");
  return xcopy_listing(shown, copied);
}

}  // namespace bootmirror::shell

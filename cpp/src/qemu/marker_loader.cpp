// The marker loader (see bootmirror/qemu.h): grub-mkstandalone embeds a grub.cfg in an EFI
// program, with the modules it needs preloaded. In a standalone image $root is GRUB's memdisk,
// so the ESP is found from $cmdpath, "(hd1,gpt1)/EFI/Microsoft/WINNT50", whose device GRUB 2.06
// can probe for the partition's unique GUID (--part-uuid) and the FAT serial (--fs-uuid).
#include <sys/stat.h>

#include <fcntl.h>

#include <map>
#include <mutex>

#include <fmt/format.h>

#include "bootmirror/host_files.h"
#include "bootmirror/qemu.h"
#include "core/program.h"

namespace bootmirror::qemu {

namespace {

constexpr std::size_t kMaxTag = 40;  // "BOOTMIRROR-LOADED " and the tag stay within GRUB's 80 columns
constexpr const char* kPackage = "grub-efi-amd64-bin";
constexpr const char* kModuleFolder = "/usr/lib/grub/x86_64-efi";
// Preloaded, so that nothing is looked for on the ESP: the configuration runs from the memdisk.
// normal runs grub.cfg; regexp, probe, part_gpt/part_msdos and fat find the ESP; serial and
// terminal reach the console; halt powers off.
constexpr const char* kModules = "normal echo regexp probe part_gpt part_msdos fat serial terminal halt";

void check_tag(std::string_view tag) {
  const bool fits = !tag.empty() && tag.size() <= kMaxTag && tag.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
  if (!fits)
    throw UsageError(fmt::format("marker tag '{}' is not 1 to {} of A-Z a-z 0-9 . _ -", tag, kMaxTag));
}

// Output goes to the serial port only: OVMF's console is mirrored there too, so writing to both
// would print every line twice. A probe that fails leaves its variable "unknown".
std::string grub_cfg(std::string_view tag) {
  return fmt::format(
      "serial --unit=0 --speed=115200\n"
      "terminal_output serial\n"
      "set bm_dev=\n"
      "set bm_part=unknown\n"
      "set bm_fs=unknown\n"
      "regexp --set=1:bm_dev '^\\(([^)]*)\\)' \"$cmdpath\"\n"
      "probe --set=bm_part --part-uuid \"$bm_dev\"\n"
      "probe --set=bm_fs --fs-uuid \"$bm_dev\"\n"
      "echo \"BOOTMIRROR-LOADED {}\"\n"
      "echo \"BOOTMIRROR-PART $bm_part\"\n"
      "echo \"BOOTMIRROR-FS $bm_fs\"\n"
      "echo \"BOOTMIRROR-PATH $cmdpath\"\n"
      "echo \"BOOTMIRROR-END\"\n"
      "halt\n",
      tag);
}

ByteVector read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw OsError(errno, path, "open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw OsError(errno, path, "stat");
  ByteVector bytes(std::size_t(st.st_size));
  read_fully(fd.get(), 0, bytes, path);
  return bytes;
}

void write_file(const std::string& path, std::string_view text) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw OsError(errno, path, "create");
  write_fully(fd.get(), 0, ByteSpan(reinterpret_cast<const std::byte*>(text.data()), text.size()), path);
}

ByteVector build(std::string_view tag) {
  if (!std::filesystem::exists(std::filesystem::path(kModuleFolder) / "moddep.lst"))
    throw UsageError(fmt::format("GRUB's x86_64-efi modules are not installed ({}): they come with the Debian "
                                 "package {} (apt-get install {})", kModuleFolder, kPackage, kPackage));
  TemporaryFolder folder("marker-loader");
  const std::string cfg = (folder.path() / "grub.cfg").string();
  const std::string efi = (folder.path() / "loader.efi").string();
  write_file(cfg, grub_cfg(tag));
  run_program({"grub-mkstandalone", "--format=x86_64-efi", "--output=" + efi, fmt::format("--modules={}", kModules),
               fmt::format("--install-modules={}", kModules), "--locales=", "--fonts=", "--themes=",
               "boot/grub/grub.cfg=" + cfg},
              kPackage);
  return read_file(efi);
}

}  // namespace

ByteVector build_marker_loader(std::string_view tag) {
  check_tag(tag);
  static std::mutex mutex;
  static std::map<std::string, ByteVector, std::less<>> built;
  std::lock_guard lock(mutex);
  auto it = built.find(tag);
  if (it == built.end()) it = built.emplace(std::string(tag), build(tag)).first;
  return it->second;
}

}  // namespace bootmirror::qemu

// One boot under QEMU (see bootmirror/qemu.h). The machine is as bare as QEMU makes one:
// -nodefaults drops the empty DVD-ROM that q35 adds (whose auto-created boot option would fail
// and clutter every attempt list), the VGA card, the NIC and the default serial and monitor, so
// the console is the one serial port we attach, to a file. The disks are virtio-blk devices in
// the order given, without bootindex (a bootindex makes OVMF reorder BootOrder after QEMU's list,
// which would hide what the store says). snapshot=on keeps every image as it was: a real boot
// writes nothing to the ESP from GRUB either, but with snapshot=on nothing the guest does can
// change an image, and an image another process holds stays consistent.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bootmirror/qemu.h"
#include "bootmirror/unicode.h"
#include "core/program.h"

namespace bootmirror::qemu {

namespace {

// QEMU's option syntax: a comma inside a value is written twice.
std::string option_value(std::string_view text) {
  std::string out;
  for (char c : text) {
    out.push_back(c);
    if (c == ',') out.push_back(',');
  }
  return out;
}

void check_disk(const DiskImage& disk) {
  if (disk.sector_size != 512 && disk.sector_size != 4096)
    throw UsageError(fmt::format("{}: a sector size of {} bytes; QEMU boots disks of 512 or 4096", disk.path, disk.sector_size));
  struct stat st {};
  if (::stat(disk.path.c_str(), &st) != 0) throw OsError(errno, disk.path, "open the disk image");
  if (!S_ISREG(st.st_mode)) throw UsageError(fmt::format("{} is not a disk image file", disk.path));
  if (st.st_size == 0 || std::uint64_t(st.st_size) % disk.sector_size != 0)
    throw UsageError(fmt::format("{} is {} bytes, not a whole number of {}-byte sectors", disk.path, st.st_size, disk.sector_size));
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> qemu_arguments(const BootOptions& options, const std::string& code, const std::string& console) {
  std::vector<std::string> argv{
      "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "256", "-nodefaults", "-nographic", "-no-reboot",
      "-net", "none",
      "-drive", fmt::format("if=pflash,format=raw,unit=0,readonly=on,file={}", option_value(code)),
      "-drive", fmt::format("if=pflash,format=raw,unit=1,file={}", option_value(options.vars)),
      "-chardev", fmt::format("file,id=console,path={}", option_value(console)),
      "-serial", "chardev:console"};
  for (std::size_t i = 0; i < options.disks.size(); ++i) {
    const DiskImage& disk = options.disks[i];
    argv.insert(argv.end(), {"-drive", fmt::format("if=none,id=disk{},format=raw,snapshot=on,file={}", i, option_value(disk.path)),
                             "-device", fmt::format("virtio-blk-pci,drive=disk{0},logical_block_size={1},physical_block_size={1}",
                                                    i, disk.sector_size)});
  }
  return argv;
}

}  // namespace

BootResult boot(const BootOptions& options) {
  if (options.timeout.count() <= 0) throw UsageError("a boot needs a timeout above zero");
  for (const DiskImage& disk : options.disks) check_disk(disk);
  if (::access(options.vars.c_str(), R_OK | W_OK) != 0)
    throw OsError(errno, options.vars, "open the variable store for writing");
  BootResult result;
  result.firmware_code = options.firmware_code.empty() ? firmware_code_for(options.vars) : options.firmware_code;
  TemporaryFolder folder("qemu-boot");
  const std::filesystem::path console = folder.path() / "console.log";
  const auto start = std::chrono::steady_clock::now();
  // Once firmware has started a program, a console quiet for this long means it waits for input
  // (a marker loader prints within a second of its start and powers the machine off).
  constexpr auto kIdle = std::chrono::seconds(3);
  std::uintmax_t seen_size = 0;
  auto changed = std::chrono::steady_clock::now();
  RunLimits limits{options.timeout, [&] {
                     std::error_code ec;
                     const std::uintmax_t size = std::filesystem::file_size(console, ec);
                     if (ec) return false;
                     const auto now = std::chrono::steady_clock::now();
                     if (size != seen_size) {
                       seen_size = size;
                       changed = now;
                       return false;
                     }
                     return now - changed >= kIdle && read_text(console).find("BdsDxe: starting ") != std::string::npos;
                   }};
  const ProgramResult run = run_program(qemu_arguments(options, result.firmware_code, console.string()), "qemu-system-x86", limits);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.exit_status = run.exit_code;
  result.timed_out = run.timed_out;
  result.stopped_idle = run.stopped;
  result.qemu_messages = utf8_or_replacement(run.output);
  result.console = clean_console(read_text(console));
  result.markers = find_markers(result.console);
  result.attempts = find_boot_attempts(result.console);
  return result;
}

}  // namespace bootmirror::qemu

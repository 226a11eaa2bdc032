// The console reader of the QEMU boots, on console bytes as OVMF and GRUB wrote them in the boots
// of tests/python/interop/test_qemu_boot.py (escape sequences and CRs kept). The boots themselves
// are tested in Python.
#include <gtest/gtest.h>

#include <string>

#include "bootmirror/qemu.h"

using namespace bootmirror;
using qemu::BootAttempt;

namespace {

// Disk 0 absent: its entry fails without a "loading" line, disk 1's loads and its loader reports.
const std::string kMissingDisk =
    "\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01H"
    "BdsDxe: failed to load Boot0000 \"bootmirror disk 0\" from HD(1,GPT,0E88F718-E01A-4F58-A312-F1DD5C351D0E,0x22,"
    "0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi: Not Found\r\n"
    "BdsDxe: loading Boot0001 \"bootmirror disk 1\" from HD(1,GPT,09269A1D-E2E6-434C-BC0B-F1C70FDCB09B,0x22,"
    "0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi\r\n"
    "BdsDxe: starting Boot0001 \"bootmirror disk 1\" from HD(1,GPT,09269A1D-E2E6-434C-BC0B-F1C70FDCB09B,0x22,"
    "0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi\r\n"
    "\x1b[0m\x1b[30m\x1b[47mWelcome to GRUB!\r\n\r\n\x1b[0m\x1b[37m\x1b[40m\x1b[H\x1b[J\x1b[1;1H"
    "BOOTMIRROR-LOADED T1\r\n"
    "BOOTMIRROR-PART 09269a1d-e2e6-434c-bc0b-f1c70fdcb09b\r\n"
    "BOOTMIRROR-FS 4100-0070\r\n"
    "BOOTMIRROR-PATH (hd1,gpt1)/EFI/Microsoft/WINNT50\r\n"
    "BOOTMIRROR-END\r\n";

}  // namespace

TEST(QemuConsole, CleaningDropsEscapesAndCarriageReturns) {
  EXPECT_EQ(qemu::clean_console("\x1b[2J\x1b[01;01H\x1b[=3hA\r\nB\x1b(B\x1b" "c\x07" "C\r\n"), "A\nBC\n");
  EXPECT_EQ(qemu::clean_console("box \xc4\xcd end"), "box \xef\xbf\xbd\xef\xbf\xbd end");  // code page 437
  EXPECT_EQ(qemu::clean_console("cut \x1b["), "cut ");
}

TEST(QemuConsole, AttemptsJoinTheirLoadingAndOutcomeLines) {
  const std::vector<BootAttempt> attempts = qemu::find_boot_attempts(qemu::clean_console(kMissingDisk));
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].option, 0);
  EXPECT_EQ(attempts[0].description, "bootmirror disk 0");
  EXPECT_EQ(attempts[0].outcome, BootAttempt::Outcome::load_failed);
  EXPECT_EQ(attempts[0].status, "Not Found");
  EXPECT_EQ(attempts[0].device_path,
            "HD(1,GPT,0E88F718-E01A-4F58-A312-F1DD5C351D0E,0x22,0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi");
  EXPECT_EQ(attempts[1].option, 1);
  EXPECT_EQ(attempts[1].outcome, BootAttempt::Outcome::started);
  EXPECT_EQ(attempts[1].status, "");
}

TEST(QemuConsole, AttemptsCutShortOrFailingToStart) {
  const std::string console =
      "BdsDxe: loading Boot0003 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\n"
      "BdsDxe: starting Boot0003 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0)\n"
      "BdsDxe: failed to start Boot0003 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): Aborted\n"
      "BdsDxe: loading Boot000A \"UiApp\" from Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(462CAA21-7614-4503-836E-8AB6F4662331)\n"
      "BdsDxe: frobbing Boot0001 \"not a line we know\" from X\n";
  const std::vector<BootAttempt> attempts = qemu::find_boot_attempts(console);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, BootAttempt::Outcome::start_failed);
  EXPECT_EQ(attempts[0].status, "Aborted");
  EXPECT_EQ(attempts[0].device_path, "PciRoot(0x0)/Pci(0x2,0x0)");
  EXPECT_EQ(attempts[1].option, 0x000A);
  EXPECT_EQ(attempts[1].outcome, BootAttempt::Outcome::loading);
  EXPECT_EQ(qemu::outcome_name(attempts[1].outcome), "loading");
}

// A description of 204 characters, as OVMF printed it in a real boot: each BdsDxe line filled
// Print's 320-character buffer, was cut there without its line end, and the next followed on the
// same line ("...\\iaBdsDxe: starting ...", then "...\\iWelcome to GRUB!"). The boot started; read
// line by line, its "starting" record was lost inside the "loading" one.
TEST(QemuConsole, RecordsCutAtPrintsBufferFollowOnTheSameLine) {
  const std::string description(204, 'D');
  const std::string path = "HD(1,GPT,80EC7E92-EE8F-489B-ACB7-0444C8191FDE,0x3F,0x5191)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi";
  auto cut = [](const std::string& record) { return record.substr(0, 320); };
  const std::string loading = cut("BdsDxe: loading Boot0004 \"" + description + "\" from " + path + "\n");
  const std::string starting = cut("BdsDxe: starting Boot0004 \"" + description + "\" from " + path + "\n");
  ASSERT_EQ(loading.size(), 320u);
  const std::vector<BootAttempt> attempts = qemu::find_boot_attempts(loading + starting + "Welcome to GRUB!\n");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].option, 4);
  EXPECT_EQ(attempts[0].description, description);
  EXPECT_EQ(attempts[0].outcome, BootAttempt::Outcome::started);
  EXPECT_EQ(attempts[0].device_path, loading.substr(loading.find(" from ") + 6));
  // A record's text quoted inside a line that is no record, or inside a record short of the
  // buffer, is not one.
  EXPECT_TRUE(qemu::find_boot_attempts("Shell> echo BdsDxe: starting Boot0001 \"x\" from HD(1)\n").empty());
  const std::string short_record = "BdsDxe: loading Boot0002 \"a BdsDxe: starting Boot0002 \"b\" from X\" from Y\n";
  ASSERT_EQ(qemu::find_boot_attempts(short_record).size(), 1u);
  EXPECT_EQ(qemu::find_boot_attempts(short_record)[0].outcome, BootAttempt::Outcome::loading);
}

TEST(QemuConsole, MarkersNameTheirPartitionAndSerial) {
  const std::vector<qemu::Marker> markers = qemu::find_markers(qemu::clean_console(kMissingDisk));
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(markers[0].tag, "T1");
  EXPECT_EQ(markers[0].partition, Guid::parse("09269a1d-e2e6-434c-bc0b-f1c70fdcb09b"));
  EXPECT_EQ(markers[0].fat_serial, 0x41000070u);
  EXPECT_EQ(markers[0].path, "(hd1,gpt1)/EFI/Microsoft/WINNT50");
}

TEST(QemuConsole, FieldsGrubCouldNotProbeAreEmpty) {
  const std::vector<qemu::Marker> markers = qemu::find_markers(
      "BOOTMIRROR-PART 09269a1d-e2e6-434c-bc0b-f1c70fdcb09b\n"  // before any marker: ignored
      "BOOTMIRROR-LOADED a\nBOOTMIRROR-PART unknown\nBOOTMIRROR-FS unknown\nBOOTMIRROR-END\n"
      "BOOTMIRROR-FS 1234-5678\n"  // after END: ignored
      "BOOTMIRROR-LOADED b\n");
  ASSERT_EQ(markers.size(), 2u);
  EXPECT_FALSE(markers[0].partition.has_value());
  EXPECT_FALSE(markers[0].fat_serial.has_value());
  EXPECT_EQ(markers[1].tag, "b");
}

TEST(QemuMarkerLoader, TagsAreCheckedBeforeAnythingRuns) {
  EXPECT_THROW(qemu::build_marker_loader(""), UsageError);
  EXPECT_THROW(qemu::build_marker_loader("two words"), UsageError);
  EXPECT_THROW(qemu::build_marker_loader("quote\"d"), UsageError);
  EXPECT_THROW(qemu::build_marker_loader(std::string(41, 'x')), UsageError);
}

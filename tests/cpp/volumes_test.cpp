// Basic volumes and drive letters on a Machine, and format/xcopy on those letters.
#include <gtest/gtest.h>

#include "bootmirror/machine.h"
#include "bootmirror/partitioning.h"
#include "bootmirror/shell.h"
#include "bootmirror/volumes.h"

using namespace bootmirror;

namespace {

std::shared_ptr<Machine> machine_with_esp() {
  auto m = std::make_shared<Machine>();
  auto disk = std::make_shared<MemoryDisk>(512ull << 20);
  m->attach(disk);
  partitioning::convert_gpt(*disk);
  partitioning::delete_partition(*disk, 1, true);  // the MSR convert made
  partitioning::CreateRequest efi;
  efi.kind = partitioning::NewKind::efi;
  efi.size = 100ull << 20;
  partitioning::create_partition(*disk, efi);
  partitioning::CreateRequest data;
  data.size = 200ull << 20;
  partitioning::create_partition(*disk, data);
  return m;
}

}  // namespace

TEST(Volumes, DataPartitionsAndEspsAreVolumes) {
  auto m = machine_with_esp();
  auto volumes = basic_volumes(*m);
  // The runbook's list volume shows the ESP without a letter ("System"), numbered after the data
  // volumes (its recovery section: the Windows partition is Volume 2, the ESP before it on the
  // disk Volume 3); the MSR is no volume.
  ASSERT_EQ(volumes.size(), 2u);
  EXPECT_EQ(volumes[0].partition, 2u);
  EXPECT_EQ(volumes[1].kind, gpt::Kind::efi_system);
  EXPECT_EQ(volumes[1].partition, 1u);
  EXPECT_LT(volumes[0].number, volumes[1].number);
  EXPECT_FALSE(volumes[0].letter);
  EXPECT_FALSE(volumes[1].letter);
  assign_letter(*m, 0, 1, 's');
  volumes = basic_volumes(*m);
  ASSERT_EQ(volumes.size(), 2u);
  EXPECT_EQ(volumes[1].letter, 'S');
  EXPECT_EQ(volume_by_letter(*m, "s:\\")->partition, 1u);
  EXPECT_THROW(assign_letter(*m, 0, 2, 'S'), UsageError);  // taken
  EXPECT_EQ(next_free_letter(*m), 'C');
  remove_letter(*m, 0, 1);
  EXPECT_FALSE(volume_by_letter(*m, "S"));
}

TEST(Volumes, FormatAndXcopyOnLetters) {
  auto m = machine_with_esp();
  assign_letter(*m, 0, 1, 'S');
  assign_letter(*m, 0, 2, 'P');
  EXPECT_NE(shell::format_drive(*m, "s:", "/fs:fat /q /y").find("The new file system is FAT."), std::string::npos);
  shell::format_drive(*m, "P:", "/fs:fat32 /q /y");
  auto p = mount_fat(*m, "p");
  EXPECT_EQ(p, mount_fat(*m, "P:"));  // one mounted volume per letter
  p->makedirs("EFI/Boot");
  std::string data = "boot";
  p->write_file("EFI/Boot/bootx64.efi", as_bytes(data));
  EXPECT_EQ(shell::xcopy_drives(*m, "p:\\*.*", "s:", "/s"), "p:\\EFI\\Boot\\bootx64.efi\n1 File(s) copied\n");
  EXPECT_EQ(mount_fat(*m, "s")->read_file("efi/boot/bootx64.efi").size(), 4u);
  EXPECT_THROW(shell::format_drive(*m, "q:", "/fs:fat"), UsageError);
}

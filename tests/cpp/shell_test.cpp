#include <gtest/gtest.h>

#include "bootmirror/partitioning.h"
#include "bootmirror/shell.h"

using namespace bootmirror;

TEST(Shell, SizeRuleOfTheSeed) {
  EXPECT_EQ(shell::format_size(0), "0 B");
  EXPECT_EQ(shell::format_size(17408), "17 KB");
  EXPECT_EQ(shell::format_size(32256), "32 KB");
  EXPECT_EQ(shell::format_size(213825024), "204 MB");
  EXPECT_EQ(shell::format_size(4996ull << 20), "4996 MB");
  EXPECT_EQ(shell::format_size(9153031680ull), "9 GB");
  EXPECT_EQ(shell::format_size(3142056960ull), "2996 MB");
}

TEST(Shell, TranscriptAndCommandTable) {
  Machine m;
  m.attach(std::make_shared<MemoryDisk>(128ull << 20));
  shell::Diskpart dp(m);
  const std::string t = dp.run("Select Disk 0\nCONVERT GPT\nrem a comment\n\nlist partition\n");
  EXPECT_EQ(t.rfind("DISKPART> Select Disk 0\n\nDisk 0 is now the selected disk.\n\nDISKPART> CONVERT GPT\n", 0), 0u);
  EXPECT_NE(t.find("  Partition 1    Reserved            32 MB    17 KB\n"), std::string::npos);
  EXPECT_THROW(dp.run("select disk 3", true), UsageError);

  // A later module adds its commands the same way.
  shell::CommandTable table = shell::diskpart_commands();
  table.add("list vdisk", "Display a list of virtual disks", [](Machine&, const shell::Arguments&) { return std::string("none"); });
  shell::Diskpart extended(m, table);
  EXPECT_EQ(extended.execute("lis vdi").text, "none");
  EXPECT_EQ(extended.execute("lis vol").text, "There are no volumes.");  // volumes are built in
  EXPECT_TRUE(extended.execute("rem remove").ok);                        // a comment, not "remove"
  EXPECT_EQ(extended.execute("list disk").ok, true);
  auto outcome = extended.execute("create partition efi size=abc");
  EXPECT_FALSE(outcome.ok);
}

// What Windows Server 2003's format prints for NTFS. No 2003 transcript of a quick NTFS format
// survives; this is composed (test data: reference/windows-2003-text.md, 1e) from a 2003 full NTFS
// format (1b: "Creating file system structures.", totals "in KB") and an XP quick one (1d, the
// only sample that kept its padding: totals right-aligned in 10 characters), with the first lines
// of the confirmed 2003 FAT format (1a). The totals are in KB with no thousands separators: total
// clusters, and free clusters ($Bitmap), times the cluster size (1d's 4,194,300 KB is 1,048,575
// clusters of 4 KB).
#include <fmt/format.h>

#include "bootmirror/ntfs_commands.h"

namespace bootmirror::shell {

std::string ntfs_format_summary(const ntfs::FormatResult& r, std::uint64_t volume_bytes,
                                std::string_view previous_file_system, bool quick) {
  std::string out;
  out += fmt::format("The type of the file system is {}.\n", previous_file_system);
  out += "The new file system is NTFS.\n";
  out += fmt::format("{} {}M\n", quick ? "QuickFormatting" : "Verifying", volume_bytes / (1024 * 1024));
  out += "Creating file system structures.\n";
  out += "Format complete.\n";
  out += fmt::format("{:>10} KB total disk space.\n", r.cluster_count * r.cluster_bytes / 1024);
  out += fmt::format("{:>10} KB are available.\n", r.free_clusters * r.cluster_bytes / 1024);
  return out;
}

}  // namespace bootmirror::shell

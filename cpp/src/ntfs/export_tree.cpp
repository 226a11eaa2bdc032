// An NTFS folder copied out to a host folder (Volume::export_tree): folders walked by record
// number rather than by path, so that a name no path can spell (a POSIX-namespace name holding a
// backslash) is still copied, and each folder is entered once, so that a damaged index pointing
// back at an ancestor ends in a FormatError rather than a loop.
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <set>

#include "bootmirror/host_files.h"
#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::size_t kCopyBytes = 8 << 20;  // read and written a piece at a time

// The sizes of the files in folder `record` and below it, what an export's progress counts
// toward: a walk of the indexes alone. A folder met twice is the cycle the export refuses.
std::uint64_t tree_bytes(const Volume::State& state, std::uint64_t record) {
  std::uint64_t bytes = 0;
  std::vector<std::uint64_t> pending{record};
  std::set<std::uint64_t> entered;
  while (!pending.empty()) {
    record = pending.back();
    pending.pop_back();
    if (!entered.insert(record).second) throw FormatError(fmt::format("NTFS: folder record {} lies inside itself", record));
    for (const Entry& e : folder_entries(state, record)) {
      if (e.is_dir) pending.push_back(e.record);
      else bytes = saturating_add(bytes, e.size);  // a damaged size may claim anything
    }
  }
  return bytes;
}

}  // namespace

CopyStats Volume::export_tree(std::string_view src, const std::string& host_dir, const ProgressCallback& progress) const {
  CopyStats stats;
  ProgressMeter meter(progress, fmt::format("the export of {}", src.empty() ? "\\" : std::string(src)));
  if (progress) meter.start(tree_bytes(*state_, folder_record(*state_, src)));
  struct Pending {
    std::uint64_t record;
    Fd fd;
    std::string shown;
  };
  std::vector<Pending> pending;
  pending.push_back({folder_record(*state_, src), open_export_root(host_dir), host_dir});
  std::set<std::uint64_t> entered;
  ByteVector buffer;
  while (!pending.empty()) {
    Pending folder = std::move(pending.back());
    pending.pop_back();
    if (!entered.insert(folder.record).second)
      throw FormatError(fmt::format("NTFS: folder record {} lies inside itself (exporting {})", folder.record, folder.shown));
    std::set<std::string> used;  // host names in this folder: two names the host cannot tell apart get ~2, ~3...
    for (const Entry& e : folder_entries(*state_, folder.record)) {
      const std::string base = host_component(e.name);
      std::string name = base;
      for (int n = 2; !used.insert(name).second; ++n) name = fmt::format("{}~{}", base, n);
      const std::string shown = folder.shown + "/" + name;
      if (e.is_dir) {
        ++stats.directories;
        pending.push_back({e.record, make_host_folder(folder.fd.get(), name, shown), shown});
        continue;
      }
      // Only what the file stores is read and written; its sparse runs and what lies past its
      // initialized size stay holes in the host file. So the work is bounded by the clusters the
      // volume holds, whatever size a file claims.
      Fd out = create_host_file(folder.fd.get(), name, shown);
      for (const Extent& stored : stored_ranges(*state_, e.record)) {
        const std::uint64_t end = std::min(stored.offset + stored.length, e.size);
        buffer.resize(std::size_t(std::min<std::uint64_t>(std::max<std::uint64_t>(end - std::min(end, stored.offset), 1), kCopyBytes)));
        for (std::uint64_t at = stored.offset; at < end;) {
          const std::size_t n = read_data(e.record, at, MutableByteSpan(buffer).first(std::size_t(std::min<std::uint64_t>(buffer.size(), end - at))));
          if (n == 0) throw FormatError(fmt::format("NTFS: {} ends before its size of {} bytes", shown, e.size));
          write_fully(out.get(), at, ByteSpan(buffer.data(), n), shown);
          at += n;
        }
      }
      if (::ftruncate(out.get(), off_t(std::min<std::uint64_t>(e.size, std::numeric_limits<off_t>::max()))) != 0)
        throw OsError(errno, shown, "set size");
      set_host_times(out.get(), e.accessed, e.modified, shown);
      ++stats.files;
      stats.bytes += e.size;
      meter.advance(e.size);
    }
  }
  meter.finish();
  return stats;
}

}  // namespace bootmirror::ntfs

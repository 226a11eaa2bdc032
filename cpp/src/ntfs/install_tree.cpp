// Filling an NTFS volume from a host folder with wimlib-imagex, the way Windows' own setup lays
// down a system volume (it applies a WIM). wimlib runs on a temporary sparse copy of the volume's
// clusters in use; the clusters that differ afterwards come back in the crash-safe order that
// bootmirror/ntfs.h describes.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "bootmirror/extents.h"
#include "bootmirror/ntfs.h"
#include "bootmirror/unicode.h"
#include "core/program.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::size_t kPiece = 1 << 20;
// As FAT's tree copies stop (fat::Volume's max_path_parts): deeper than any Windows tree, and far
// short of what fails wimlib part way.
constexpr int kMaxDepth = 200;

// Every name of the host tree, before anything runs: one that is not UTF-8 fails wimlib part
// way, and one holding a character Windows does not allow would land where Windows cannot reach
// it (and our own reader could not open "back\slash").
void check_host_tree(const std::string& root) {
  namespace fs = std::filesystem;
  if (!is_valid_utf8(root))
    throw UsageError(fmt::format("{}: wimlib-imagex takes a folder by a UTF-8 path only", escape_bytes(root)));
  std::error_code error;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, error), end;
  for (; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (!is_valid_utf8(name))
      throw UsageError(fmt::format("{}: the name is not UTF-8, which an NTFS name is made from", escape_bytes(it->path().string())));
    for (const unsigned char c : name)
      if (c < 0x20 || std::strchr("\\:*?\"<>|", c))
        throw UsageError(fmt::format("{}: the name '{}' contains a character Windows does not allow", escape_bytes(it->path().string()),
                                     escape_bytes(name)));
    if (it.depth() >= kMaxDepth)
      throw UsageError(fmt::format("{}: deeper than {} folders", escape_bytes(it->path().string()), kMaxDepth));
  }
  if (error) throw OsError(error.value(), root, "read the host folder");
}

}  // namespace

void install_tree(const DevicePtr& device, const std::string& host_folder) {
  if (!device) throw UsageError("no device to install onto");
  if (!device->writable()) throw UsageError(fmt::format("{} is open read-only", device->name()));
  std::error_code error;
  if (!std::filesystem::is_directory(host_folder, error))
    throw UsageError(fmt::format("{} is not a folder", host_folder));
  check_host_tree(host_folder);
  const auto before = Volume::open(device);
  if (before->dirty())
    throw UsageError(fmt::format("the NTFS volume on {} is marked dirty: check it (chkdsk, ntfsfix) first", device->name()));
  // wimlib creates every name it applies and stops at one that exists, having written part of the
  // tree: names already on the volume are refused here, before anything is written.
  for (const auto& entry : std::filesystem::directory_iterator(host_folder)) {
    const std::string name = entry.path().filename().string();
    if (before->exists(name))
      throw UsageError(fmt::format("{} is already on the NTFS volume: install_tree adds new names only", name));
  }
  const Volume::VolumeRecordPlace place = before->volume_record_place();
  const std::uint32_t sector = device->sector_size(), cluster = before->cluster_bytes();
  // What the old volume uses, in order: its clusters in use, then the backup boot sector past the
  // last cluster.
  std::vector<Extent> in_use = before->allocated_ranges();
  const std::uint64_t backup_boot = (device->size() / sector - 1) * sector;
  in_use.push_back({backup_boot, sector});

  TemporaryFolder folder("wimlib");
  const std::string wim = (folder.path() / "tree.wim").string(), image_path = (folder.path() / "volume.ntfs").string();
  // An empty capture configuration: without one wimlib leaves out what Windows images leave out
  // (\RECYCLER, \pagefile.sys, ...), and the folder is to land as it is.
  const std::string config = (folder.path() / "capture.ini").string();
  {
    std::ofstream out(config);
    out << "[ExclusionList]\n";
    if (!out.flush()) throw OsError(errno, config, "write");
  }
  // XPRESS, not none: the WIM holds every byte a file spans, its holes too, and a sparse 100 GiB
  // image in the tree would fill the temporary folder's disk uncompressed (measured: 512 MiB of
  // hole and 20 MiB of random data, 558 MB and 2.6 s uncompressed, 25 MB and 1.2 s with XPRESS).
  run_program({"wimlib-imagex", "capture", host_folder, wim, "--compress=XPRESS", "--no-acls", "--quiet", "--config=" + config},
              "wimtools");
  {
    const auto image = ImageFile::create(image_path, device->size(), sector);
    copy_extents(*device, *image, in_use);
    image->flush();
    image->close();
  }
  run_program({"wimlib-imagex", "apply", wim, "1", image_path, "--quiet"}, "wimtools");
  const auto image = ImageFile::open(image_path, false, sector);
  const auto after = Volume::open(image);  // our reader checks what wimlib made before it lands
  if (after->dirty()) throw Error("wimlib-imagex left the NTFS volume marked dirty");

  // What differs, a cluster at a time, sorted by whether the old volume uses it.
  std::vector<Extent> into_free, into_used;
  std::vector<Extent> record_place = place.ranges;
  std::sort(record_place.begin(), record_place.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  ExtentCursor old_use(in_use);
  ByteVector ours(kPiece), theirs(kPiece);
  for (const Extent& e : image->allocated_extents())
    for (std::uint64_t at = e.offset; at < e.offset + e.length;) {
      const std::size_t n = std::size_t(std::min<std::uint64_t>(kPiece, e.offset + e.length - at));
      device->read(at, MutableByteSpan(ours.data(), n));
      image->read(at, MutableByteSpan(theirs.data(), n));
      for (std::size_t p = 0; p < n; p += cluster) {
        const std::size_t m = std::min<std::size_t>(cluster, n - p);
        if (std::memcmp(ours.data() + p, theirs.data() + p, m) == 0) continue;  // memcmp: std::equal on std::byte is slow
        // $Volume's record is left out here: it is written last, whole.
        auto& into = old_use.holds_data(at + p, m) ? into_used : into_free;
        for (const Extent& part : subtract_extents({{at + p, m}}, record_place)) append_extent(into, part.offset, part.length);
      }
      at += n;
    }
  bool volume_record_changed = false;
  for (const Extent& r : place.ranges) {
    ByteVector a = device->read(r.offset, std::size_t(r.length)), b = image->read(r.offset, std::size_t(r.length));
    volume_record_changed |= a != b;
  }
  if (into_free.empty() && into_used.empty() && !volume_record_changed) return;

  // Order, a write barrier (device flush) between the steps. Until the dirty mark lands, only
  // clusters the old volume leaves free have changed: it reads as it was. From the mark on, a
  // crash leaves a volume that says it needs checking; the clean $Volume record ends it.
  copy_extents(*image, *device, into_free);
  device->flush();
  for (std::uint64_t flag : place.dirty_flag_bytes) {
    ByteVector stride = device->read(flag / sector * sector, sector);
    stride[flag % sector] |= std::byte{0x01};  // VOLUME_IS_DIRTY, the low byte of the flags
    device->write(flag / sector * sector, stride);
  }
  device->flush();
  copy_extents(*image, *device, into_used);
  device->flush();
  copy_extents(*image, *device, place.ranges);
  device->flush();
}

}  // namespace bootmirror::ntfs

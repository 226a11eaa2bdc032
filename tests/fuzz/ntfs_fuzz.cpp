// The NTFS reader on a whole volume (cpp/src/ntfs/): one disk given as a sparse image
// (support/sparse_image.h), the volume at its first sector, whose seeds are volumes mkntfs made
// (512- and 4096-byte sectors, several cluster sizes). Every structure is open to mutation: the
// boot sector, the $MFT's record and its run list, $Volume, every other record. What must hold:
// opening, reading every record, listing folders, reading files and exporting the tree answer
// values or bootmirror errors, never anything else, and a volume that opens reads the same twice.
#include <unistd.h>

#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "bootmirror/ntfs.h"
#include "support/harness.h"
#include "support/sparse_image.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  SparseImage image = decode_sparse_image({reinterpret_cast<const std::byte*>(data), size}, 1);
  std::shared_ptr<ntfs::Volume> volume;
  if (!attempt([&] { volume = ntfs::Volume::open(image.disks.at(0)); })) return 0;
  const std::string label = volume->label();
  // The records a walk of the volume reads first: the system files, and a few past them.
  // $Bitmap and $Volume's place: what format and install_tree rely on.
  attempt([&] { volume->free_clusters(); });
  attempt([&] { volume->allocated_ranges(); });
  attempt([&] { volume->volume_record_place(); });
  (void)volume->dirty();
  const std::uint64_t records = std::min<std::uint64_t>(volume->mft_record_count(), 40);
  for (std::uint64_t n = 0; n < records; ++n) attempt([&] { volume->read_record(n); });
  // A walk: the root's entries, one level below it, and the files' data (bounded: a mutated size
  // may claim gigabytes, which read_file refuses past its limit but would still allocate).
  attempt([&] {
    for (const ntfs::Entry& e : volume->list("")) {
      if (e.is_dir) {
        attempt([&] {
          for (const ntfs::Entry& inner : volume->list(e.name))
            if (!inner.is_dir && inner.size <= (1u << 20)) attempt([&] { volume->read_file(e.name + "/" + inner.name); });
        });
      } else if (e.size <= (1u << 20)) {
        attempt([&] { volume->read_file(e.name); });
      } else {
        // A large (or mutated) size: pieces of it, as open(path, "rb") reads them.
        ByteVector piece(4096);
        for (std::uint64_t at : {std::uint64_t(0), e.size / 2, e.size - 1}) attempt([&] { volume->read_data(e.record, at, piece); });
      }
    }
  });
  // The whole tree out to a host folder, when the sizes its files claim add up to little (a
  // mutated size may claim terabytes; export_tree writes what the runs store, up to that size).
  std::uint64_t claimed = 0;
  std::function<void(const std::string&, int)> measure = [&](const std::string& folder, int depth) {
    for (const ntfs::Entry& e : volume->list(folder)) {
      claimed += e.size;
      if (e.is_dir && depth < 8 && claimed < (4u << 20)) measure(folder.empty() ? e.name : folder + "/" + e.name, depth + 1);
    }
  };
  if (attempt([&] { measure("", 0); }) && claimed < (4u << 20)) {
    const std::filesystem::path out = std::filesystem::temp_directory_path() / fmt::format("ntfs-fuzz-{}", ::getpid());
    attempt([&] { volume->export_tree("", out.string()); });
    std::filesystem::remove_all(out);
  }
  std::shared_ptr<ntfs::Volume> again;
  require(attempt([&] { again = ntfs::Volume::open(image.disks.at(0)); }), "a volume that opened opens again");
  require(again->label() == label && again->serial() == volume->serial(), "a volume reads the same twice");
  return 0;
}

// FAT directories with long names (fatgen103 sections 6 and 7), walked through fat::Volume on a
// small volume given as a sparse image (support/sparse_image.h) whose seeds are whole volumes made
// by the engine, mkfs.fat and mtools: mutations damage the boot sector, the FATs, the root and the
// folders' clusters of a valid volume. What must hold:
//   - opening, walking, stat, reading and check() without repair never write;
//   - every name a walk lists opens that entry (the README's promise), or, in a damaged folder
//     holding two entries of that name, the first of them (names a path cannot spell, and what
//     lies in a folder that only such a name or a duplicate leads to, aside);
//   - a volume that opens still opens after check(repair=True), and then takes a new file and a
//     new folder that read back after a flush and a fresh open.
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bootmirror/fat.h"
#include "bootmirror/unicode.h"
#include "support/harness.h"
#include "support/sparse_image.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;

namespace {

std::string child(const std::string& folder, const std::string& name) { return folder.empty() ? name : folder + "/" + name; }

// Whether a listed name can be written as a path component at all. A damaged 8.3 entry may hold
// '\' or '/', or be "." or end in a dot or space, which paths strip; how such names should be
// listed so that they still open is the FAT module's question (issue 9, FAT names), not checked here.
bool spellable(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find_first_of("/\\") == std::string::npos &&
         name.back() != '.' && name.back() != ' ';
}

bool spellable_path(const std::string& path) {
  for (std::size_t start = 0; start < path.size();) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (!spellable(path.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

void read_everything(fat::Volume& volume) {
  attempt([&] {
    (void)volume.label();
    (void)volume.free_bytes();
  });
  std::vector<fat::WalkStep> steps;
  if (!attempt([&] { steps = volume.walk(""); })) {
    attempt([&] { volume.list(""); });
    return;
  }
  // Folders whose path opens them: a folder that shares its name with an earlier entry (damage)
  // cannot be reached by its path, nor can anything inside it.
  std::set<std::string> reachable{""};
  // A walk visits both folders of a duplicated name under the same path; the path opens the
  // first, so a second step with a path seen before (and what the walk lists below it after that)
  // is the shadowed folder's.
  std::set<std::string> visited;
  std::vector<std::string> shadowed;
  const auto below = [](const std::string& path, const std::string& folder) {
    return path == folder || (path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 && path[folder.size()] == '/');
  };
  for (const fat::WalkStep& step : steps) {
    if (!visited.insert(step.path).second) shadowed.push_back(step.path);
    if (std::any_of(shadowed.begin(), shadowed.end(), [&](const std::string& f) { return below(step.path, f); })) continue;
    if (!spellable_path(step.path) || !reachable.count(step.path)) continue;
    for (const fat::Entry& entry : step.entries) {
      if (!spellable(entry.name)) continue;
      const std::string path = child(step.path, entry.name);
      std::optional<fat::Entry> found;
      std::string why;
      try {
        found = volume.stat(path);
      } catch (const Error& e) {
        why = e.what();
      }
      if (!found) broken("every name a walk lists opens: '" + escape_bytes(path) + "': " + why);
      // A damaged folder may hold two entries of one name: the name then opens the first of them.
      const auto same = [&](const fat::Entry& e) {
        return e.first_cluster == found->first_cluster && e.attributes == found->attributes && e.size == found->size;
      };
      require(std::any_of(step.entries.begin(), step.entries.end(), same),
              "the name a walk lists opens that entry, or one of the same name");
      if (entry.is_dir()) {
        if (same(entry)) reachable.insert(path);
        continue;
      }
      attempt([&] { volume.read_file(path); });
      attempt([&] {
        fat::File file = volume.open_file(path, false, false, false);
        ByteVector middle(700);
        file.read(file.size() / 2, middle);
      });
    }
  }
  attempt([&] { volume.check(false); });
}

void repair_and_write(const std::shared_ptr<SectorOverlay>& disk) {
  {
    std::shared_ptr<fat::Volume> volume;
    if (!attempt([&] { volume = fat::Volume::open(disk); })) return;
    attempt([&] {
      volume->check(true);
      volume->flush();
    });
  }
  std::shared_ptr<fat::Volume> repaired;
  require(attempt([&] { repaired = fat::Volume::open(disk); }), "a volume that opened opens again after check(repair=True)");
  attempt([&] { repaired->check(false); });
  ByteVector text(3000);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = std::byte(i * 7);
  const bool wrote = attempt([&] {
    repaired->write_file("Fuzzed file with a long name.txt", text);
    repaired->mkdir("Fuzzed folder");
    repaired->flush();
  });
  repaired.reset();
  if (!wrote) return;
  std::shared_ptr<fat::Volume> again;
  require(attempt([&] { again = fat::Volume::open(disk); }), "a volume written after repair opens");
  ByteVector back;
  require(attempt([&] { back = again->read_file("FUZZED FILE WITH A LONG NAME.TXT"); }) && same_bytes(back, text),
          "a file written after repair reads back");
  require(attempt([&] { again->stat("fuzzed folder"); }), "a folder made after repair opens");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  SparseImage image = decode_sparse_image({reinterpret_cast<const std::byte*>(data), size}, 1);
  std::shared_ptr<SectorOverlay> disk = image.disks[0];
  const std::uint64_t writes = disk->writes();
  {
    std::shared_ptr<fat::Volume> volume;
    if (!attempt([&] { volume = fat::Volume::open(disk); })) return 0;
    read_everything(*volume);
  }
  require(disk->writes() == writes && disk->flushes() == 0, "reading and checking a FAT volume never write");
  repair_and_write(std::make_shared<SectorOverlay>(*disk));
  return 0;
}

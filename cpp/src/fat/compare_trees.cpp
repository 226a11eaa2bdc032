// Two FAT folders compared file by file (fat::compare_trees): the differences a copy that makes
// the target exact would have to change, which is what keeping a shadow disk's ESP equal to the
// primary's needs to know. Names are matched as Windows matches them, without regard to case.
#include <map>

#include <fmt/format.h>

#include "bootmirror/fat.h"
#include "bootmirror/unicode.h"
#include "bootmirror/units.h"
#include "core/xxh3.h"
#include "fat/dir_entry.h"
#include "fat/names.h"

namespace bootmirror::fat {

namespace {

// Each file and folder below `dir`, by its path with every name folded (names.h), in that order:
// both sides' keys agree exactly when Windows would take the paths for the same one.
struct Listed {
  std::string path;  // '/'-separated below `dir`, as the volume spells it
  Entry entry;
};
std::map<std::u16string, Listed> listing(Volume& volume, const std::string& dir) {
  std::map<std::u16string, Listed> out;
  const std::vector<WalkStep> steps = volume.walk(dir);
  const std::size_t prefix = steps.empty() || steps.front().path.empty() ? 0 : steps.front().path.size() + 1;
  for (const WalkStep& step : steps) {
    const std::string below = step.path.size() > prefix ? step.path.substr(prefix) : "";
    for (const Entry& e : step.entries) {
      if (e.attributes & attr::volume_label) continue;  // the root's label is the volume's, not a file
      Listed item{below.empty() ? e.name : below + "/" + e.name, e};
      out.emplace(fold(wtf8_to_utf16(item.path)), std::move(item));
    }
  }
  return out;
}

std::string content_hash(Volume& volume, const std::string& path) {
  const ByteVector bytes = volume.read_file(path);
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

// A modification time as the entry stores it (FAT's date and time, to two seconds).
std::string modified_text(const Entry& e) {
  const FatTime f = to_fat_time(e.modified);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", 1980 + (f.date >> 9), (f.date >> 5) & 0xF, f.date & 0x1F,
                     f.time >> 11, (f.time >> 5) & 0x3F, (f.time & 0x1F) * 2);
}

}  // namespace

std::vector<TreeDifference> compare_trees(Volume& source, const std::string& src_dir, Volume& target,
                                          const std::string& dst_dir) {
  const auto from = listing(source, src_dir), to = listing(target, dst_dir);
  const std::string src_root = src_dir.empty() ? "" : src_dir + "/", dst_root = dst_dir.empty() ? "" : dst_dir + "/";
  std::vector<TreeDifference> out;
  auto a = from.begin();
  auto b = to.begin();
  while (a != from.end() || b != to.end()) {
    if (b == to.end() || (a != from.end() && a->first < b->first)) {
      out.push_back({a->second.path, "only-in-source", a->second.entry.is_dir() ? "folder" : with_thousands(a->second.entry.size) + " bytes", ""});
      ++a;
      continue;
    }
    if (a == from.end() || b->first < a->first) {
      out.push_back({b->second.path, "only-in-target", "", b->second.entry.is_dir() ? "folder" : with_thousands(b->second.entry.size) + " bytes"});
      ++b;
      continue;
    }
    const Entry &x = a->second.entry, &y = b->second.entry;
    const std::string& path = a->second.path;
    if (x.is_dir() != y.is_dir()) {
      out.push_back({path, "kind", x.is_dir() ? "folder" : "file", y.is_dir() ? "folder" : "file"});
    } else {
      if (!x.is_dir()) {
        if (x.size != y.size)
          out.push_back({path, "size", with_thousands(x.size) + " bytes", with_thousands(y.size) + " bytes"});
        else if (const std::string hx = content_hash(source, src_root + path), hy = content_hash(target, dst_root + b->second.path); hx != hy)
          out.push_back({path, "content", hx, hy});
      }
      if (x.attributes != y.attributes)
        out.push_back({path, "attributes", fmt::format("{:#04x}", x.attributes), fmt::format("{:#04x}", y.attributes)});
      if (!x.is_dir() && x.modified.seconds != y.modified.seconds)
        out.push_back({path, "modified", modified_text(x), modified_text(y)});
    }
    ++a, ++b;
  }
  return out;
}

}  // namespace bootmirror::fat

// Two FAT folders compared file by file (fat::compare_trees), and the target made an exact copy of
// the source from those differences (fat::sync_tree): what keeping a shadow disk's ESP equal to
// the primary's needs. Names are matched as Windows matches them, without regard to case.
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

namespace {

std::string joined(const std::string& root, const std::string& path) { return root.empty() ? path : root + "/" + path; }

// A difference the source's file (or folder) is copied over, rather than its entry adjusted.
bool copies_source(const TreeDifference& d) {
  return d.change == "only-in-source" || d.change == "kind" || d.change == "size" || d.change == "content";
}

// A read-only file or folder can be neither replaced nor removed: its attribute goes first.
void clear_read_only(Volume& volume, const std::string& path) {
  if (volume.stat(path).attributes & attr::read_only) volume.set_attributes(path, volume.stat(path).attributes & ~attr::read_only);
}

// A file, or a folder with everything in it (its files, then its folders deepest first).
void remove_tree(Volume& volume, const std::string& path) {
  clear_read_only(volume, path);
  if (!volume.stat(path).is_dir()) {
    volume.remove(path);
    return;
  }
  std::vector<std::string> folders;
  for (const WalkStep& step : volume.walk(path)) {
    folders.push_back(step.path);
    for (const Entry& e : step.entries) {
      const std::string inner = step.path.empty() ? e.name : step.path + "/" + e.name;
      clear_read_only(volume, inner);
      if (!e.is_dir()) volume.remove(inner);
    }
  }
  for (auto it = folders.rbegin(); it != folders.rend(); ++it) volume.rmdir(*it);
}

// The source's file or folder at `from` made at `to` on the target, with its attributes and times.
void copy_entry(Volume& source, const std::string& from, Volume& target, const std::string& to, bool content) {
  const Entry e = source.stat(from);
  if (e.is_dir()) {
    if (!target.exists(to)) target.mkdir(to);
  } else if (content) {
    if (target.exists(to)) clear_read_only(target, to);
    target.write_file(to, source.read_file(from));
  }
  target.set_attributes(to, e.attributes);
  target.set_times(to, e.created, e.modified, e.accessed);
}

}  // namespace

std::vector<TreeDifference> sync_tree(Volume& source, const std::string& src_dir, Volume& target,
                                      const std::string& dst_dir, bool dry_run) {
  const std::vector<TreeDifference> differences = compare_trees(source, src_dir, target, dst_dir);
  if (dry_run || differences.empty()) return differences;
  // Everything that can refuse does so before the first write: each source file to be copied is
  // read once here, so a damaged one is a FormatError while the target is still untouched.
  for (const TreeDifference& d : differences)
    if (const std::string from = joined(src_dir, d.path); copies_source(d) && !source.stat(from).is_dir()) source.read_file(from);
  // What the source does not hold, or holds as the other kind, goes first (deepest first: a
  // folder's contents are listed after it), which also frees its clusters for what comes.
  for (auto it = differences.rbegin(); it != differences.rend(); ++it)
    if ((it->change == "only-in-target" || it->change == "kind") && target.exists(joined(dst_dir, it->path)))
      remove_tree(target, joined(dst_dir, it->path));
  // Then in path order, so that a folder is made before what goes in it. Each step is one of the
  // volume's own crash-safe writes: a sync cut short leaves every file as it was or as the
  // source's, and running it again finishes it.
  for (const TreeDifference& d : differences) {
    const std::string from = joined(src_dir, d.path), to = joined(dst_dir, d.path);
    // The source's file copied over, or (attributes, modified) its entry's values alone.
    if (d.change != "only-in-target") copy_entry(source, from, target, to, copies_source(d));
  }
  target.flush();
  return differences;
}

}  // namespace bootmirror::fat

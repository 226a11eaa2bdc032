// xcopy between volumes: a source folder's matching files, optionally recursing (/s), keeping
// empty folders (/e) and including hidden and system files (/h). Destination folders are made
// only when something lands in them unless /e asks for all of them, as xcopy does.
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {

bool match_here(std::u16string_view p, std::u16string_view n) {
  // Iterative '*' matching with backtracking to the last star.
  std::size_t pi = 0, ni = 0, star = std::u16string_view::npos, mark = 0;
  while (ni < n.size()) {
    if (pi < p.size() && (p[pi] == u'?' || upcase(p[pi]) == upcase(n[ni]))) {
      ++pi, ++ni;
    } else if (pi < p.size() && p[pi] == u'*') {
      star = pi++;
      mark = ni;
    } else if (star != std::u16string_view::npos) {
      pi = star + 1;
      ni = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && (p[pi] == u'*' || p[pi] == u'?' || p[pi] == u'.')) ++pi;
  return pi == p.size();
}

}  // namespace

bool wildcard_match(const std::string& pattern, const std::string& name) {
  if (pattern == "*" || pattern == "*.*") return true;
  std::u16string p = utf8_to_utf16(pattern), n = utf8_to_utf16(name);
  // "*.txt" style patterns also see a name without a dot as ending in one ("README" matches "*.").
  if (match_here(p, n)) return true;
  return n.find(u'.') == std::u16string::npos && match_here(p, n + u".");
}

std::uint64_t copy_tree(Volume& source, const std::string& src_dir, Volume& target, const std::string& dst_dir,
                        const CopyOptions& options, const std::function<void(const std::string&)>& on_copy) {
  Volume::Impl& s = source.impl();
  Volume::Impl& t = target.impl();
  auto source_lock = s.guard();
  std::unique_lock<std::recursive_mutex> target_lock;
  if (&s != &t) target_lock = t.guard();
  t.require_writable();
  Volume::Impl::FlushOnExit flush_on_exit{t};
  std::uint64_t copied = 0;
  ByteVector buffer;
  std::unordered_set<std::uint32_t> seen;
  const std::uint8_t skip = options.hidden ? 0 : (attr::hidden | attr::system);

  // rel: path below src_dir ('\'-separated); dst: the target folder's path parts.
  std::function<void(std::uint32_t, const std::string&, const std::vector<std::string>&)> visit =
      [&](std::uint32_t key, const std::string& rel, const std::vector<std::string>& dst) {
        if (!seen.insert(key).second) throw FormatError(fmt::format("FAT: a folder cycle at '{}'", rel));
        std::vector<DirNode> nodes;
        for (const auto& [slot, node] : s.directory(key).nodes()) nodes.push_back(node);
        Directory* out = nullptr;
        auto target_dir = [&]() -> Directory& {
          if (!out) {
            target.makedirs(join_path(dst));
            out = &t.folder(join_path(dst));
          }
          return *out;
        };
        if (options.empty_dirs) target_dir();
        for (const DirNode& node : nodes) {
          if (node.is_dir() || (node.entry.attributes & skip) || !wildcard_match(options.pattern, node.name())) continue;
          std::string path = rel.empty() ? node.name() : rel + "\\" + node.name();
          if (on_copy) on_copy(path);
          std::vector<Run> runs;
          if (node.entry.first_cluster) runs = s.fat->chain(node.entry.first_cluster, s.fat->limit());
          std::uint64_t have = 0;
          for (const Run& r : runs) have += r.count;
          if (have * s.geometry.cluster_size() < node.entry.size)
            throw FormatError(fmt::format("FAT: '{}' is {} bytes but its chain is shorter", path, node.entry.size));
          ShortEntry e = node.entry;
          // xcopy keeps the modification time and attributes, but clears read-only (no /k) and
          // sets archive; the copy is created now.
          e.attributes = std::uint8_t((e.attributes & ~attr::read_only) | attr::archive);
          e.stamp_created(IdentitySource::now());
          e.modified_date = node.entry.modified_date;
          e.modified_time = node.entry.modified_time;
          t.create_file(target_dir(), utf8_to_utf16(node.name()), node.entry.size,
                        [&](std::uint64_t offset, MutableByteSpan piece) { s.read_runs(runs, offset, piece); }, e,
                        buffer);
          ++copied;
        }
        if (!options.recurse) return;
        for (const DirNode& node : nodes) {
          if (!node.is_dir()) continue;
          if (node.entry.first_cluster == 0) throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.name()));
          std::vector<std::string> sub = dst;
          sub.push_back(node.name());
          visit(node.entry.first_cluster, rel.empty() ? node.name() : rel + "\\" + node.name(), sub);
        }
      };
  visit(s.folder(src_dir).first_cluster(), "", split_path(dst_dir));
  t.flush();
  return copied;
}

}  // namespace bootmirror::fat

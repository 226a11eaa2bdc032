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
  std::u16string p = wtf8_to_utf16(pattern), n = wtf8_to_utf16(name);
  // "*.txt" style patterns also see a name without a dot as ending in one ("README" matches "*.").
  if (match_here(p, n)) return true;
  return n.find(u'.') == std::u16string::npos && match_here(p, n + u".");
}

namespace {

// Both volumes' locks, taken together (std::lock) so that two threads copying in opposite
// directions cannot deadlock; UsageError if either volume was detached.
struct BothLocks {
  std::unique_lock<std::recursive_mutex> first, second;
  BothLocks(Volume::Impl& s, Volume::Impl& t) : first(s.mutex, std::defer_lock), second(t.mutex, std::defer_lock) {
    if (&s == &t) first.lock();
    else std::lock(first, second);
    s.guard();
    t.guard();
  }
};

// The folder a path names, if it exists; nullopt otherwise (or when a file is in the way).
std::optional<std::uint32_t> existing_folder(Volume::Impl& v, const std::vector<std::string>& parts) {
  std::uint32_t key = v.root_key();
  for (const std::string& part : parts) {
    DirNode* node = v.directory(key).find(wtf8_to_utf16(part));
    if (!node || !node->is_dir() || node->entry.first_cluster == 0) return std::nullopt;
    key = node->entry.first_cluster;
  }
  return key;
}

}  // namespace

std::uint64_t copy_tree(Volume& source, const std::string& src_dir, Volume& target, const std::string& dst_dir,
                        const CopyOptions& options, const std::function<void(const std::string&)>& on_copy,
                        const ProgressCallback& progress) {
  Volume::Impl& s = source.impl();
  Volume::Impl& t = target.impl();
  BothLocks locks(s, t);
  t.require_writable();
  Transaction change(t);
  const std::uint8_t skip = options.hidden ? 0 : (attr::hidden | attr::system);
  const std::uint32_t source_key = s.folder(src_dir).first_cluster();
  const std::vector<std::string> dst_parts = split_path(dst_dir);
  if (&s == &t) {
    // xcopy's own refusals: a folder copied into itself or below itself.
    std::vector<std::string> prefix;
    std::optional<std::uint32_t> at = existing_folder(t, prefix);
    bool below = at == source_key;
    for (const std::string& part : dst_parts) {
      prefix.push_back(part);
      at = existing_folder(t, prefix);
      if (!at) break;
      below = below || *at == source_key;
    }
    if (at == source_key) throw UsageError("File cannot be copied onto itself");
    if (below && options.recurse) throw UsageError("Cannot perform a cyclic copy");
  }

  // First pass: every target folder, entry and chain is made in memory, and every source chain is
  // checked, so that whatever refuses (a damaged source, a full target, a folder in the way)
  // refuses before anything is written. Second pass: the data.
  struct Copy {
    std::vector<Run> from;
    Volume::Impl::PlannedFile to;
  };
  std::vector<Copy> copies;
  std::unordered_set<std::uint32_t> seen;
  std::function<void(std::uint32_t, const std::string&, const std::vector<std::string>&)> visit =
      [&](std::uint32_t key, const std::string& rel, const std::vector<std::string>& dst) {
        if (!seen.insert(key).second)
          throw FormatError(fmt::format("FAT: a folder cycle at '{}'", wtf8_for_display(rel)),
                            key ? s.geometry.cluster_offset(key) : s.geometry.root_dir_offset());
        // Each level is a frame of this walk: a source deeper than any path (a tree on disk may
        // be) is refused before it can exhaust the stack, as its copy could not be named anyway.
        if (dst.size() > Volume::Impl::max_path_parts) throw OsError(ENAMETOOLONG, wtf8_for_display(rel), "copy");
        std::vector<DirNode> nodes;
        for (const auto& [slot, node] : s.directory(key).nodes()) nodes.push_back(node);
        std::optional<std::uint32_t> out;
        auto target_dir = [&]() -> Directory& {
          if (!out) out = t.make_dirs(join_path(dst), dst);
          return t.directory(*out);
        };
        if (options.empty_dirs) target_dir();
        for (const DirNode& node : nodes) {
          if (node.is_dir() || (node.entry.attributes & skip) || !wildcard_match(options.pattern, node.name())) continue;
          std::string path = rel.empty() ? node.name() : rel + "\\" + node.name();
          std::vector<Run> runs;
          if (node.entry.first_cluster) runs = s.fat->chain(node.entry.first_cluster, s.fat->limit());
          std::uint64_t have = 0;
          for (const Run& r : runs) have += r.count;
          if (have * s.geometry.cluster_size() < node.entry.size)
            throw FormatError(fmt::format("FAT: '{}' is {} bytes but its chain is shorter", wtf8_for_display(path),
                                          node.entry.size),
                              s.geometry.cluster_offset(node.entry.first_cluster));
          ShortEntry e = node.entry;
          // xcopy keeps the modification time and attributes, but clears read-only (no /k) and
          // sets archive; the copy is created now.
          e.attributes = std::uint8_t((e.attributes & ~attr::read_only) | attr::archive);
          e.stamp_created(IdentitySource::now());
          e.modified_date = node.entry.modified_date;
          e.modified_time = node.entry.modified_time;
          copies.push_back({std::move(runs), t.plan_file(target_dir(), node.wide_name(), node.entry.size, e)});
          if (on_copy) on_copy(path);
        }
        if (!options.recurse) return;
        for (const DirNode& node : nodes) {
          if (!node.is_dir()) continue;
          if (node.entry.first_cluster == 0)
            throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.shown()));
          std::vector<std::string> sub = dst;
          sub.push_back(node.name());
          visit(node.entry.first_cluster, rel.empty() ? node.name() : rel + "\\" + node.name(), sub);
        }
      };
  visit(source_key, "", dst_parts);
  ProgressMeter meter(progress, "the copy");
  std::uint64_t bytes = 0;
  for (const Copy& c : copies) bytes += c.to.size;
  meter.start(bytes);  // a stop from here on leaves the target as it was, as a failed read does
  AlignedBuffer buffer;
  Volume::Impl::SealedFolders sealed(t);  // every entry is made: new folders' clusters go with the data
  for (const Copy& c : copies)
    t.fill_file(c.to,
                [&](std::uint64_t offset, MutableByteSpan piece) {
                  s.read_runs(c.from, offset, piece);
                  meter.advance(piece.size());
                },
                buffer);
  t.flush();
  change.commit();
  meter.finish();
  return copies.size();
}

}  // namespace bootmirror::fat

// Checking a volume as `fsck.fat -n` does, and repairing what is safe to repair: every cluster
// is claimed by at most one chain, chains match file sizes, FAT copies agree, entries are sound.
#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {

constexpr std::uint32_t unowned = 0;

struct Checker {
  Volume::Impl& v;
  bool repair;
  CheckReport report;
  std::vector<std::uint32_t> owner;  // chain id per cluster, 0 when no chain claims it
  std::vector<std::string> owners{""};
  std::unordered_set<std::uint32_t> visited_dirs;

  void problem(std::string kind, std::string path, std::string message, bool repaired) {
    report.problems.push_back({std::move(kind), std::move(path), std::move(message), repaired && repair});
  }

  // Claims the chain from `first` for `path`; returns its length in clusters and the last good
  // cluster. Stops at the first cluster that is out of range, free, bad, or already claimed.
  struct Claim {
    std::uint32_t clusters = 0, last = 0;
    bool broken = false;
  };
  Claim claim(std::uint32_t first, const std::string& path) {
    Claim c;
    std::uint32_t id = std::uint32_t(owners.size());
    owners.push_back(path);
    std::uint32_t cl = first;
    while (true) {
      if (!v.fat->valid_cluster(cl)) {
        problem("bad-chain", path, fmt::format("{}: the chain reaches cluster {}, outside the volume", path, cl), true);
        c.broken = true;
        break;
      }
      if (owner[cl] != unowned) {
        bool self = owner[cl] == id;
        problem(self ? "cycle" : "cross-link", path,
                self ? fmt::format("{}: the cluster chain loops at cluster {}", path, cl)
                     : fmt::format("{}: cluster {} is also used by {}", path, cl, owners[owner[cl]]),
                true);
        c.broken = true;
        break;
      }
      owner[cl] = id;
      ++c.clusters;
      c.last = cl;
      std::uint32_t next = v.fat->get(cl);
      if (next == FatTable::end_of_chain) break;
      if (next == FatTable::free_entry || next == FatTable::bad_cluster) {
        problem("bad-chain", path,
                fmt::format("{}: the chain meets a {} cluster after cluster {}", path,
                            next == FatTable::free_entry ? "free" : "bad", cl),
                true);
        c.broken = true;
        break;
      }
      cl = next;
    }
    if (c.broken && repair && c.last) v.fat->set(c.last, FatTable::end_of_chain);
    return c;
  }

  void check_dir(std::uint32_t key, const std::string& path, std::uint32_t parent_key) {
    Directory* dir = nullptr;
    try {
      dir = &v.directory(key);
    } catch (const FormatError& e) {
      problem("bad-chain", path, fmt::format("{}: {}", path.empty() ? "\\" : path, e.what()), false);
      return;
    }
    ++report.directories;
    const bool is_root = key == v.root_key();
    for (const DirProblem& p : dir->problems()) {
      problem("bad-entry", path, fmt::format("{}: {}", path.empty() ? "\\" : path, p.message), p.erasable);
      if (repair && p.erasable) dir->erase_slots(p.first_slot, p.slot_count);
    }
    if (!is_root) {
      std::uint32_t expected_parent = parent_key == v.root_key() ? 0 : parent_key;
      if (dir->dot_cluster != key || dir->dotdot_cluster != expected_parent) {
        problem("bad-entry", path, fmt::format("{}: '.' or '..' is missing or points elsewhere", path), false);
      }
    }
    std::vector<std::pair<std::uint32_t, std::string>> subdirs;
    std::vector<std::uint32_t> drop;
    for (const auto& [slot, cnode] : dir->nodes()) {
      DirNode& node = const_cast<DirNode&>(cnode);
      std::string child = path.empty() ? node.name() : path + "\\" + node.name();
      std::uint32_t first = node.entry.first_cluster;
      if (node.is_dir()) {
        if (first == 0 || !v.fat->valid_cluster(first)) {
          problem("bad-entry", child, fmt::format("{}: folder starts at cluster {}, outside the volume", child, first), true);
          drop.push_back(slot);
          continue;
        }
        if (visited_dirs.count(first) || first == v.root_key()) {
          problem("directory-cycle", child, fmt::format("{}: folder cluster {} is already a folder elsewhere", child, first),
                  true);
          drop.push_back(slot);
          continue;
        }
        visited_dirs.insert(first);
        claim(first, child);
        subdirs.emplace_back(first, child);
        continue;
      }
      ++report.files;
      if (first == 0) {
        if (node.entry.size != 0) {
          problem("size-mismatch", child, fmt::format("{}: {} bytes but no clusters", child, node.entry.size), true);
          if (repair) {
            node.entry.size = 0;
            dir->store(node);
          }
        }
        continue;
      }
      if (!v.fat->valid_cluster(first)) {
        problem("bad-entry", child, fmt::format("{}: starts at cluster {}, outside the volume", child, first), true);
        if (repair) {
          node.entry.first_cluster = 0;
          node.entry.size = 0;
          dir->store(node);
        }
        continue;
      }
      Claim c = claim(first, child);
      std::uint64_t cs = v.geometry.cluster_size();
      std::uint32_t expected = v.clusters_for(node.entry.size);
      if (c.clusters > expected) {
        problem("size-mismatch", child,
                fmt::format("{}: file size is {} bytes, cluster chain length is {} bytes", child, node.entry.size,
                            std::uint64_t(c.clusters) * cs),
                true);
        if (repair) {
          if (expected == 0) {
            v.fat->free_chain(first);
            node.entry.first_cluster = 0;
            dir->store(node);
          } else {
            std::uint32_t cl = first;
            for (std::uint32_t i = 1; i < expected; ++i) cl = v.fat->get(cl);
            v.fat->truncate_after(cl);
          }
        }
      } else if (c.clusters < expected) {
        problem("size-mismatch", child,
                fmt::format("{}: file size is {} bytes, cluster chain length is {} bytes", child, node.entry.size,
                            std::uint64_t(c.clusters) * cs),
                true);
        if (repair) {
          node.entry.size = std::uint32_t(std::uint64_t(c.clusters) * cs);
          if (c.clusters == 0) node.entry.first_cluster = 0;  // its first cluster belongs to another file
          dir->store(node);
        }
      }
    }
    if (repair)
      for (std::uint32_t slot : drop) dir->remove(slot);
    for (const auto& [first, child] : subdirs) check_dir(first, child, key);
  }

  void check_fat_copies() {
    const Geometry& g = v.geometry;
    ByteVector copy0 = v.device->read(g.fat_offset(0), std::size_t(g.sectors_per_fat) * g.bytes_per_sector);
    for (std::uint32_t k = 1; k < g.fat_count; ++k) {
      ByteVector other = v.device->read(g.fat_offset(k), copy0.size());
      if (other != copy0) {
        problem("fat-copies-differ", "", fmt::format("FATs differ: copy {} is not the same as copy 1", k + 1), true);
        if (repair) v.fat->mark_all_dirty();
      }
    }
  }

  void run() {
    const Geometry& g = v.geometry;
    owner.assign(v.fat->limit(), unowned);
    report.cluster_count = g.cluster_count;
    check_fat_copies();
    std::uint32_t root = v.root_key();
    if (root) {
      visited_dirs.insert(root);
      claim(root, "\\");
    }
    check_dir(root, "", root);
    std::uint32_t lost = 0;
    for (std::uint32_t c = 2; c < v.fat->limit(); ++c) {
      std::uint32_t e = v.fat->get(c);
      if (e != FatTable::free_entry && e != FatTable::bad_cluster && owner[c] == unowned) {
        ++lost;
        if (repair) v.fat->set(c, FatTable::free_entry);
      }
      if (owner[c] != unowned) ++report.used_clusters;
    }
    if (lost)
      problem("lost-clusters", "", fmt::format("{} lost clusters ({} bytes) belong to no file", lost,
                                               std::uint64_t(lost) * g.cluster_size()),
              true);
    if (v.fsinfo_present && v.fsinfo.free_count != 0xFFFFFFFF && v.fsinfo.free_count != v.fat->free_count() &&
        !repair)
      problem("free-count", "",
              fmt::format("free cluster summary wrong ({} vs. really {})", v.fsinfo.free_count, v.fat->free_count()),
              true);
  }
};

}  // namespace

CheckReport Volume::check(bool repair) {
  auto lock = impl_->guard();
  if (repair && !impl_->device->writable())
    throw UsageError(fmt::format("{} is open read-only: cannot repair", impl_->device->name()));
  if (impl_->device->writable()) impl_->flush();
  // A fresh look at the disk: drop cached folders (check parses them again and sees their damage).
  impl_->directories.clear();
  impl_->fat = std::make_unique<FatTable>(*impl_->device, impl_->geometry);
  Checker checker{*impl_, repair, {}, {}, {""}, {}};
  checker.run();
  if (repair) {
    impl_->fsinfo.free_count = 0xFFFFFFFE;  // forces FSInfo to be rewritten
    impl_->fsinfo_stale = true;
    impl_->flush();
    impl_->device->flush();
  }
  return checker.report;
}

}  // namespace bootmirror::fat

// Checking a volume as `fsck.fat -n` does, and repairing what `fsck.fat -a` repairs: every cluster
// is claimed by at most one chain, chains match file sizes, FAT copies agree, entries are sound
// ('.' and '..' in place, names FAT allows and no two alike, folders without a size), and the
// label is valid and the same in the root folder and the boot sector.
//
// Differences from dosfstools, on purpose: lost clusters are freed, not saved as FSCKnnnn.REC
// files (what fsck.fat does without -f); a folder whose start cluster is invalid is removed at
// once (fsck.fat -a empties it and removes it on a second run); labels may hold OEM characters
// above 0x7F, as Windows' label command writes them (fsck.fat 4.2 refuses those).
#include <map>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {

constexpr std::uint32_t unowned = 0;

// fsck.fat's label rule, with OEM characters allowed: no control characters, no leading space,
// none of the characters 8.3 names forbid or that a label cannot hold.
bool valid_label(const ShortName& label) {
  if (label[0] == ' ') return false;
  for (std::size_t i = 0; i < label.size(); ++i) {
    auto b = static_cast<unsigned char>(label[i]);
    if (b < 0x20 && !(b == 0x05 && i == 0)) return false;
    if (std::string_view("*?<>|\"/\\:.+,;=[]").find(label[i]) != std::string_view::npos) return false;
  }
  return true;
}

struct Checker {
  Volume::Impl& v;
  bool repair;
  CheckReport report;
  std::vector<std::uint32_t> owner;  // chain id per cluster, 0 when no chain claims it
  std::vector<std::string> owners{""};
  std::unordered_set<std::uint32_t> visited_dirs;
  std::uint32_t fsck_names = 0;  // the next FSCKnnnn.nnn tried
  // Folders found and not checked yet. The walk keeps them here rather than on the call stack: a
  // tree on disk may be thousands of levels deep, and a recursive walk overflowed the stack on one.
  struct Folder {
    std::uint32_t key;
    std::string path;
    std::uint32_t parent_key;
    ShortEntry entry;
  };
  std::vector<Folder> pending;

  void problem(std::string kind, std::string path, std::string message, bool repaired) {
    report.problems.push_back({std::move(kind), std::move(path), std::move(message), repaired && repair});
  }
  void unrepaired(std::string kind, std::string path, std::string message, const char* why) {
    report.problems.push_back({std::move(kind), std::move(path), fmt::format("{} ({})", message, why), false});
  }
  static std::string shown(const std::string& path) { return path.empty() ? "\\" : wtf8_for_display(path); }

  // Claims the chain from `first` for `path`; returns its length in clusters and the last good
  // cluster. Stops at the first cluster that is out of range, free, bad, or already claimed, and
  // (repairing) ends the chain there, as fsck.fat does.
  struct Claim {
    std::uint32_t clusters = 0, last = 0;
    bool broken = false;
  };
  // Files by first cluster, to tell an entry left twice by an interrupted move from a cross-link.
  struct FileStart {
    ShortEntry entry;
    std::string path;
  };
  static bool same_but_name(const ShortEntry& a, const ShortEntry& b) {
    return a.attributes == b.attributes && a.created_tenths == b.created_tenths && a.created_time == b.created_time &&
           a.created_date == b.created_date && a.accessed_date == b.accessed_date && a.modified_time == b.modified_time &&
           a.modified_date == b.modified_date && a.first_cluster == b.first_cluster && a.size == b.size;
  }
  std::map<std::uint32_t, FileStart> file_starts;

  Claim claim(std::uint32_t first, const std::string& path) {
    Claim c;
    std::uint32_t id = std::uint32_t(owners.size());
    owners.push_back(path);
    std::uint32_t cl = first;
    const std::string name = shown(path);
    while (true) {
      if (!v.fat->valid_cluster(cl)) {
        problem("bad-chain", path, fmt::format("{}: the chain reaches cluster {}, outside the volume", name, cl), true);
        c.broken = true;
        break;
      }
      if (owner[cl] != unowned) {
        bool self = owner[cl] == id;
        problem(self ? "cycle" : "cross-link", path,
                self ? fmt::format("{}: the cluster chain loops at cluster {}", name, cl)
                     : fmt::format("{}: cluster {} is also used by {}", name, cl, shown(owners[owner[cl]])),
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
                fmt::format("{}: the chain meets a {} cluster after cluster {}", name,
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

  // "FSCK0000.000", "FSCK0000.001", ... as fsck.fat renames: the first not taken in `dir`.
  std::optional<ShortName> fsck_name(Directory& dir) {
    for (; fsck_names < 10000000; ++fsck_names) {
      std::string text = fmt::format("FSCK{:04}{:03}", fsck_names / 1000, fsck_names % 1000);
      ShortName n;
      std::copy(text.begin(), text.end(), n.begin());
      std::u16string shown = short_name_text(n, 0, *v.codepage);
      if (!dir.find(shown)) return n;
    }
    return std::nullopt;
  }

  void fix_entries(Directory& dir, const std::string& path) {
    for (const DirProblem& p : dir.problems()) {
      std::string message = fmt::format("{}: {}", shown(path), p.message);
      if (p.fix != DirProblem::Fix::rename) {
        problem(p.kind, path, message, true);
        if (!repair) continue;
        if (p.fix == DirProblem::Fix::erase) dir.erase_slots(p.first_slot, p.slot_count);
        else if (p.fix == DirProblem::Fix::zero_tail) dir.write_zero_tail(p.first_slot);
        else dir.clear_lfn_fields(p.first_slot);
        continue;
      }
      const char* kind = p.kind;
      std::uint32_t slot = p.first_slot;
      if (!repair || !dir.nodes().count(slot)) {
        problem(kind, path, message, true);
        continue;
      }
      std::optional<ShortName> name = fsck_name(dir);
      if (!name) {
        unrepaired(kind, path, message, "no FSCKnnnn.nnn name is left");
        continue;
      }
      // As fsck.fat: a new short name. A long name that collides with another entry's goes too,
      // so that each entry is known by a name of its own.
      const DirNode& node = dir.nodes().at(slot);
      if (!node.long_name.empty()) {
        DirNode* other = dir.find(node.long_name);
        if (other && other->slot != slot) dir.drop_long_name(slot);
      }
      dir.rename_short(slot, *name);
      problem(kind, path, fmt::format("{}; renamed {}", message, display_short_name(*name, 0, *v.codepage)), true);
    }
  }

  // '.' in slot 0 and '..' in slot 1 of every folder but the root, pointing at the folder and at
  // its parent (0 for the root), created or corrected as fsck.fat does.
  void fix_dots(Directory& dir, const std::string& path, std::uint32_t key, std::uint32_t parent_key,
                const ShortEntry& folder_entry) {
    const std::uint32_t expected_parent = parent_key == v.root_key() ? 0 : parent_key;
    for (int which = 0; which < 2; ++which) {
      const bool dotdot = which == 1;
      const std::uint32_t want = dotdot ? expected_parent : key;
      std::optional<std::uint32_t>& found = dotdot ? dir.dotdot_cluster : dir.dot_cluster;
      const char* name = dotdot ? ".." : ".";
      // Byte 12's 0x20 is dosfstools' FAT_NO_83NAME, which some mtools versions leave on dot
      // entries: fsck.fat clears it ("Is a dot with no 8.3 name flag set"), and so do we.
      constexpr std::uint8_t kNo83Name = 0x20;
      if (found && (dir.raw(std::uint32_t(which)).case_flags & kNo83Name)) {
        const std::string flagged = fmt::format("{}: '{}' has the no-8.3-name flag (0x20) set", shown(path), name);
        if (repair) {
          ShortEntry e = dir.raw(std::uint32_t(which));
          e.case_flags &= std::uint8_t(~kNo83Name);
          dir.store_raw(std::uint32_t(which), e);
        }
        problem("dot-entry", path, flagged, true);
      }
      if (found && *found == want) continue;
      std::string message = found ? fmt::format("{}: '{}' points to cluster {}, not {}", shown(path), name, *found, want)
                                  : fmt::format("{}: '{}' is missing from slot {}", shown(path), name, which);
      if (!repair) {
        problem("dot-entry", path, message, true);
        continue;
      }
      ShortEntry e;
      if (found) {
        e = dir.raw(std::uint32_t(which));
      } else {
        e = folder_entry;
        e.name.fill(' ');
        e.name[0] = '.';
        if (dotdot) e.name[1] = '.';
        e.case_flags = 0;
        e.size = 0;
      }
      e.attributes = attr::directory;
      e.first_cluster = want;
      if (found) {
        dir.store_raw(std::uint32_t(which), e);
        found = want;
        problem("dot-entry", path, message, true);
      } else if (dir.place_dot(std::uint32_t(which), e)) {
        problem("dot-entry", path, message, true);
      } else {
        unrepaired("dot-entry", path, message, "the entry in its slot cannot move: the folder is full and cannot grow");
      }
    }
  }

  void check_dir(std::uint32_t key, const std::string& path, std::uint32_t parent_key, const ShortEntry* folder_entry) {
    Directory* dir = nullptr;
    try {
      dir = &v.directory(key);
    } catch (const FormatError& e) {
      unrepaired("bad-chain", path, fmt::format("{}: {}", shown(path), e.what()), "the folder cannot be read");
      return;
    }
    ++report.directories;
    const bool is_root = key == v.root_key();
    fix_entries(*dir, path);
    if (!is_root) fix_dots(*dir, path, key, parent_key, *folder_entry);
    std::vector<std::pair<std::uint32_t, std::string>> subdirs;
    std::vector<ShortEntry> subdir_entries;
    std::vector<std::uint32_t> drop;
    std::vector<std::uint32_t> slots;
    for (const auto& [slot, node] : dir->nodes()) slots.push_back(slot);
    for (std::uint32_t slot : slots) {
      auto found = dir->nodes().find(slot);
      if (found == dir->nodes().end()) continue;
      DirNode& node = const_cast<DirNode&>(found->second);
      std::string child = path.empty() ? node.name() : path + "\\" + node.name();
      std::string name = shown(child);
      std::uint32_t first = node.entry.first_cluster;
      if (node.is_dir()) {
        if (first == 0 || !v.fat->valid_cluster(first)) {
          problem("bad-entry", child, fmt::format("{}: folder starts at cluster {}, outside the volume", name, first), true);
          drop.push_back(slot);
          continue;
        }
        if (visited_dirs.count(first) || first == v.root_key()) {
          problem("directory-cycle", child, fmt::format("{}: folder cluster {} is already a folder elsewhere", name, first),
                  true);
          drop.push_back(slot);
          continue;
        }
        if (node.entry.size != 0) {
          problem("bad-entry", child, fmt::format("{}: a folder with a size of {} bytes", name, node.entry.size), true);
          if (repair) {
            node.entry.size = 0;
            dir->store(node);
          }
        }
        visited_dirs.insert(first);
        claim(first, child);
        subdirs.emplace_back(first, child);
        subdir_entries.push_back(node.entry);
        continue;
      }
      ++report.files;
      if (first == 0) {
        if (node.entry.size != 0) {
          problem("size-mismatch", child, fmt::format("{}: {} bytes but no clusters", name, node.entry.size), true);
          if (repair) {
            node.entry.size = 0;
            dir->store(node);
          }
        }
        continue;
      }
      if (!v.fat->valid_cluster(first)) {
        problem("bad-entry", child, fmt::format("{}: starts at cluster {}, outside the volume", name, first), true);
        if (repair) {
          node.entry.first_cluster = 0;
          node.entry.size = 0;
          dir->store(node);
        }
        continue;
      }
      // A second entry for the same file, equal to the first in all but its name (a move keeps
      // the first cluster, size, attributes and every time, to the tenth of a second): what a crash
      // between the two steps of a move leaves (the new entry is written before the old one goes).
      // The first one found stays; the other entry goes, not the file's clusters. Two different
      // files that merely share clusters are a cross-link, handled as fsck.fat does below.
      if (auto twin = file_starts.find(first); twin != file_starts.end() && same_but_name(twin->second.entry, node.entry)) {
        problem("duplicate-entry", child,
                fmt::format("{}: the same file as {} (a move that did not finish)", name, shown(twin->second.path)), true);
        drop.push_back(slot);
        continue;
      }
      file_starts[first] = FileStart{node.entry, child};
      Claim c = claim(first, child);
      std::uint64_t cs = v.geometry.cluster_size();
      std::uint32_t expected = v.clusters_for(node.entry.size);
      if (c.clusters > expected) {
        problem("size-mismatch", child,
                fmt::format("{}: file size is {} bytes, cluster chain length is {} bytes", name, node.entry.size,
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
                fmt::format("{}: file size is {} bytes, cluster chain length is {} bytes", name, node.entry.size,
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
    // Checked next, in slot order (the first on top), each with its own subfolders before the
    // next: the order of a recursive walk.
    for (std::size_t i = subdirs.size(); i-- > 0;)
      pending.push_back(Folder{subdirs[i].first, std::move(subdirs[i].second), key, subdir_entries[i]});
  }

  void check_tree(std::uint32_t root) {
    check_dir(root, "", root, nullptr);
    while (!pending.empty()) {
      Folder f = std::move(pending.back());
      pending.pop_back();
      check_dir(f.key, f.path, f.parent_key, &f.entry);
    }
  }

  void check_fat_copies() {
    const Geometry& g = v.geometry;
    ByteVector copy0 = v.device->read(g.fat_offset(0), std::size_t(fat_sectors_in_use(g)) * g.bytes_per_sector);
    for (std::uint32_t k = 1; k < g.fat_count; ++k) {
      ByteVector other = v.device->read(g.fat_offset(k), copy0.size());
      if (other != copy0) {
        problem("fat-copies-differ", "", fmt::format("FATs differ: copy {} is not the same as copy 1", k + 1), true);
        if (repair) v.fat->mark_all_dirty();
      }
    }
  }

  // The label in the root folder is valid and the boot sector holds the same; as fsck.fat -a,
  // an invalid label is removed and the root folder's is copied to the boot sector.
  std::optional<std::string> boot_label;  // the new boot sector label field, when it must change
  std::optional<ByteVector> backup_from;   // the boot sector, to copy over a backup that differs
  void check_label() {
    Directory& root = v.directory(v.root_key());
    std::string boot = v.boot.has_extended ? v.boot.label : "NO NAME    ";
    boot.resize(11, '\0');
    std::optional<ShortName> in_root;
    if (auto slot = root.label_slot()) {
      ShortName name = root.raw(*slot).name;
      if (!valid_label(name)) {
        problem("label", "", fmt::format("volume label '{}' in the root folder is not valid; removed",
                                         escape_bytes(std::string(name.begin(), name.end()))),
                true);
        if (repair) root.erase_slots(*slot, 1);
      } else {
        in_root = name;
      }
    }
    if (!v.boot.has_extended) return;  // no label field in the boot sector
    std::string want = in_root ? std::string(in_root->begin(), in_root->end()) : "NO NAME    ";
    if (boot == want) return;
    problem("label", "",
            in_root ? fmt::format("the boot sector's label '{}' differs from the root folder's '{}'; copied",
                                  escape_bytes(boot), escape_bytes(want))
                    : fmt::format("the boot sector's label is '{}' but the root folder has none; removed",
                                  escape_bytes(boot)),
            true);
    if (repair) boot_label = want;
  }

  void write_boot_label() {
    if (!boot_label) return;
    const Geometry& g = v.geometry;
    std::size_t first = std::max<std::size_t>(512, g.bytes_per_sector);
    ByteVector sector = v.device->read(0, first);
    store_ascii(sector, g.type == FatType::fat32 ? 71 : 43, 11, *boot_label);
    v.device->write(0, sector);
    if (auto backup = backup_boot_offset(v.boot, g)) v.device->write(*backup, sector);
    v.boot.label = *boot_label;
  }

  // FAT32's backup boot sector (fatgen103: at BPB_BkBootSec) holds the boot sector's bytes; a crash
  // between the two writes of a label change leaves them different (fsck.fat: "mostly harmless").
  // A label repair rewrites both; otherwise the backup is made the boot sector's copy again.
  void check_backup_boot() {
    auto backup = backup_boot_offset(v.boot, v.geometry);
    if (!backup || boot_label) return;
    const std::size_t first = std::max<std::size_t>(512, v.geometry.bytes_per_sector);
    ByteVector primary = v.device->read(0, first), copy = v.device->read(*backup, first);
    if (primary == copy) return;
    problem("boot-backup", "", "the backup boot sector differs from the boot sector; copied from it", true);
    if (repair) backup_from = std::move(primary);
  }

  void write_backup_boot() {
    if (!backup_from) return;
    if (auto backup = backup_boot_offset(v.boot, v.geometry)) v.device->write(*backup, *backup_from);
  }

  void run() {
    const Geometry& g = v.geometry;
    owner.assign(v.fat->limit(), unowned);
    report.cluster_count = g.cluster_count;
    check_fat_copies();
    std::uint32_t root = v.root_key();
    if (root) {
      visited_dirs.insert(root);
      claim(root, "");
    }
    check_tree(root);
    check_label();
    check_backup_boot();
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
      problem("lost-clusters", "", fmt::format("{} lost clusters ({} bytes) belong to no file; freed", lost,
                                               std::uint64_t(lost) * g.cluster_size()),
              true);
  }
};

}  // namespace

CheckReport Volume::check(bool repair) {
  auto lock = impl_->guard();
  if (repair && !impl_->device->writable())
    throw UsageError(fmt::format("{} is open read-only: cannot repair", impl_->device->name()));
  Impl& v = *impl_;
  if (v.device->writable()) v.flush();  // what open files changed, so the check sees it
  // A fresh look at the disk: drop cached folders (check parses them again and sees their damage).
  v.reload();
  const std::uint32_t free_before = v.fat->free_count();
  Checker checker{v, repair, {}, {}, {""}, {}};
  try {
    checker.run();
    // fsck.fat checks FSInfo's free count against the FAT as found.
    if (v.fsinfo_present && v.fsinfo.free_count != 0xFFFFFFFF && v.fsinfo.free_count != free_before)
      checker.problem("free-count", "",
                      fmt::format("free cluster summary wrong ({} vs. really {})", v.fsinfo.free_count, free_before),
                      true);
    if (repair) {
      // Only what was repaired is written: a check that repaired nothing leaves the disk alone.
      bool wrote = v.dirty() || checker.boot_label.has_value() || checker.backup_from.has_value();
      checker.write_boot_label();
      checker.write_backup_boot();
      if (v.fsinfo_present && v.fsinfo.free_count != v.fat->free_count()) {
        v.fsinfo_due = true;  // the count after the repairs
        wrote = true;
      }
      v.flush();
      if (wrote) v.device->flush();
    }
  } catch (...) {
    v.reload();  // whatever the checker changed in memory is dropped
    throw;
  }
  return checker.report;
}

}  // namespace bootmirror::fat

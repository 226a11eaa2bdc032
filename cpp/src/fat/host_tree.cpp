// Bulk copies between a host folder and a volume, done in C++ so that ten thousand small files
// cost ten thousand entries and runs, not ten thousand round trips through Python.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "bootmirror/host_files.h"
#include "core/handoff.h"
#include "core/host_writers.h"
#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {


// A name from the image made safe as one host path component: no separators, no "." or "..",
// no drive letters or control characters, no DOS device names, and lone surrogates as U+FFFD
// (host names are valid UTF-8). `wide` and `out` get its UTF-16 and UTF-8 forms; the caller keeps
// them from one name to the next, so that a folder's names cost no allocation.
void host_safe(std::u16string_view name, std::u16string& wide, std::string& out) {
  auto high = [](char16_t c) { return c >= 0xD800 && c < 0xDC00; };
  auto low = [](char16_t c) { return c >= 0xDC00 && c < 0xE000; };
  wide.clear();
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char16_t c = name[i];
    if (high(c) && i + 1 < name.size() && low(name[i + 1])) {
      wide.push_back(c);
      wide.push_back(name[++i]);
    } else {
      wide.push_back(high(c) || low(c) ? u'\uFFFD' : c < 0x20 || c == u'/' || c == u'\\' || c == u':' ? u'_' : c);
    }
  }
  while (!wide.empty() && (wide.back() == u'.' || wide.back() == u' ')) wide.pop_back();
  if (wide.empty()) wide.assign(1, u'_');
  try {
    check_long_name(wide);
  } catch (const UsageError&) {
    wide.insert(wide.begin(), u'_');
  }
  out.clear();
  append_utf16_as_utf8(out, wide);
}

}  // namespace

namespace {

// One host folder's entries, sorted by name so that images come out the same every time.
struct HostItem {
  std::string name;
  bool directory = false;
  bool regular = false;
};

std::vector<HostItem> read_folder(int dir_fd, const std::string& shown) {
  int fd = ::dup(dir_fd);
  if (fd < 0) throw OsError(errno, shown, "open folder");
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    throw OsError(errno, shown, "open folder");
  }
  std::vector<HostItem> items;
  errno = 0;
  while (dirent* d = ::readdir(dir)) {
    std::string name = d->d_name;
    if (name == "." || name == "..") continue;
    HostItem item{name, d->d_type == DT_DIR, d->d_type == DT_REG};
    if (d->d_type == DT_UNKNOWN || d->d_type == DT_LNK) {
      // Symbolic links to files are read through; links to folders are not followed (no loops).
      struct stat st {};
      if (::fstatat(dir_fd, d->d_name, &st, 0) == 0) {
        item.regular = S_ISREG(st.st_mode);
        item.directory = d->d_type == DT_UNKNOWN && S_ISDIR(st.st_mode);
      }
    }
    items.push_back(std::move(item));
  }
  ::closedir(dir);
  std::sort(items.begin(), items.end(), [](const HostItem& a, const HostItem& b) { return a.name < b.name; });
  return items;
}

// Walks a host folder depth first, each folder's entries in sorted order, every path opened
// relative to its folder's descriptor (folders with O_NOFOLLOW). `list(dir_fd, shown)` gives a
// folder's entries (read_folder, or what an earlier walk of the same tree read, in the order it
// read them). `on_folder(key, name, shown)` returns the volume folder a host folder maps to;
// `on_file(dir_fd, key, name, folder_shown)` sees each regular file (symbolic links to files
// included), with its folder's path for messages (a file's own is made only when one is needed).
template <typename List, typename OnFolder, typename OnFile>
void walk_host(Fd root, const std::string& root_shown, std::uint32_t root_key, List list, OnFolder on_folder,
               OnFile on_file) {
  struct Pending {
    Fd fd;
    std::string shown;
    std::uint32_t key;
  };
  std::vector<Pending> stack;
  stack.push_back({std::move(root), root_shown, root_key});
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    for (const HostItem& item : list(p.fd.get(), p.shown)) {
      if (item.directory) {
        std::string shown = p.shown + "/" + item.name;
        Fd sub(::openat(p.fd.get(), item.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() < 0) throw OsError(errno, shown, "open folder");
        std::uint32_t key = on_folder(p.key, item.name, shown);
        stack.push_back({std::move(sub), std::move(shown), key});
      } else if (item.regular) {
        on_file(p.fd.get(), p.key, item.name, p.shown);
      }
    }
  }
}

// The bytes of the files in folder `key` and below it, what an export's progress counts toward:
// a walk of the folders alone. A folder met twice is the cycle the export itself refuses.
std::uint64_t tree_bytes(Volume::Impl& v, std::uint32_t key) {
  std::uint64_t bytes = 0;
  std::vector<std::uint32_t> pending{key};
  std::unordered_set<std::uint32_t> seen;
  while (!pending.empty()) {
    key = pending.back();
    pending.pop_back();
    if (!seen.insert(key).second) throw FormatError(fmt::format("FAT: a folder cycle at cluster {}", key));
    for (const auto& [slot, node] : v.directory(key).nodes()) {
      if (!node.is_dir()) bytes += node.entry.size;
      else if (node.entry.first_cluster) pending.push_back(node.entry.first_cluster);
    }
  }
  return bytes;
}

Fd open_folder(const std::string& host_dir) {
  Fd root(::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw OsError(errno, host_dir, "import");
  return root;
}

// The host side of an import's first pass, on a worker thread: it walks the host folder (listing
// and sorting each folder, a stat of each file) and hands what it found over folder by folder,
// while the importing thread plans entries and chains from it. The walk is kernel work and the
// planning user work, so on two cores they overlap instead of adding up (10,000 files: about
// 25 ms of each). Folders are numbered in the order the walk meets them, the top folder 0.
class HostWalkAhead {
 public:
  struct Item {
    std::uint32_t folder;  // where it is
    bool directory;        // a folder (numbered next), else a regular file
    std::string name;
    std::string shown;   // a folder's path, for messages
    std::uint64_t size;  // a file's
  };

  HostWalkAhead(const std::string& host_dir, std::vector<std::vector<HostItem>>& listings)
      : worker_([this, host_dir, &listings] { walk(host_dir, listings); }) {}
  // An import that failed while planning stops the walk; either way it ends before this does.
  ~HostWalkAhead() {
    items_.stop();
    worker_.join();
  }
  HostWalkAhead(const HostWalkAhead&) = delete;
  HostWalkAhead& operator=(const HostWalkAhead&) = delete;

  // The next folder's items, in walk order; false once the walk has ended. A walk that failed
  // throws its error here, after every item met before it.
  bool next(std::vector<Item>& out) { return items_.take(out); }

 private:
  struct Stopped {};

  void walk(const std::string& host_dir, std::vector<std::vector<HostItem>>& listings) {
    std::vector<Item> batch;
    std::uint32_t folders = 1;
    auto hand_over = [&] {
      if (!items_.put(batch)) throw Stopped{};
    };
    try {
      walk_host(open_folder(host_dir), host_dir, 0,
                [&](int dir_fd, const std::string& shown) -> const std::vector<HostItem>& {
                  hand_over();
                  listings.push_back(read_folder(dir_fd, shown));
                  return listings.back();
                },
                [&](std::uint32_t folder, const std::string& name, const std::string& shown) {
                  batch.push_back({folder, true, name, shown, 0});
                  return folders++;
                },
                [&](int dir_fd, std::uint32_t folder, const std::string& name, const std::string& shown) {
                  struct stat st {};
                  if (::fstatat(dir_fd, name.c_str(), &st, 0) != 0) throw OsError(errno, shown + "/" + name, "stat");
                  batch.push_back({folder, false, name, {}, std::uint64_t(st.st_size)});
                });
      hand_over();
      items_.close();
    } catch (const Stopped&) {
      items_.close();
    } catch (...) {
      items_.put(batch);  // what came before the error
      items_.close(std::current_exception());
    }
  }

  Handoff<Item> items_;
  std::thread worker_;  // last: starts once the rest is made
};

}  // namespace

CopyStats Volume::import_tree(const std::string& host_dir, const std::string& dest, const ProgressCallback& progress) {
  auto lock = impl_->guard();
  Impl& v = *impl_;
  v.require_writable();
  Transaction change(v);
  CopyStats stats;
  // Two passes over the host folder. The first makes every folder, entry and chain in memory and
  // so meets every refusal (a name FAT cannot hold, a file over 4 GiB, a folder in the way, a
  // full volume) before anything is written; the second copies the data. A host file that fails
  // to read in the second pass leaves the file system as it was (only free clusters were written).
  const std::uint32_t dest_key = v.make_dirs(dest, split_path(dest));
  std::vector<Impl::PlannedFile> planned;
  // The entries (folder key, slot) this import has taken. FAT ignores case: two host names that
  // differ only in it ("Readme.txt", "README.TXT") find one entry, and the second would replace
  // the first file or merge into the first folder, so it is refused in the first pass.
  std::set<std::pair<std::uint32_t, std::uint32_t>> taken;
  auto take = [&](std::uint32_t key, std::u16string_view wide, const std::string& shown) {
    if (const DirNode* node = v.directory(key).find(wide); node && taken.count({key, node->slot}))
      throw OsError(EEXIST, shown, fmt::format("import (FAT ignores case: another host name of the import is '{}')", node->shown()));
  };
  auto folder_key = [&](std::uint32_t key, const std::string& name, const std::string& shown, bool create) {
    Directory& dir = v.directory(key);
    std::u16string wide = utf8_to_utf16(name);
    if (create) take(key, wide, shown);
    if (DirNode* existing = dir.find(wide)) {
      if (!existing->is_dir()) throw OsError(EEXIST, shown, "import folder over a file");
      if (existing->entry.first_cluster == 0)
        throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", existing->shown()));
      if (create) taken.insert({key, existing->slot});
      return existing->entry.first_cluster;
    }
    if (!create) throw OsError(ENOENT, shown, "import: the host folder changed while importing");
    ++stats.directories;
    const std::uint32_t made = v.mkdir_in(dir, wide);
    taken.insert({key, dir.find(wide)->slot});
    return made;
  };
  // The second pass walks the folders the first one read, without reading them again (a folder
  // listing cost four system calls and a sort; a file removed since fails to open).
  std::vector<std::vector<HostItem>> listings;
  {
    HostWalkAhead walk(host_dir, listings);
    std::vector<std::uint32_t> keys{dest_key};  // by the walk's folder number
    std::vector<std::string> shown{host_dir};
    std::vector<HostWalkAhead::Item> items;
    while (walk.next(items)) {
      for (HostWalkAhead::Item& item : items) {
        if (item.directory) {
          keys.push_back(folder_key(keys.at(item.folder), item.name, item.shown, true));
          shown.push_back(std::move(item.shown));
          continue;
        }
        if (item.size > 0xFFFFFFFFull)
          throw OsError(EFBIG, shown.at(item.folder) + "/" + item.name, "import (FAT files end at 4 GiB)");
        ShortEntry e;
        e.attributes = attr::archive;
        Timestamp now = IdentitySource::now();
        e.stamp_created(now);
        e.stamp_modified(now);
        const std::u16string wide = utf8_to_utf16(item.name);
        take(keys.at(item.folder), wide, shown.at(item.folder) + "/" + item.name);
        planned.push_back(v.plan_file(v.directory(keys.at(item.folder)), wide, item.size, e));
        taken.insert({planned.back().dir, planned.back().slot});
        ++stats.files;
        stats.bytes += item.size;
      }
    }
  }
  ProgressMeter meter(progress, fmt::format("the import of {}", host_dir));
  meter.start(stats.bytes);  // a stop from here on fails the import like a host file that fails to read
  std::size_t next = 0, listed = 0;
  AlignedBuffer buffer;
  Impl::SealedFolders sealed(v);  // every entry is made: new folders' clusters go with the data
  Impl::WritingBehind behind(v);  // reading host files and writing the image overlap
  walk_host(open_folder(host_dir), host_dir, dest_key,
            [&](int, const std::string&) -> const std::vector<HostItem>& { return listings.at(listed++); },
            [&](std::uint32_t key, const std::string& name, const std::string& shown) {
              return folder_key(key, name, shown, false);
            },
            [&](int dir_fd, std::uint32_t key, const std::string& name, const std::string& folder) {
              const std::string shown = folder + "/" + name;
              // The same listings in the same order: the same files (a removed one fails to open).
              if (next >= planned.size() || planned[next].dir != key)
                throw OsError(EAGAIN, shown, "import: the host folder changed while importing");
              const Impl::PlannedFile& file = planned[next++];
              Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC));
              if (fd.get() < 0) throw OsError(errno, shown, "open");
              v.fill_file(file,
                          [&](std::uint64_t offset, MutableByteSpan out) {
                            read_fully(fd.get(), offset, out, shown);
                            meter.advance(out.size());
                          },
                          buffer);
            });
  if (next != planned.size()) throw OsError(EAGAIN, host_dir, "import: the host folder changed while importing");
  v.flush();
  change.commit();
  meter.finish();
  return stats;
}

CopyStats Volume::export_tree(const std::string& src, const std::string& host_dir, const ProgressCallback& progress) {
  auto lock = impl_->guard();
  Impl& v = *impl_;
  CopyStats stats;
  Fd root = open_export_root(host_dir);
  struct Pending {
    std::uint32_t key;
    std::shared_ptr<const HostFolder> folder;  // shared with the small files queued in it
  };
  std::vector<Pending> stack;
  std::unordered_set<std::uint32_t> seen;
  Directory& start = v.folder(src);
  ProgressMeter meter(progress, fmt::format("the export of {}", src.empty() ? "\\" : src));
  if (progress) meter.start(tree_bytes(v, start.first_cluster()));  // a walk of the folders alone
  stack.push_back({start.first_cluster(), std::make_shared<const HostFolder>(HostFolder{std::move(root), host_dir})});
  // This thread walks the folders and reads every file's bytes (it alone touches the volume);
  // small files are created and written by the workers, large ones here as they are read.
  HostWriters writers;
  std::uint64_t counted = 0;  // of the workers' bytes, those the meter has
  auto count_written = [&] {
    const std::uint64_t written = writers.written();
    meter.advance(written - counted);
    counted = written;
  };
  AlignedBuffer buffer;
  bool in_kernel = true;
  std::u16string wide;  // a host name, as UTF-16 (to compare) and UTF-8
  std::string name;
  try {
    while (!stack.empty()) {
      Pending p = std::move(stack.back());
      stack.pop_back();
      if (!seen.insert(p.key).second)
        throw FormatError(fmt::format("FAT: a folder cycle at cluster {} (exporting {})", p.key, p.folder->shown));
      // Read in place: parsing the folders below it later leaves this one's entries as they are.
      const std::map<std::uint32_t, DirNode>& nodes = v.directory(p.key).nodes();
      // Host names in this folder, compared case-insensitively.
      std::unordered_set<std::u16string, FoldedHash, FoldedEqual> used;
      used.reserve(nodes.size());
      for (const auto& [slot, node] : nodes) {
        host_safe(node.wide_name(), wide, name);
        if (!used.insert(wide).second) {
          const std::string base = name;
          for (int n = 2; !used.insert(wide).second; ++n) {
            name = fmt::format("{}~{}", base, n);
            wide = utf8_to_utf16(name);
          }
        }
        if (node.is_dir()) {
          if (node.entry.first_cluster == 0)
            throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.shown()));
          ++stats.directories;
          std::string shown = p.folder->shown + "/" + name;
          Fd folder = make_host_folder(p.folder->fd.get(), name, shown);
          stack.push_back({node.entry.first_cluster, std::make_shared<const HostFolder>(HostFolder{std::move(folder), std::move(shown)})});
          continue;
        }
        std::vector<Run> runs;
        if (node.entry.first_cluster) runs = v.fat->chain(node.entry.first_cluster, v.fat->limit());
        std::uint64_t have = 0;
        for (const Run& r : runs) have += r.count;
        if (have * v.geometry.cluster_size() < node.entry.size)
          throw FormatError(fmt::format("FAT: '{}' is {} bytes but its chain is shorter", node.shown(), node.entry.size),
                            v.geometry.cluster_offset(node.entry.first_cluster));
        const std::uint64_t size = node.entry.size;
        if (size <= HostWriters::kMaxFileBytes) {
          writers.write(p.folder, name, std::size_t(size), [&](MutableByteSpan out) { v.read_runs(runs, 0, out); });
          count_written();
        } else {
          const std::string shown = p.folder->shown + "/" + name;
          Fd out = create_host_file(p.folder->fd.get(), name, shown);
          v.copy_runs_to_host(runs, size, out.get(), shown, buffer, in_kernel);
          meter.advance(size);
        }
        ++stats.files;
        stats.bytes += size;
      }
    }
  } catch (const bootmirror::Stopped&) {
    throw;  // the caller asked to stop: files not yet begun are dropped (~HostWriters)
  } catch (...) {
    // A damaged folder or chain, or a host folder that could not be made: the files queued before
    // it are still written, as a copy on one thread would have left them, and a host file that
    // failed among them, which comes first in tree order, is the error reported.
    writers.finish();
    throw;
  }
  writers.finish();
  count_written();
  meter.finish();
  return stats;
}

}  // namespace bootmirror::fat

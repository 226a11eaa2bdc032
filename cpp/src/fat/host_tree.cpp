// Bulk copies between a host folder and a volume, done in C++ so that ten thousand small files
// cost ten thousand entries and runs, not ten thousand round trips through Python.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "fat/volume_impl.h"

namespace bootmirror::fat {

namespace {

namespace fs = std::filesystem;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr std::size_t chunk = 8 << 20;  // export's read size

// A name from the image made safe as one host path component: no separators, no "." or "..",
// no drive letters or control characters, no DOS device names.
std::string host_safe(const std::string& name) {
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || c == '/' || c == '\\' || c == ':' ? '_' : c);
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  if (out.empty()) out.assign(1, '_');
  try {
    check_long_name(utf8_to_utf16(out));
  } catch (const UsageError&) {
    out.insert(out.begin(), '_');
  }
  return out;
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

void read_fully(int fd, std::uint64_t offset, MutableByteSpan out, const std::string& shown) {
  for (std::size_t got = 0; got < out.size();) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw OsError(errno, shown, "read");
    if (n == 0) throw OsError(EIO, shown, "read: the file shrank while importing");
    got += std::size_t(n);
  }
}

}  // namespace

ImportStats Volume::import_tree(const std::string& host_dir, const std::string& dest) {
  auto lock = impl_->guard();
  Impl& v = *impl_;
  v.require_writable();
  ImportStats stats;
  Fd root(::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw OsError(errno, host_dir, "import");
  makedirs(dest);
  Impl::FlushOnExit flush_on_exit{v};
  ByteVector buffer;
  // A small file is read whole with one pread into `head` (a short read means the end of a
  // regular file), so it costs openat, pread and close: no stat, no path walk from the root.
  ByteVector head(64 << 10);
  struct Pending {
    Fd fd;
    std::string shown;
    std::uint32_t key;
  };
  std::vector<Pending> stack;
  stack.push_back({std::move(root), host_dir, v.folder(dest).first_cluster()});
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    for (const HostItem& item : read_folder(p.fd.get(), p.shown)) {
      std::string shown = p.shown + "/" + item.name;
      std::u16string name = utf8_to_utf16(item.name);
      Directory& dir = v.directory(p.key);
      if (item.directory) {
        Fd sub(::openat(p.fd.get(), item.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() < 0) throw OsError(errno, shown, "open folder");
        DirNode* existing = dir.find(name);
        std::uint32_t key;
        if (existing) {
          if (!existing->is_dir()) throw OsError(EEXIST, shown, "import folder over a file");
          key = existing->entry.first_cluster;
        } else {
          key = v.mkdir_in(dir, name);
          ++stats.directories;
        }
        stack.push_back({std::move(sub), shown, key});
        continue;
      }
      if (!item.regular) continue;
      Fd fd(::openat(p.fd.get(), item.name.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) throw OsError(errno, shown, "open");
      ssize_t first = 0;
      do first = ::pread(fd.get(), head.data(), head.size(), 0);
      while (first < 0 && errno == EINTR);
      if (first < 0) throw OsError(errno, shown, "read");
      std::uint64_t size = std::uint64_t(first);
      if (size == head.size()) {
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw OsError(errno, shown, "stat");
        size = std::uint64_t(st.st_size);
        if (size > 0xFFFFFFFFull) throw OsError(EFBIG, shown, "import (FAT files end at 4 GiB)");
      }
      ShortEntry e;
      e.attributes = attr::archive;
      Timestamp now = IdentitySource::now();
      e.stamp_created(now);
      e.stamp_modified(now);
      const std::uint64_t in_head = std::uint64_t(first);
      v.create_file(dir, name, size, [&](std::uint64_t offset, MutableByteSpan out) {
        std::size_t n = 0;
        if (offset < in_head) {
          n = std::size_t(std::min<std::uint64_t>(out.size(), in_head - offset));
          std::memcpy(out.data(), head.data() + offset, n);
        }
        if (n < out.size()) read_fully(fd.get(), offset + n, out.subspan(n), shown);
      }, e, buffer);
      ++stats.files;
      stats.bytes += size;
    }
  }
  v.flush();  // here too, so that a failing flush is reported
  return stats;
}

ImportStats Volume::export_tree(const std::string& src, const std::string& host_dir) {
  auto lock = impl_->guard();
  Impl& v = *impl_;
  ImportStats stats;
  std::error_code ec;
  fs::create_directories(host_dir, ec);
  Fd root(::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw OsError(errno, host_dir, "open export folder");
  // Every host path is opened relative to a folder descriptor with O_NOFOLLOW: a symlink planted
  // in the target cannot redirect a write outside it.
  struct Pending {
    std::uint32_t key;
    Fd fd;
    std::string shown;
  };
  std::vector<Pending> stack;
  std::unordered_set<std::uint32_t> seen;
  Directory& start = v.folder(src);
  stack.push_back({start.first_cluster(), Fd(::dup(root.get())), host_dir});
  ByteVector buffer;
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(p.key).second)
      throw FormatError(fmt::format("FAT: a folder cycle at cluster {} (exporting {})", p.key, p.shown));
    std::vector<DirNode> nodes;
    for (const auto& [slot, node] : v.directory(p.key).nodes()) nodes.push_back(node);
    std::unordered_set<std::u16string> used;  // host names in this folder, compared case-insensitively
    for (const DirNode& node : nodes) {
      std::string base = host_safe(node.name());
      std::string name = base;
      for (int n = 2; !used.insert(fold(utf8_to_utf16(name))).second; ++n) name = fmt::format("{}~{}", base, n);
      std::string shown = p.shown + "/" + name;
      if (node.is_dir()) {
        if (node.entry.first_cluster == 0) throw FormatError(fmt::format("FAT: folder '{}' has no first cluster", node.name()));
        if (::mkdirat(p.fd.get(), name.c_str(), 0777) != 0 && errno != EEXIST) throw OsError(errno, shown, "mkdir");
        Fd sub(::openat(p.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() < 0) throw OsError(errno, shown, "open folder");
        ++stats.directories;
        stack.push_back({node.entry.first_cluster, std::move(sub), shown});
        continue;
      }
      std::vector<Run> runs;
      if (node.entry.first_cluster) runs = v.fat->chain(node.entry.first_cluster, v.fat->limit());
      std::uint64_t have = 0;
      for (const Run& r : runs) have += r.count;
      if (have * v.geometry.cluster_size() < node.entry.size)
        throw FormatError(fmt::format("FAT: '{}' is {} bytes but its chain is shorter", node.name(), node.entry.size));
      Fd out(::openat(p.fd.get(), name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666));
      if (out.get() < 0) throw OsError(errno, shown, "create");
      std::uint64_t size = node.entry.size, done = 0;
      buffer.resize(std::min<std::uint64_t>(std::max<std::uint64_t>(size, 1), chunk));
      while (done < size) {
        std::size_t n = std::size_t(std::min<std::uint64_t>(buffer.size(), size - done));
        v.read_runs(runs, done, MutableByteSpan(buffer.data(), n));
        for (std::size_t w = 0; w < n;) {
          ssize_t put = ::pwrite(out.get(), buffer.data() + w, n - w, off_t(done + w));
          if (put < 0) {
            if (errno == EINTR) continue;
            throw OsError(errno, shown, "write");
          }
          w += std::size_t(put);
        }
        done += n;
      }
      ++stats.files;
      stats.bytes += size;
    }
  }
  return stats;
}

}  // namespace bootmirror::fat

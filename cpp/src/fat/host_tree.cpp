// Bulk copies between a host folder and a volume, done in C++ so that ten thousand small files
// cost ten thousand entries and runs, not ten thousand round trips through Python.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

ImportStats Volume::import_tree(const std::string& host_dir, const std::string& dest) {
  auto lock = impl_->guard();
  Impl& v = *impl_;
  v.require_writable();
  ImportStats stats;
  if (!fs::is_directory(host_dir)) throw OsError(ENOTDIR, host_dir, "import");
  makedirs(dest);
  ByteVector buffer;
  // Depth-first over the host tree, sorted so that images come out the same every time.
  struct Pending {
    fs::path host;
    std::uint32_t key;
  };
  std::vector<Pending> stack{{fs::path(host_dir), v.folder(dest).first_cluster()}};
  while (!stack.empty()) {
    Pending p = stack.back();
    stack.pop_back();
    std::vector<fs::directory_entry> items;
    for (const auto& item : fs::directory_iterator(p.host)) items.push_back(item);
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
    for (const auto& item : items) {
      std::u16string name = utf8_to_utf16(item.path().filename().string());
      Directory& dir = v.directory(p.key);
      if (item.is_directory() && !item.is_symlink()) {
        DirNode* existing = dir.find(name);
        std::uint32_t key;
        if (existing) {
          if (!existing->is_dir()) throw OsError(EEXIST, item.path().string(), "import folder over a file");
          key = existing->entry.first_cluster;
        } else {
          key = v.mkdir_in(dir, name);
          ++stats.directories;
        }
        stack.push_back({item.path(), key});
        continue;
      }
      if (!item.is_regular_file()) continue;
      Fd fd(::open(item.path().c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) throw OsError(errno, item.path().string(), "open");
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) throw OsError(errno, item.path().string(), "stat");
      std::uint64_t size = std::uint64_t(st.st_size);
      if (size > 0xFFFFFFFFull) throw OsError(EFBIG, item.path().string(), "import (FAT files end at 4 GiB)");
      ShortEntry e;
      e.attributes = attr::archive;
      Timestamp now = IdentitySource::now();
      e.stamp_created(now);
      e.stamp_modified(now);
      std::string shown = item.path().string();
      v.create_file(dir, name, size, [&](std::uint64_t offset, MutableByteSpan out) {
        for (std::size_t got = 0; got < out.size();) {
          ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, off_t(offset + got));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) throw OsError(errno, shown, "read");
          if (n == 0) throw OsError(EIO, shown, "read: the file shrank while importing");
          got += std::size_t(n);
        }
      }, e, buffer);
      ++stats.files;
      stats.bytes += size;
    }
  }
  v.flush();
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

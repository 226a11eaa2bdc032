// What the machine allows, measured in the same run as bootmirror and its peers (issue 15): each
// mode does only the work any tool doing the same job must do, with a page-aligned buffer and no
// other work. Built by benchmarks/common.py (g++ -O2) into the scratch folder; prints nothing.
//
//   floors write IMAGE BYTES CHUNK       pwrite BYTES of a pattern in CHUNK requests, then fsync
//   floors read FILE CHUNK               pread the whole file in CHUNK requests
//   floors copy SRC DST CHUNK            pread SRC, pwrite DST in place (created when missing; one
//                                        that exists keeps its blocks, as a disk image written into
//                                        does), each request started to the disk at once (as
//                                        bootmirror's large files are), fsync DST
//   floors import TREE IMAGE OFFSET      every regular file under TREE (folders and names sorted):
//                                        open, pread, close, each padded to 4 KiB and staged into
//                                        8 MiB requests written to IMAGE from OFFSET, each started
//                                        to the disk at once (sync_file_range, as bootmirror does:
//                                        the disk writes while the next files are read); one fsync
//   floors tablewrites IMAGE COUNT       COUNT times: 16 KiB + 512 B written, fsync, again, fsync
//                                        (the two copies of a GPT, one durable table write)
//   floors export LIST IMAGE OUT         LIST's lines "D PATH" (a folder) and "F SIZE PATH" (a file), in
//                                        order: mkdir each folder under OUT; for each file, pread
//                                        SIZE bytes of IMAGE (one after the other, from its start)
//                                        and open, write, close it under OUT
//   floors barriers IMAGE COUNT OFFSET   COUNT files of 4 KiB, each one durable in order before the
//                                        next begins: its data (at OFFSET, then the next 4 KiB) and a
//                                        FAT sector written, fsync, then its folder's sector (made
//                                        durable by the next file's fsync); a last fsync
//   floors preads FILE OFFSET LENGTH COUNT
//                                        COUNT preads of LENGTH bytes at OFFSET into one buffer;
//                                        prints the seconds they took, timed inside
//   floors reads LIST ROUNDS             ROUNDS times: each file of LIST (lines "OFFSET LENGTH PATH",
//                                        a file's lines together) opened, its ranges pread, closed;
//                                        prints each round's seconds, timed inside (a process's own
//                                        start-up would outweigh reads of a few hundred microseconds)
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "floors: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

char* aligned(std::size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, size) != 0) fail("posix_memalign");
  std::memset(p, 0x5A, size);
  return static_cast<char*>(p);
}

void pwrite_all(int fd, const char* data, std::size_t n, off_t at) {
  while (n) {
    ssize_t k = ::pwrite(fd, data, n, at);
    if (k < 0) fail("pwrite");
    data += k, n -= std::size_t(k), at += k;
  }
}

std::size_t pread_all(int fd, char* out, std::size_t n, off_t at) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t k = ::pread(fd, out + done, n - done, at + off_t(done));
    if (k < 0) fail("pread");
    if (k == 0) break;
    done += std::size_t(k);
  }
  return done;
}

void walk(int dir_fd, std::vector<std::pair<int, std::string>>& files, std::vector<int>& folders) {
  DIR* d = ::fdopendir(::dup(dir_fd));
  if (!d) fail("fdopendir");
  std::vector<std::pair<std::string, bool>> items;
  while (dirent* e = ::readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    items.emplace_back(e->d_name, e->d_type == DT_DIR);
  }
  ::closedir(d);
  std::sort(items.begin(), items.end());
  for (auto& [name, is_dir] : items) {
    if (is_dir) {
      int sub = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY);
      if (sub < 0) fail("open " + name);
      folders.push_back(sub);
      walk(sub, files, folders);
    } else {
      files.emplace_back(dir_fd, name);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[1];
  if (mode == "write" && argc == 5) {
    const std::size_t total = std::stoull(argv[3]), chunk = std::stoull(argv[4]);
    int fd = ::open(argv[2], O_WRONLY | O_CREAT, 0644);
    if (fd < 0) fail("open");
    char* buffer = aligned(chunk);
    for (std::size_t at = 0; at < total; at += chunk) pwrite_all(fd, buffer, std::min(chunk, total - at), off_t(at));
    if (::fsync(fd) != 0) fail("fsync");
    return ::close(fd);
  }
  if (mode == "read" && argc == 4) {
    const std::size_t chunk = std::stoull(argv[3]);
    int fd = ::open(argv[2], O_RDONLY);
    if (fd < 0) fail("open");
    char* buffer = aligned(chunk);
    for (off_t at = 0;; at += off_t(chunk))
      if (pread_all(fd, buffer, chunk, at) < chunk) break;
    return ::close(fd);
  }
  if (mode == "copy" && argc == 5) {
    const std::size_t chunk = std::stoull(argv[4]);
    int in = ::open(argv[2], O_RDONLY), out = ::open(argv[3], O_WRONLY | O_CREAT, 0644);
    if (in < 0 || out < 0) fail("open");
    char* buffer = aligned(chunk);
    for (off_t at = 0;; at += off_t(chunk)) {
      std::size_t n = pread_all(in, buffer, chunk, at);
      pwrite_all(out, buffer, n, at);
      ::sync_file_range(out, at, off_t(n), SYNC_FILE_RANGE_WRITE);
      if (n < chunk) break;
    }
    if (::fsync(out) != 0) fail("fsync");
    return ::close(in) | ::close(out);
  }
  if (mode == "import" && argc == 5) {
    int root = ::open(argv[2], O_RDONLY | O_DIRECTORY);
    int image = ::open(argv[3], O_WRONLY);
    if (root < 0 || image < 0) fail("open");
    off_t at = off_t(std::stoull(argv[4]));
    std::vector<std::pair<int, std::string>> files;
    std::vector<int> folders;
    walk(root, files, folders);
    constexpr std::size_t stage_size = 8 << 20, cluster = 4096;
    char* stage = aligned(stage_size);
    std::size_t used = 0;
    for (auto& [dir_fd, name] : files) {
      int fd = ::openat(dir_fd, name.c_str(), O_RDONLY);
      if (fd < 0) fail("open " + name);
      struct stat st {};
      if (::fstat(fd, &st) != 0) fail("fstat");
      const std::size_t size = std::size_t(st.st_size), padded = (size + cluster - 1) / cluster * cluster;
      if (used + padded > stage_size) {
        pwrite_all(image, stage, used, at);
        ::sync_file_range(image, at, off_t(used), SYNC_FILE_RANGE_WRITE);
        at += off_t(used), used = 0;
      }
      if (pread_all(fd, stage + used, size, 0) != size) fail("short read " + name);
      std::memset(stage + used + size, 0, padded - size);
      used += padded;
      ::close(fd);
    }
    pwrite_all(image, stage, used, at);
    if (::fsync(image) != 0) fail("fsync");
    for (int f : folders) ::close(f);
    return ::close(root) | ::close(image);
  }
  if (mode == "tablewrites" && argc == 4) {
    const long count = std::stol(argv[3]);
    int fd = ::open(argv[2], O_WRONLY);
    if (fd < 0) fail("open");
    char* array = aligned(16384);
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("fstat");
    const off_t end = st.st_size;
    for (long i = 0; i < count; ++i) {
      pwrite_all(fd, array, 16384, end - 512 - 16384);  // backup array and header
      pwrite_all(fd, array, 512, end - 512);
      if (::fsync(fd) != 0) fail("fsync");
      pwrite_all(fd, array, 16384, 1024);  // primary array and header
      pwrite_all(fd, array, 512, 512);
      if (::fsync(fd) != 0) fail("fsync");
    }
    return ::close(fd);
  }
  if (mode == "export" && argc == 5) {
    int image = ::open(argv[3], O_RDONLY | O_CLOEXEC);
    int out = ::open(argv[4], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (image < 0 || out < 0) fail("open");
    std::ifstream list(argv[2]);
    std::string line;
    std::size_t capacity = 1 << 20;
    char* buffer = aligned(capacity);
    off_t at = 0;
    while (std::getline(list, line)) {
      if (line.size() > 2 && line[0] == 'D') {
        if (::mkdirat(out, line.c_str() + 2, 0755) != 0) fail("mkdir " + line);
        continue;
      }
      std::istringstream fields(line.substr(2));
      std::size_t size = 0;
      std::string path;
      if (line[0] != 'F' || !(fields >> size) || !std::getline(fields >> std::ws, path)) continue;
      if (size > capacity) {
        std::free(buffer);
        buffer = aligned(capacity = size);
      }
      if (size && ::pread(image, buffer, size, at) != ssize_t(size)) fail("pread");
      at += off_t(size);
      int fd = ::openat(out, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) fail("create " + path);
      pwrite_all(fd, buffer, size, 0);
      ::close(fd);
    }
    return ::close(image) | ::close(out);
  }
  if (mode == "barriers" && argc == 5) {
    const long count = std::stol(argv[3]);
    const off_t data = off_t(std::stoull(argv[4]));
    int fd = ::open(argv[2], O_WRONLY);
    if (fd < 0) fail("open");
    char* block = aligned(4096);
    for (long i = 0; i < count; ++i) {
      pwrite_all(fd, block, 4096, data + off_t(i) * 4096);
      pwrite_all(fd, block, 512, 16384 + off_t(i / 128) * 512);  // 128 FAT32 entries a sector
      if (::fsync(fd) != 0) fail("fsync");
      pwrite_all(fd, block, 512, data - 4096 + off_t(i / 8 % 8) * 512);  // 8 files a sector (2 entries each)
    }
    if (::fsync(fd) != 0) fail("fsync");
    return ::close(fd);
  }
  if (mode == "preads" && argc == 6) {
    int fd = ::open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open");
    const off_t offset = off_t(std::stoull(argv[3]));
    const std::size_t length = std::stoull(argv[4]);
    const long count = std::stol(argv[5]);
    char* buffer = aligned(length);
    const auto started = std::chrono::steady_clock::now();
    for (long i = 0; i < count; ++i)
      if (::pread(fd, buffer, length, offset) != ssize_t(length)) fail("pread");
    std::printf("%.9f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return ::close(fd);
  }
  if (mode == "reads" && argc == 4) {
    struct File {
      std::string path;
      std::vector<std::pair<off_t, std::size_t>> ranges;
    };
    std::vector<File> files;
    std::ifstream list(argv[2]);
    std::string line;
    std::size_t biggest = 0;
    while (std::getline(list, line)) {
      std::istringstream fields(line);
      unsigned long long offset = 0, length = 0;
      std::string path;
      if (!(fields >> offset >> length) || !std::getline(fields >> std::ws, path)) continue;
      if (files.empty() || files.back().path != path) files.push_back({path, {}});
      files.back().ranges.emplace_back(off_t(offset), std::size_t(length));
      biggest = std::max<std::size_t>(biggest, length);
    }
    char* buffer = aligned(biggest);
    const long count = std::stol(argv[3]);
    for (long r = 0; r < count; ++r) {
      const auto started = std::chrono::steady_clock::now();
      for (const File& f : files) {
        int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("open " + f.path);
        for (const auto& [offset, length] : f.ranges)
          if (::pread(fd, buffer, length, offset) != ssize_t(length)) fail("pread " + f.path);
        ::close(fd);
      }
      std::printf("%.9f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    return 0;
  }
  std::fprintf(stderr, "floors: unknown mode or arguments\n");
  return 2;
}

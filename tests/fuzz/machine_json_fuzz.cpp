// machine.json, the machine folder's record (cpp/src/machine/json.cpp, machine.cpp). The input is
// the file's text: parsed by Json::parse, then written as machine.json into a temporary folder of
// this process (holding two small images, disk0.img and disk1.img) and opened with Machine::open.
// What must hold:
//   - dump then parse is a projection: what Json::parse accepts dumps to text that parses and
//     dumps the same;
//   - a machine that opens saves, and what it saved opens as the same machine;
//   - its dynamic-disk records (the "ldm" section: rebuild checkpoints, the bitmaps that must
//     exist) read as values or as bootmirror errors.
// Images named by an absolute path or through ".." are not opened: the target never touches a
// file outside its folder.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "bootmirror/dynamic.h"
#include "bootmirror/json.h"
#include "bootmirror/machine.h"
#include "machine/dynamic_volumes.h"
#include "support/harness.h"

using namespace bootmirror;
using namespace bootmirror::fuzz;
namespace fs = std::filesystem;

namespace {

// Created on first use, removed when the process ends normally.
struct Folder {
  fs::path path;
  Folder() {
    std::string pattern = (fs::temp_directory_path() / "bootmirror-fuzz-machine-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) broken("cannot make a temporary folder");
    path = pattern;
    ImageFile::create((path / "disk0.img").string(), 1 << 20, 512);
    ImageFile::create((path / "disk1.img").string(), 1 << 20, 4096);
  }
  ~Folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

const fs::path& folder() {
  static const Folder f;
  return f.path;
}

bool stays_inside(const Json& doc) {
  if (!doc.is_object() || !doc["disks"].is_array()) return true;
  for (const Json& disk : doc["disks"].array()) {
    if (!disk.is_object() || !disk["image"].is_string()) continue;
    const fs::path image(disk["image"].string());
    if (image.is_absolute()) return false;
    for (const fs::path& part : image)
      if (part == "..") return false;
  }
  return true;
}

bool same_machine(const Machine& a, const Machine& b) {
  if (a.disks().size() != b.disks().size()) return false;
  for (const auto& [number, disk] : a.disks()) {
    if (!b.has_disk(number)) return false;
    const AttachedDisk& other = b.disk(number);
    if (other.image != disk.image || other.sector_size != disk.sector_size || other.missing() != disk.missing()) return false;
  }
  return true;
}

void open_machine(std::string_view text) {
  const fs::path file = folder() / "machine.json";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), std::streamsize(text.size()));
  }
  std::shared_ptr<Machine> machine;
  if (!attempt([&] { machine = Machine::open(folder().string()); })) return;
  attempt([&] {
    dynamic::rebuild_status(*machine);
    dynamic::write_intents_of(*machine);
  });
  require(attempt([&] { machine->save(); }), "a machine that opens saves");
  std::shared_ptr<Machine> again;
  require(attempt([&] { again = Machine::open(folder().string()); }), "a machine that saved opens");
  require(same_machine(*machine, *again), "a machine that saved opens as the same machine");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<Json> doc;
  if (!attempt([&] { doc = Json::parse(text); })) return 0;
  const std::string once = doc->dump();
  std::optional<Json> again;
  require(attempt([&] { again = Json::parse(once); }), "what Json::dump writes parses");
  require(again->dump() == once, "dump then parse is a projection");
  require(attempt([&] { Json::parse(doc->dump(0)); }), "unindented dumps parse too");
  if (stays_inside(*doc)) open_machine(text);
  return 0;
}

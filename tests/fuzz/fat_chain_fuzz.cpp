// The File Allocation Table: its 12-, 16- and 32-bit entry codecs and cluster chain walks
// (fatgen103 section 4), through the engine's FatTable over a geometry Windows' format would choose.
// The input is: u8 FAT type (modulo 3: FAT12, FAT16, FAT32), u16 how many clusters to allocate,
// then the bytes of the first FAT copy. What must hold:
//   - a chain that walks is a run list whose links the table holds, ending at end-of-chain;
//   - a new allocation walks as a chain of the size asked for;
//   - what the table flushes reads back entry for entry, with the same free count.
#include <memory>
#include <optional>
#include <vector>

#include "fat/fat_table.h"
#include "support/harness.h"
#include "support/sector_overlay.h"

using namespace bootmirror;
using namespace bootmirror::fat;
using namespace bootmirror::fuzz;

namespace {

Geometry planned(std::uint64_t bytes, const char* file_system) {
  FormatOptions options;
  options.file_system = file_system;
  return plan_format(bytes, 512, options);
}

// Volumes just big enough for each type with Windows' default clusters: 4, 24 and 40 MiB.
const Geometry& geometry_for(unsigned type) {
  static const Geometry geometries[3] = {planned(4ull << 20, "FAT12"), planned(24ull << 20, "FAT16"),
                                         planned(40ull << 20, "FAT32")};
  return geometries[type % 3];
}

void check_chain(const FatTable& fat, std::uint32_t first, const std::vector<Run>& runs) {
  require(!runs.empty() && runs.front().first == first, "a chain starts at its first cluster");
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    require(run.count > 0 && fat.valid_cluster(run.first) && fat.valid_cluster(run.first + run.count - 1),
            "every run of a chain lies in the data clusters");
    for (std::uint32_t k = 0; k + 1 < run.count; ++k)
      require(fat.get(run.first + k) == run.first + k + 1, "the clusters of a run are linked in order");
    const std::uint32_t next = fat.get(run.first + run.count - 1);
    if (i + 1 < runs.size()) require(next == runs[i + 1].first, "each run links to the next");
    else require(next == FatTable::end_of_chain, "a chain ends with end-of-chain");
    total += run.count;
    require(total < fat.limit(), "a chain is shorter than the volume");
  }
}

// The first clusters of chains: used entries no other entry links to (at most 64).
std::vector<std::uint32_t> chain_heads(const FatTable& fat) {
  std::vector<bool> linked(fat.limit(), false);
  for (std::uint32_t c = 2; c < fat.limit(); ++c)
    if (fat.valid_cluster(fat.get(c))) linked[fat.get(c)] = true;
  std::vector<std::uint32_t> heads;
  for (std::uint32_t c = 2; c < fat.limit() && heads.size() < 64; ++c)
    if (fat.get(c) != FatTable::free_entry && !linked[c]) heads.push_back(c);
  return heads;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  deterministic();
  Input in(data, size);
  const Geometry& g = geometry_for(in.u8());
  const std::uint32_t wanted = in.u16() % 512 + 1;
  SectorOverlay disk(g.total_sectors * g.bytes_per_sector, g.bytes_per_sector);
  const ByteSpan table = in.take(std::size_t(g.sectors_per_fat) * g.bytes_per_sector);
  if (!table.empty()) disk.write(g.fat_offset(0), table);

  FatTable fat(disk, g);
  const std::vector<std::uint32_t> heads = chain_heads(fat);
  std::vector<std::uint32_t> whole;  // heads whose chains walk
  for (std::uint32_t head : heads) {
    std::vector<Run> runs;
    if (!attempt([&] { runs = fat.chain(head, fat.limit()); })) continue;
    check_chain(fat, head, runs);
    whole.push_back(head);
  }

  std::vector<Run> fresh;
  if (attempt([&] { fresh = fat.allocate(wanted, 0); })) {
    std::vector<Run> walked;
    require(attempt([&] { walked = fat.chain(fresh.front().first, fat.limit()); }), "a new allocation walks");
    check_chain(fat, fresh.front().first, walked);
    std::uint64_t total = 0;
    for (const Run& r : walked) total += r.count;
    require(total == wanted, "an allocation has the size asked for");
  }
  if (!heads.empty()) fat.free_chain(heads.front());  // damaged or not
  if (whole.size() > 1) fat.truncate_after(whole[1]);
  fat.apply_deferred();
  fat.flush();

  FatTable again(disk, g);
  for (std::uint32_t c = 0; c < fat.limit(); ++c)
    require(again.get(c) == fat.get(c), "every FAT entry reads back as the table flushed it");
  require(again.free_count() == fat.free_count(), "the free count kept while editing matches a recount");
  return 0;
}

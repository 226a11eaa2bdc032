// Making a basic disk dynamic, as Windows Server 2003 does.
// MBR (libldm _read_privhead, kernel ldm_validate_partition_table): the partition table keeps one
//   entry, slot 0, type 0x42, covering the logical disk (start 63 on both Windows image sets); the
//   PRIVHEAD goes to LBA 6 and the database to the last 1 MiB; the basic partitions stay where they
//   are and become simple volumes (partition records start at LBA - logical disk start).
// GPT (seed kb814070, bootcfg /list 0 and /list 1 after "convert dynamic"): a 1 MiB "LDM metadata
//   partition" (5808c8aa-...) takes the first MiB of the MSR, which shrinks from 32 to 31 MiB
//   (213,926,912 + 1,048,576 = 214,975,488 and 32,505,856 bytes on disk 1); basic data partitions
//   are retyped to "LDM data partition" (af9b60a0-...); the ESP stays a plain GPT partition. libldm
//   reads the PRIVHEAD from the metadata partition's last LBA (_read_privhead_gpt), so the
//   database is that partition (config start = its first LBA, 2048 sectors) and the PRIVHEAD sits
//   in the usual PRIVHEAD 3 place, config + 2047 (as on Windows 2008 R2's GPT images, which also
//   keep the +1856 copy). The logical disk starts after the MSR (see plan_disk); libldm maps
//   volumes at data start + partition start (_dm_create_part).
#include <algorithm>

#include <fmt/format.h>

#include "bootmirror/identity.h"
#include "ldm/codec.h"
#include "bootmirror/gpt.h"

namespace bootmirror::ldm::detail {

namespace {

using gpt::Kind;

const char* kNoSpace = "There is not enough space available on the disk(s) to complete this operation.";

void chs(std::uint64_t lba, std::byte* out) {
  // 255 heads, 63 sectors per track; beyond cylinder 1023 the tuple saturates as Windows writes it.
  std::uint64_t c = lba / (255 * 63), h = (lba / 63) % 255, s = lba % 63 + 1;
  if (c > 1023) c = 1023, h = 254, s = 63;
  out[0] = std::byte(h);
  out[1] = std::byte(s | ((c >> 2) & 0xC0));
  out[2] = std::byte(c & 0xFF);
}

}  // namespace

DiskPlan plan_disk(BlockDevice& dev) {
  DiskPlan plan;
  const std::uint32_t ss = dev.sector_size();
  const ConfigLayout L = layout_for(ss);
  plan.sector_size = ss;
  plan.config_size = L.config_size;
  if (dev.sector_count() < L.config_size + 4096 * 512 / ss) throw UsageError(kNoSpace);
  ByteVector mbr = dev.read(0, 512);
  bool has_mbr = load_le<std::uint16_t>(mbr, 510) == 0xAA55;
  std::uint8_t slot0 = has_mbr ? std::uint8_t(mbr[0x1BE + 4]) : 0;
  if (slot0 == 0x42) throw UsageError("The disk is already dynamic.");
  if (slot0 == 0xEE) {
    plan.scheme = Scheme::gpt;
    gpt::Table t = gpt::read(dev);
    const gpt::Partition* msr = nullptr;
    for (const gpt::Partition& e : t.entries) {
      if (!e.used()) continue;
      if (e.kind() == Kind::ldm_metadata) throw UsageError("The disk is already dynamic.");
      if (e.kind() == Kind::microsoft_reserved && !msr) msr = &e;
      if (e.kind() == Kind::basic_data) plan.basic.push_back({e.first_lba, e.sector_span(), 0x07});
    }
    if (!msr || msr->last_lba - msr->first_lba + 1 <= L.config_size)
      throw UsageError("The disk has no Microsoft Reserved partition to hold the LDM metadata partition.");
    bool free_slot = std::any_of(t.entries.begin(), t.entries.end(), [](const gpt::Partition& e) { return !e.used(); });
    if (!free_slot) throw UsageError(kNoSpace);
    plan.config_start = msr->first_lba;
    plan.privhead_lba = plan.config_start + L.ph3;
    // Windows 2008 R2's own GPT dynamic disks (ldm-2008r2-*-2.img: metadata 34-2081, MSR
    // 2082-65569, LDM data 65570-102366; PRIVHEAD logical disk 65570+36797) start the logical disk
    // right after the shrunken MSR and run it to the last usable LBA. When a basic data partition
    // lies before the MSR (the seed's disk 0: ESP, Windows, then the MSR at the end of the disk)
    // the logical disk starts at that partition instead (no Windows image shows this case), and
    // the MSR and metadata partition inside it are reserved.
    plan.data_start = msr->last_lba + 1;
    for (const auto& b : plan.basic) plan.data_start = std::min(plan.data_start, b.lba);
    if (plan.data_start > t.last_usable_lba) throw UsageError(kNoSpace);
    plan.data_size = t.last_usable_lba - plan.data_start + 1;
    for (const gpt::Partition& e : t.entries)
      if (e.used() && e.kind() != Kind::basic_data && e.first_lba >= plan.data_start)
        plan.reserved.emplace_back(e.first_lba - plan.data_start, e.sector_span());
    return plan;
  }
  plan.scheme = Scheme::mbr;
  plan.config_start = dev.sector_count() - L.config_size;
  plan.data_start = ss == 512 ? 63 : 256;
  for (int i = 0; i < 4 && has_mbr; ++i) {
    ByteSpan e = subspan(ByteSpan(mbr), 0x1BE + 16 * i, 16);
    std::uint8_t type = std::uint8_t(e[4]);
    std::uint32_t start = load_le<std::uint32_t>(e, 8), count = load_le<std::uint32_t>(e, 12);
    if (type == 0 || count == 0) continue;
    if (type == 0x05 || type == 0x0F || type == 0x85) throw UsageError("bootmirror does not convert disks with extended partitions");
    if (std::uint64_t(start) + count > plan.config_start) throw UsageError(kNoSpace);
    if (start <= 6) throw UsageError("a partition covers LBA 6, where the PRIVHEAD goes");
    plan.data_start = std::min<std::uint64_t>(plan.data_start, start);
    plan.basic.push_back({start, count, type});
  }
  plan.data_size = plan.config_start - plan.data_start;
  plan.privhead_lba = 6;
  return plan;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> reserved_extents(const std::vector<gpt::Partition>& partitions,
                                                                      std::uint64_t data_start) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const gpt::Partition& e : partitions)
    if (e.used() && e.kind() != Kind::ldm_data && e.first_lba >= data_start) out.emplace_back(e.first_lba - data_start, e.sector_span());
  return out;
}

gpt::Table dynamic_gpt(BlockDevice& dev, const DiskPlan& plan) {
  gpt::Table t = gpt::read(dev);
  for (gpt::Partition& e : t.entries) {
    if (e.used() && e.kind() == Kind::basic_data) {
      e.type = gpt::type_of(Kind::ldm_data);
      e.set_name("LDM data partition");
    }
    if (e.used() && e.kind() == Kind::microsoft_reserved && e.first_lba == plan.config_start) e.first_lba += plan.config_size;
  }
  auto free = std::find_if(t.entries.begin(), t.entries.end(), [](const gpt::Partition& e) { return !e.used(); });
  if (free == t.entries.end()) throw UsageError(kNoSpace);
  free->type = gpt::type_of(Kind::ldm_metadata);
  free->unique = IdentitySource::new_guid();
  free->first_lba = plan.config_start;
  free->last_lba = plan.config_start + plan.config_size - 1;
  free->set_name("LDM metadata partition");
  // Windows numbers the entries in offset order (bootcfg /list 1: ESP, LDM metadata, MSR, data).
  t.compact();
  return t;
}

ByteVector dynamic_mbr(BlockDevice& dev, const DiskPlan& plan) {
  // MBR: PRIVHEAD 1 is written at LBA 6 before this; slot 0 = 0x42 goes last.
  ByteVector mbr = dev.read(0, 512);
  bool had = load_le<std::uint16_t>(mbr, 510) == 0xAA55;
  if (!had) std::fill(mbr.begin(), mbr.end(), std::byte{0});
  if (!had || load_le<std::uint32_t>(mbr, 440) == 0) store_le<std::uint32_t>(mbr, 440, IdentitySource::next_u32());
  std::fill(mbr.begin() + 0x1BE, mbr.begin() + 0x1FE, std::byte{0});
  MutableByteSpan e = subspan(MutableByteSpan(mbr), 0x1BE, 16);
  chs(plan.data_start, reinterpret_cast<std::byte*>(e.data() + 1));
  e[4] = std::byte{0x42};
  chs(plan.data_start + plan.data_size - 1, reinterpret_cast<std::byte*>(e.data() + 5));
  store_le<std::uint32_t>(e, 8, std::uint32_t(plan.data_start));
  store_le<std::uint32_t>(e, 12, std::uint32_t(std::min<std::uint64_t>(plan.data_size, 0xFFFFFFFFu)));
  store_le<std::uint16_t>(mbr, 510, 0xAA55);
  return mbr;
}

void add_gpt_entry(gpt::Table& t, Kind kind, std::uint64_t first, std::uint64_t last, const char* name) {
  auto slot = std::find_if(t.entries.begin(), t.entries.end(), [](const gpt::Partition& e) { return !e.used(); });
  if (slot == t.entries.end()) throw UsageError(fmt::format("the GPT has no free entry for another {}", name));
  slot->attributes = 0;
  slot->type = gpt::type_of(kind);
  slot->unique = IdentitySource::new_guid();
  slot->first_lba = first;
  slot->last_lba = last;
  slot->set_name(name);
}

bool sync_gpt_data_partitions(gpt::Table& t, const GroupDisk& disk, const std::vector<PartitionRecord>& partitions) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> wanted;  // absolute first, last
  for (const auto& p : partitions)
    if (p.disk_id == disk.record.id && p.size > 0 && inside_data_area(p, disk.data_size))
      wanted.emplace_back(disk.data_start + p.start, disk.data_start + p.start + p.size - 1);
  bool changed = false;
  for (gpt::Partition& e : t.entries) {
    if (!e.used() || e.kind() != Kind::ldm_data) continue;
    bool keep = std::any_of(wanted.begin(), wanted.end(), [&](auto w) { return w.first >= e.first_lba && w.second <= e.last_lba; });
    if (!keep) e = gpt::Partition{}, changed = true;
  }
  for (const auto& range : wanted) {
    // Plain names, not a structured binding: clang 14 cannot capture those in a lambda.
    const std::uint64_t first = range.first, last = range.second;
    bool covered = std::any_of(t.entries.begin(), t.entries.end(), [&](const gpt::Partition& e) {
      return e.used() && e.kind() == Kind::ldm_data && first >= e.first_lba && last <= e.last_lba;
    });
    if (covered) continue;
    add_gpt_entry(t, Kind::ldm_data, first, last, "LDM data partition");
    changed = true;
  }
  if (changed) t.compact();
  return changed;
}

}  // namespace bootmirror::ldm::detail

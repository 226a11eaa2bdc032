// One disk's LDM database: where it is (MBR: partition slot 0 of type 0x42 and the PRIVHEAD at
// LBA 6, libldm _read_privhead_mbr; GPT: the PRIVHEAD in the last LBA of the "LDM metadata"
// partition, libldm _read_privhead_gpt) and the config area the PRIVHEAD points to:
//   config+0 .. : sector 0 unused; TOCBLOCKs at +1, +2, +2045, +2046 (2008 R2 writes only +2 and
//   +2045; libldm reads +2 only; the kernel wants one or more, all agreeing); the VMDB at the
//   "config" bitmap start (+17; the kernel reads +17 whatever the TOC says) followed by the VBLK
//   slots; the KLOG at the "log" bitmap (+1498, 224 sectors); PRIVHEAD copies at +1856 and +2047
//   (PRIVHEAD 0x28 and 0x20; the kernel requires the +1856 copy to agree with the first).
#include <fmt/format.h>

#include "ldm/codec.h"
#include "bootmirror/gpt.h"

namespace bootmirror::ldm::detail {
namespace {

std::uint64_t locate_privhead(BlockDevice& dev, Scheme& scheme) {
  const std::uint32_t ss = dev.sector_size();
  if (dev.size() < 8 * std::uint64_t(ss)) throw FormatError(fmt::format("{} is too small to be a dynamic disk", dev.name()), 0);
  ByteVector mbr = dev.read(0, 512);
  if (load_le<std::uint16_t>(mbr, 510) != 0xAA55) throw FormatError("not a dynamic disk: no MBR signature 55 AA", 510);
  std::uint8_t type = std::uint8_t(mbr[0x1BE + 4]);
  if (type == 0x42) {
    scheme = Scheme::mbr;
    return 6;
  }
  if (type == 0xEE) {
    scheme = Scheme::gpt;
    // The GPT engine (cpp/gpt) reads the primary copy, or the backup when the primary is damaged;
    // libldm reads only the primary (gpt.c gpt_open_secsize).
    gpt::Table table = gpt::read(dev);
    for (const gpt::Partition& e : table.entries)
      if (e.used() && e.kind() == gpt::Kind::ldm_metadata) return e.last_lba;
    throw FormatError("not a dynamic disk: the GPT has no LDM metadata partition", table.primary_entries_lba * ss);
  }
  throw FormatError(fmt::format("not a dynamic disk: MBR partition slot 0 has type {:#04x}, not 0x42 or 0xee", type), 0x1BE + 4);
}

}  // namespace

}  // namespace bootmirror::ldm::detail

namespace bootmirror::ldm {

using namespace detail;

DiskDatabase read_database(BlockDevice& dev, bool records) {
  DiskDatabase db;
  const std::uint32_t ss = dev.sector_size();
  db.sector_size = ss;
  db.privhead_lba = locate_privhead(dev, db.scheme);
  if ((db.privhead_lba + 1) * ss > dev.size()) throw FormatError("PRIVHEAD lies past the end of the disk", db.privhead_lba * ss);
  db.privhead = decode_privhead(dev.read(db.privhead_lba * ss, ss), db.privhead_lba * ss);
  const PrivHead& ph = db.privhead;
  const std::uint64_t base = ph.config_start * ss;
  if (ph.config_size > (64u << 20) / ss || ph.config_size < 32)
    throw FormatError(fmt::format("PRIVHEAD config size of {} sectors is impossible", ph.config_size), db.privhead_lba * ss + 0x133);
  if (ph.config_start > dev.sector_count() || ph.config_start + ph.config_size > dev.sector_count())
    throw FormatError(fmt::format("the LDM database (sectors {}+{}) extends past the end of the disk ({} sectors)", ph.config_start,
                                  ph.config_size, dev.sector_count()), db.privhead_lba * ss + 0x12B);
  if (db.scheme == Scheme::mbr && ph.logical_disk_start + ph.logical_disk_size > ph.config_start)
    throw FormatError("PRIVHEAD logical disk overlaps the database", db.privhead_lba * ss + 0x11B);
  if (ph.logical_disk_start > dev.sector_count() || ph.logical_disk_size > dev.sector_count() - ph.logical_disk_start)
    throw FormatError(fmt::format("PRIVHEAD logical disk (sectors {}+{}) extends past the end of the disk ({} sectors)",
                                  ph.logical_disk_start, ph.logical_disk_size, dev.sector_count()), db.privhead_lba * ss + 0x11B);
  // Without records only the sectors up to the VMDB are needed (TOCBLOCK copies at the end aside).
  ByteVector config = records ? dev.read(base, ph.config_size * ss) : ByteVector(ph.config_size * ss);
  if (!records) {
    const std::uint64_t head = std::min<std::uint64_t>(ph.config_size, 64);
    dev.read(base, MutableByteSpan(config).first(head * ss));
  }

  const std::uint64_t toc_at[4] = {1, 2, ph.config_size - 3, ph.config_size - 2};
  std::optional<TocBlock> toc;
  for (std::uint64_t s : toc_at) {
    if (!records && s >= 64) continue;
    auto t = decode_tocblock(subspan(ByteSpan(config), s * ss, ss), base + s * ss);
    if (t && toc) {
      for (int b = 0; b < 2; ++b)
        if (t->bitmaps[b].start != toc->bitmaps[b].start || t->bitmaps[b].size != toc->bitmaps[b].size)
          throw FormatError("TOCBLOCK copies disagree on the bitmaps", base + s * ss + 0x24);
    }
    if (t && !toc) toc = t;
    db.tocs.push_back(t);
  }
  if (!toc) throw FormatError("no TOCBLOCK in any of its four places in the LDM database", base + ss);
  for (int b = 0; b < 2; ++b) {
    const TocBitmap& m = toc->bitmaps[b];
    if (m.start == 0 || m.start + m.size > ph.config_size || m.start + m.size < m.start)
      throw FormatError(fmt::format("TOCBLOCK bitmap '{}' (sectors {}+{}) lies outside the {}-sector database", m.name, m.start, m.size,
                                    ph.config_size), base + 2 * ss + 0x2E);
  }
  const TocBitmap& cfg = toc->bitmaps[0];
  const TocBitmap& log = toc->bitmaps[1];
  ByteSpan area = subspan(ByteSpan(config), cfg.start * ss, cfg.size * ss);
  db.vmdb = decode_vmdb(area, base + cfg.start * ss);
  if (db.vmdb.group_guid != ph.group_guid)
    throw FormatError(fmt::format("VMDB belongs to group {} but the PRIVHEAD to {}", db.vmdb.group_guid, ph.group_guid),
                      base + cfg.start * ss + 0x35);
  if (!records) return db;
  decode_vblks(area, base + cfg.start * ss, db);
  if (!db.group) throw FormatError("the LDM database has no disk group record", base + cfg.start * ss);
  ByteSpan log_bytes = subspan(ByteSpan(config), log.start * ss, log.size * ss);
  db.log.assign(log_bytes.begin(), log_bytes.end());
  return db;
}

ByteVector encode_config(const DiskDatabase& db) {
  const std::uint32_t ss = db.sector_size;
  const PrivHead& ph = db.privhead;
  ByteVector config(ph.config_size * ss);
  MutableByteSpan c(config);
  const std::uint64_t toc_at[4] = {1, 2, ph.config_size - 3, ph.config_size - 2};
  std::optional<TocBlock> toc;
  for (std::size_t i = 0; i < 4 && i < db.tocs.size(); ++i) {
    if (!db.tocs[i]) continue;
    encode_tocblock(*db.tocs[i], subspan(c, toc_at[i] * ss, ss));
    if (!toc) toc = db.tocs[i];
  }
  if (!toc) throw UsageError("an LDM database needs at least one TOCBLOCK");
  MutableByteSpan area = subspan(c, toc->bitmaps[0].start * ss, toc->bitmaps[0].size * ss);
  encode_vmdb(db.vmdb, subspan(area, 0, ss));
  encode_vblks(db, area);
  MutableByteSpan log = subspan(c, toc->bitmaps[1].start * ss, toc->bitmaps[1].size * ss);
  std::memcpy(log.data(), db.log.data(), std::min(db.log.size(), log.size()));
  for (std::uint64_t at : {ph.ph2_offset, ph.ph3_offset})
    if (at < ph.config_size) encode_privhead(ph, subspan(c, at * ss, ss));
  return config;
}

}  // namespace bootmirror::ldm

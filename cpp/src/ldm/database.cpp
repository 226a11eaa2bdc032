// One disk's LDM database: where it is (MBR: partition slot 0 of type 0x42 and the PRIVHEAD at
// LBA 6, libldm _read_privhead_mbr; GPT: the PRIVHEAD in the last LBA of the "LDM metadata"
// partition, libldm _read_privhead_gpt) and the config area the PRIVHEAD points to:
//   config+0 .. : sector 0 unused; TOCBLOCKs at +1, +2, +2045, +2046 (2008 R2 writes only +2 and
//   +2045; libldm reads +2 only; the kernel wants one or more, all agreeing); the VMDB at the
//   "config" bitmap start (+17; the kernel reads +17 whatever the TOC says) followed by the VBLK
//   slots; the KLOG at the "log" bitmap (+1498, 224 sectors); PRIVHEAD copies at +1856 and +2047
//   (PRIVHEAD 0x28 and 0x20; the kernel requires the +1856 copy to agree with the first).
// Which copy of the PRIVHEAD is used: copies.cpp. Of the TOCBLOCKs, the first valid copy in the
// order +2 (the one libldm reads), +1, end-3, end-2 whose config bitmap holds a valid VMDB; the
// kernel wants every valid copy to agree, so a copy that does not is reported and left out.
#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "bootmirror/aligned_buffer.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

using namespace detail;

namespace {

// Sectors of the TOCBLOCK copies, from config start, in the order they are tried.
constexpr std::size_t kTocOrder[4] = {1, 0, 2, 3};  // indexes into toc_sectors(): +2 first
std::array<std::uint64_t, 4> toc_sectors(std::uint64_t config_size) { return {1, 2, config_size - 3, config_size - 2}; }

bool same_bitmaps(const TocBlock& a, const TocBlock& b) {
  for (int i = 0; i < 2; ++i)
    if (a.bitmaps[i].start != b.bitmaps[i].start || a.bitmaps[i].size != b.bitmaps[i].size) return false;
  return true;
}

}  // namespace

std::uint64_t detail::vmdb_offset(const DiskDatabase& db) {
  for (const auto& t : db.tocs)
    if (t) return (db.privhead.config_start + t->bitmaps[0].start) * db.sector_size;
  return (db.privhead.config_start + layout_for(db.sector_size).vmdb) * db.sector_size;
}

void detail::read_database_into(BlockDevice& dev, bool records, DiskDatabase& db, const char*& stage,
                                FoundPrivHead* known, Copies copies) {
  // The headers are read a sector at a time; with records the caller passed the device itself,
  // and the sectors (MBR, GPT, PRIVHEAD and TOCBLOCK copies, VMDB) share a few pages: one read a page.
  std::optional<PageCachedReads> cached;
  BlockDevice& headers = records ? cached.emplace(dev) : dev;
  stage = "GPT";  // find_privhead throws only when the partition table cannot be read
  const std::uint32_t ss = dev.sector_size();
  db.sector_size = ss;
  std::optional<FoundPrivHead> own;  // a copy of `known` would copy its partitions and damage too
  if (!known) own = find_privhead(headers, copies);
  FoundPrivHead& found = known ? *known : *own;
  stage = "PRIVHEAD";
  db.scheme = found.scheme;
  db.damage = found.damage;
  (void)found.usable();  // FormatError when no copy is valid
  db.privhead = std::move(*found.privhead);  // moved, not copied: a group read holds every disk's
  found.privhead.reset();
  db.privhead_lba = found.lba;
  const PrivHead& ph = db.privhead;
  const std::uint64_t base = ph.config_start * ss;
  auto sectors = [&](std::uint64_t first, std::uint64_t count) { return SectorRead(headers, base + first * ss, count * ss); };

  const auto toc_at = toc_sectors(ph.config_size);
  db.tocs.assign(4, std::nullopt);
  std::vector<std::size_t> valid;
  auto read_toc = [&](std::size_t i) {
    stage = "TOCBLOCK";
    const std::uint64_t off = base + toc_at[i] * ss;
    try {
      db.tocs[i] = decode_tocblock(sectors(toc_at[i], 1), off, ph.config_size);
      if (db.tocs[i]) valid.push_back(i);
      else if (i == 1) db.damage.push_back({"TOCBLOCK", off, "absent at config+2, the only copy libldm reads"});
    } catch (const FormatError& e) {
      db.damage.push_back(damage_of("TOCBLOCK", e, off));
    }
  };
  // A copy whose config bitmap holds no valid VMDB gives way to the next one that differs.
  std::optional<std::size_t> used;
  std::vector<std::pair<std::size_t, FormatError>> failed;
  auto read_vmdb = [&](std::size_t i) {
    stage = "VMDB";
    for (const auto& f : failed)
      if (same_bitmaps(*db.tocs[f.first], *db.tocs[i])) return;
    const TocBitmap& cfg = db.tocs[i]->bitmaps[0];
    const std::uint64_t off = base + cfg.start * ss;
    try {
      Vmdb v = decode_vmdb(sectors(cfg.start, 1), off, cfg.size * ss);
      if (v.group_guid != ph.group_guid)
        throw FormatError(fmt::format("VMDB belongs to group '{}' but the PRIVHEAD to {}", escape_bytes(v.group_guid),
                                      escape_bytes(ph.group_guid)), off + 0x35);
      db.vmdb = std::move(v);
      used = i;
    } catch (const FormatError& e) {
      failed.emplace_back(i, e);
    }
  };
  // Either way the copy used is the first valid one, in kTocOrder, whose VMDB decodes: with
  // Copies::all every TOCBLOCK is read first (those that disagree with it are reported below),
  // with first_valid each one's VMDB is tried as soon as it is read, and the rest are not read.
  for (std::size_t i : kTocOrder) {
    read_toc(i);
    if (copies == Copies::first_valid && db.tocs[i]) read_vmdb(i);
    if (used) break;
  }
  if (valid.empty()) {
    stage = "TOCBLOCK";
    // The first copy tried (config+2, libldm's) says what is wrong.
    auto first = std::find_if(db.damage.begin(), db.damage.end(), [](const Damage& d) { return d.structure == "TOCBLOCK"; });
    throw FormatError(fmt::format("no valid TOCBLOCK in any of its four places in the LDM database; the first: {}", first->problem),
                      first->offset);
  }
  if (copies == Copies::all)
    for (std::size_t k = 0; k < valid.size() && !used; ++k) read_vmdb(valid[k]);
  stage = "VMDB";
  if (!used) throw failed.front().second;
  for (std::size_t i : valid) {
    if (same_bitmaps(*db.tocs[*used], *db.tocs[i])) continue;
    std::string why = fmt::format("its bitmaps disagree with the TOCBLOCK at config+{}, which is used", toc_at[*used]);
    for (const auto& [j, e] : failed)
      if (same_bitmaps(*db.tocs[j], *db.tocs[i]))
        why += fmt::format("; its config bitmap holds no valid VMDB: {}", damage_of("VMDB", e, 0).problem);
    db.damage.push_back({"TOCBLOCK", base + toc_at[i] * ss, why});
  }
  for (std::size_t i = 0; i < 4; ++i)
    if (db.tocs[i] && !same_bitmaps(*db.tocs[*used], *db.tocs[i])) db.tocs[i].reset();
  if (!records) return;

  stage = "VBLK";
  read_records(dev, db);
  read_log(dev, db);
}

namespace {

// The TOCBLOCK the headers were read by: every copy left agrees with the one used.
const TocBlock& toc_used(const DiskDatabase& db, const char* caller) {
  const auto toc = std::find_if(db.tocs.begin(), db.tocs.end(), [](const auto& t) { return t.has_value(); });
  if (toc == db.tocs.end()) throw Error(fmt::format("{} needs a database whose headers were read", caller));
  return **toc;
}

}  // namespace

// The VBLK slots, streamed through the thread's 64 KiB buffer and decoded a piece at a time.
// Against one read of both bitmaps into a buffer of their size, the pieces stay in the L2 cache as
// they are copied and looked at: the records phase of the 19 Windows images took 175 against 200
// us hot, 335 against 375 us with the caches emptied, as after another program ran. The config
// bitmap past the last slot and the area outside it (the header copies, already read) are not read.
void detail::read_records(BlockDevice& dev, DiskDatabase& db) {
  const std::uint32_t ss = db.sector_size;
  const TocBitmap& cfg = toc_used(db, "read_records").bitmaps[0];
  const Vmdb& v = db.vmdb;  // decode_vmdb checked that the slots fit in the config bitmap
  const std::uint64_t area = (db.privhead.config_start + cfg.start) * ss;
  VblkDecoder decoder(db, area);
  constexpr std::size_t kPiece = 64 << 10;
  const std::uint32_t per_piece = std::uint32_t(std::max<std::size_t>(1, kPiece / v.vblk_size));
  thread_local AlignedBuffer piece;  // kept from call to call: a fresh one would be faulted in anew
  while (decoder.slots_left() > 0) {
    piece.ensure(std::size_t(std::min(per_piece, decoder.slots_left())) * v.vblk_size);
    dev.read(area + std::uint64_t(decoder.next_slot()) * v.vblk_size, piece.span());
    decoder.add(piece.span());
  }
  decoder.finish();
  if (!db.group) throw FormatError("the LDM database has no disk group record", area);
}

// The KLOG, kept verbatim: one read (it is off read_group's path, which leaves it unread).
void detail::read_log(BlockDevice& dev, DiskDatabase& db) {
  const TocBitmap& log = toc_used(db, "read_log").bitmaps[1];
  db.log = dev.read((db.privhead.config_start + log.start) * db.sector_size, std::size_t(log.size * db.sector_size));
}

DiskDatabase read_database(BlockDevice& dev, bool records) {
  DiskDatabase db;
  const char* stage = "";
  read_database_into(dev, records, db, stage);
  return db;
}

ByteVector encode_config(const DiskDatabase& db) {
  const std::uint32_t ss = db.sector_size;
  const PrivHead& ph = db.privhead;
  ByteVector config(ph.config_size * ss);
  MutableByteSpan c(config);
  const auto toc_at = toc_sectors(ph.config_size);
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
  // copy_n, not memcpy: an empty log (a TOCBLOCK giving it no sectors) may have no storage at all,
  // and memcpy from a null pointer is undefined even for zero bytes.
  std::copy_n(db.log.begin(), std::min(db.log.size(), log.size()), log.begin());
  for (std::uint64_t at : {ph.ph2_offset, ph.ph3_offset})
    if (at < ph.config_size) encode_privhead(ph, subspan(c, at * ss, ss));
  return config;
}

}  // namespace bootmirror::ldm

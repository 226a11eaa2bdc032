// The VBLK area: fixed-size slots (128 bytes) from the VMDB's first offset (512) up to
// vblk_last * vblk_size. Each slot starts with a 16-byte header:
//  off   size field
//  0x00  4    "VBLK"           kernel ldm_get_vblks: every slot up to vblk_last must have it
//  0x04  4    sequence = the slot's number (4 for the first)   [all images]
//  0x08  4    record id: groups the fragments of one record    [kernel struct frag.group]
//  0x0C  2    entry number of this fragment
//  0x0E  2    entry count: 0 free, 1 whole record, 2..4 fragments (kernel ldm_frag_add: > 4 is bad)
//  0x10  ...  data: fragments' data (vblk_size - 16 bytes each) concatenated in entry order make
//             the record; fragments need not be adjacent (2003 R2: Disk2 in slots 7 and 27)
// A free slot is "VBLK", its sequence and zeros (Windows stamps every free slot so).
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "ldm/codec.h"

namespace bootmirror::ldm {

void SlotList::push_back(std::uint32_t slot) {
  if (size_ == kMax) throw Error(fmt::format("an LDM record takes at most {} VBLK slots; a {}th was given", kMax, kMax + 1));
  slots_[size_++] = slot;
}

std::uint32_t SlotList::at(std::size_t i) const {
  if (i >= size_) throw Error(fmt::format("slot {} of a record placed in {}", i, size_));
  return slots_[i];
}

}  // namespace bootmirror::ldm

namespace bootmirror::ldm::detail {

namespace {
std::uint32_t first_slot(const Vmdb& v) { return v.first_offset / v.vblk_size; }
}  // namespace

std::uint32_t slots_needed(std::size_t record_bytes, std::uint32_t vblk_size) {
  std::size_t per = vblk_size - 16;
  return std::uint32_t((record_bytes + per - 1) / per);
}

VblkDecoder::VblkDecoder(DiskDatabase& db, std::uint64_t area_offset)
    : db_(db), area_offset_(area_offset) {
  // add() reads each slot's 16-byte head unchecked, and decode_vmdb allows no smaller slot.
  if (db.vmdb.vblk_size < 32) throw Error(fmt::format("VblkDecoder given {}-byte slots: not a decoded VMDB's", db.vmdb.vblk_size));
  next_ = first_slot(db.vmdb);
  // The VMDB's committed counts say how many records of each kind are coming (a vector grown a
  // record at a time reallocates and moves them); read from disk, they only size a first guess.
  constexpr std::uint32_t kGuess = 256;
  const auto& n = db.vmdb.committed;
  db.volumes.reserve(std::min(n[0], kGuess));
  db.components.reserve(std::min(n[1], kGuess));
  db.partitions.reserve(std::min(n[2], kGuess));
  db.disks.reserve(std::min(n[3], kGuess));
}

void VblkDecoder::add(ByteSpan slots) {
  const Vmdb& v = db_.vmdb;
  const std::size_t data_size = v.vblk_size - 16;
  const std::uint32_t count_here = std::uint32_t(slots.size() / v.vblk_size);
  if (slots.size() % v.vblk_size != 0 || count_here > slots_left())
    throw Error(fmt::format("VblkDecoder given {} bytes: not whole slots of {}, or past slot {}", slots.size(), v.vblk_size, v.vblk_last));
  const std::uint32_t first = next_;
  next_ += count_here;
  const std::size_t slot_size = v.vblk_size;
  for (std::uint32_t k = 0; k < count_here; ++k) {
    const std::uint32_t slot = first + k;
    const std::uint64_t off = area_offset_ + std::uint64_t(slot) * slot_size;
    ByteSpan s = slots.subspan(std::size_t(k) * slot_size, slot_size);
    // Every slot of the config bitmap is looked at, used or not (5,920 in a Windows database):
    // its fields are read through a view of its 16-byte head, whose size the compiler knows, so
    // that load_be's bounds checks fold away (the constructor checked the slot size).
    const ByteSpan h = s.first<16>();
    if (load_be<std::uint32_t>(h, 0) != 0x56424C4Bu) throw FormatError(fmt::format("VBLK slot {} is not stamped 'VBLK'", slot), off);
    std::uint32_t seq = load_be<std::uint32_t>(h, 4);
    if (seq != slot) throw FormatError(fmt::format("VBLK slot {} carries sequence {}", slot, seq), off + 4);
    std::uint16_t count = load_be<std::uint16_t>(h, 14);
    if (count == 0) continue;
    std::uint32_t record_id = load_be<std::uint32_t>(h, 8);
    std::uint16_t entry = load_be<std::uint16_t>(h, 12);
    if (count > 4) throw FormatError(fmt::format("VBLK slot {} claims {} fragments, at most 4", slot, count), off + 14);
    if (entry >= count) throw FormatError(fmt::format("VBLK slot {} is fragment {} of {}", slot, entry, count), off + 12);
    if (count == 1) {
      decode_record(s.subspan(16), off + 16, Placement{record_id, {slot}}, db_);
      continue;
    }
    Pending& p = fragments_[record_id];
    if (p.count == 0) {
      seen_.push_back(record_id);
      p.count = count;
      p.data_at = fragment_data_.size();
      fragment_data_.resize(fragment_data_.size() + count * data_size);
      p.offset = off;
    } else if (p.count != count) {
      throw FormatError(fmt::format("VBLK record {} has fragments claiming {} and {} parts", record_id, p.count, count), off + 14);
    }
    if (p.slots[entry]) throw FormatError(fmt::format("VBLK record {} has fragment {} twice (slots {} and {})", record_id, entry,
                                                      *p.slots[entry], slot), off + 12);
    p.slots[entry] = slot;
    // Kept now: the bytes of this slot may be gone (a reused buffer) when the record is decoded.
    std::memcpy(fragment_data_.data() + p.data_at + entry * data_size, s.data() + 16, data_size);
  }
}

void VblkDecoder::finish() {
  for (std::uint32_t record_id : seen_) {
    Pending& p = fragments_[record_id];
    Placement placement{record_id, {}};
    for (std::uint16_t e = 0; e < p.count; ++e) {
      if (!p.slots[e]) throw FormatError(fmt::format("VBLK record {} is missing fragment {} of {}", record_id, e, p.count), p.offset);
      placement.slots.push_back(*p.slots[e]);
    }
    decode_record(ByteSpan(fragment_data_).subspan(p.data_at, p.count * (db_.vmdb.vblk_size - 16)), p.offset + 16, placement, db_);
  }
}

void decode_vblks(ByteSpan area, std::uint64_t off, DiskDatabase& db) {
  const Vmdb& v = db.vmdb;
  std::uint64_t end = std::uint64_t(v.vblk_last) * v.vblk_size;
  if (end > area.size())
    throw FormatError(fmt::format("VMDB says {} slots of {} bytes, past the {}-byte config bitmap", v.vblk_last, v.vblk_size,
                                  area.size()), off + 4);
  if (first_slot(v) >= v.vblk_last) throw FormatError("VMDB has no VBLK slots", off + 4);
  VblkDecoder decoder(db, off);
  const std::uint64_t from = std::uint64_t(first_slot(v)) * v.vblk_size;
  decoder.add(area.subspan(from, end - from));
  decoder.finish();
}

void stamp_empty_slot(std::uint32_t slot, const Vmdb& v, MutableByteSpan area) {
  MutableByteSpan s = subspan(area, std::uint64_t(slot) * v.vblk_size, v.vblk_size);
  std::fill(s.begin(), s.end(), std::byte{0});
  store_ascii(s, 0, 4, "VBLK");
  store_be<std::uint32_t>(s, 4, slot);
}

void place_record(ByteSpan record, const Placement& placement, const Vmdb& v, MutableByteSpan area) {
  const std::size_t data_size = v.vblk_size - 16;
  const std::size_t count = placement.slots.size();
  if (count == 0 || count > 4 || count * data_size < record.size())
    throw Error(fmt::format("a {}-byte LDM record cannot go into {} slots", record.size(), count));
  for (std::size_t e = 0; e < count; ++e) {
    std::uint32_t slot = placement.slots[e];
    if (slot < first_slot(v) || slot >= v.vblk_last) throw Error(fmt::format("VBLK slot {} is outside the VBLK area", slot));
    stamp_empty_slot(slot, v, area);
    MutableByteSpan s = subspan(area, std::uint64_t(slot) * v.vblk_size, v.vblk_size);
    store_be<std::uint32_t>(s, 8, placement.record_id);
    store_be<std::uint16_t>(s, 12, std::uint16_t(e));
    store_be<std::uint16_t>(s, 14, std::uint16_t(count));
    std::size_t from = e * data_size;
    if (from < record.size()) {
      std::size_t n = std::min(data_size, record.size() - from);
      std::memcpy(s.data() + 16, record.data() + from, n);
    }
  }
}

void encode_vblks(const DiskDatabase& db, MutableByteSpan area) {
  const Vmdb& v = db.vmdb;
  for (std::uint32_t slot = first_slot(v); slot < v.vblk_last; ++slot) stamp_empty_slot(slot, v, area);
  std::vector<bool> used(v.vblk_last, false);
  auto put = [&](const auto& r) {
    for (std::uint32_t slot : r.placement.slots) {
      if (slot >= used.size() || used[slot]) throw Error(fmt::format("two LDM records placed in VBLK slot {}", slot));
      used[slot] = true;
    }
    place_record(encode_record(r), r.placement, v, area);
  };
  if (db.group) put(*db.group);
  for (const auto& r : db.disks) put(r);
  for (const auto& r : db.volumes) put(r);
  for (const auto& r : db.components) put(r);
  for (const auto& r : db.partitions) put(r);
  for (const auto& r : db.raw) put(r);
}

}  // namespace bootmirror::ldm::detail

// VBLK records: disk group, disk, volume, component and partition. A record starts with an 8-byte
// header (at 0x10 of its first slot): status u16, flags u8, type u8 (low nibble kind, high nibble
// revision), size u32 = bytes after the header. Fields follow in order, most of variable length.
// Sources: Linux block/partitions/ldm.c ldm_parse_dgr3/dsk3/dsk4/vol5/cmp3/prt3 and ldm.h
// (VBLK_SIZE_*: the fixed bytes of each kind; the kernel requires size == var fields + fixed for
// disk group, disk and component records and >= for volume and partition records), libldm
// src/ldm.c _parse_vblk_*; every field below was checked on the 2003 R2 and 2008 R2 images.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "ldm/codec.h"
#include "ldm/fields.h"

namespace bootmirror::ldm::detail {

namespace {

enum Kind : std::uint8_t { kVolume = 1, kComponent = 2, kPartition = 3, kDisk = 4, kDiskGroup = 5 };

ByteVector with_header(const RecordHeader& h, std::uint8_t kind, FieldWriter& body) {
  body.raw(h.trailing);
  FieldWriter out;
  std::byte head[8];
  store_be<std::uint16_t>(head, 0, h.status);
  head[2] = std::byte(h.flags);
  head[3] = std::byte(std::uint8_t(h.revision << 4) | kind);
  store_be<std::uint32_t>(head, 4, std::uint32_t(body.bytes().size()));
  out.raw(head);
  out.raw(body.bytes());
  return out.take();
}

void fill_header(RecordHeader& h, ByteSpan rec) {
  h.status = load_be<std::uint16_t>(rec, 0);
  h.flags = std::uint8_t(rec[2]);
  h.revision = std::uint8_t(rec[3]) >> 4;
}

void keep_trailing(RecordHeader& h, FieldReader& r, ByteSpan body) {
  h.trailing.assign(body.begin() + long(r.position()), body.end());
}

}  // namespace

// Disk group, kind 5, revision 3 (0x35; Windows 2003 and 2008 both):
//   id var | name var-string | GUID var-string (36 ASCII) | 4 zeros | commit id u64 |
//   flag 0x08: two var ints (2003 writes 04 ff ff ff ff twice)
// Revision 4 (0x45, kernel ldm_parse_dgr4) has a binary GUID instead; never seen, kept raw.
ByteVector encode_record(const DiskGroupRecord& r) {
  FieldWriter w;
  w.var_int(r.id);
  w.var_string(r.name);
  w.var_string(r.guid);
  w.zeros(4);
  w.be64(r.commit_id);
  if (r.ids) {
    w.var_int(r.ids->first);
    w.var_int(r.ids->second);
  }
  return with_header(r, kDiskGroup, w);
}

// Disk, kind 4, revision 3 (0x34):
//   id var | name var-string | GUID var-string (36 ASCII; libldm: uuid_parse, and it must equal the
//   PRIVHEAD's disk GUID for the disk to be "present") | alt name var-string (2003: the PnP id,
//   which makes the record 121 bytes and two slots; 2008: empty) | 4 zeros | commit id u64
// Revision 4 (0x44): id | name | 16-byte binary GUID | ... (kernel ldm_parse_dsk4).
ByteVector encode_record(const DiskRecord& r) {
  FieldWriter w;
  w.var_int(r.id);
  w.var_string(r.name);
  if (r.revision == 4) {
    std::byte g[16];
    r.guid.store_rfc_bytes(g);
    w.raw(g);
  } else {
    w.var_string(r.guid.to_string());
    w.var_string(r.alt_name);
    w.zeros(4);
    w.be64(r.commit_id);
  }
  return with_header(r, kDisk, w);
}

// Volume, kind 1, revision 5 (0x51):
//   id var | name var-string | type var-string ("gen", "raid5") | unknown var-string (empty) |
//   state 14 bytes ("ACTIVE", NUL-padded) | int type u8 (3 gen, 4 raid5) | unknown u8 (1) |
//   volume number u8 | 3 zeros | volume flags u8 (0x11) | component count var (2 = mirror) |
//   commit id u64 | second id u64 | size var (sectors) | 4 zeros | partition type u8 (0x07) |
//   volume GUID 16 bytes (RFC order) | flag 0x08: id1 var-string | 0x20: id2 var-string |
//   0x80: size2 var | 0x02: drive hint var-string ("H:")
ByteVector encode_record(const VolumeRecord& r) {
  FieldWriter w;
  w.var_int(r.id);
  w.var_string(r.name);
  w.var_string(r.type_name);
  w.var_string(r.unknown_string);
  std::byte state[14]{};
  store_ascii(state, 0, 14, r.state);
  w.raw(state);
  w.u8(r.int_type);
  w.u8(r.unknown1);
  w.u8(r.number);
  w.zeros(3);
  w.u8(r.volume_flags);
  w.var_int(r.component_count);
  w.be64(r.commit_id);
  w.be64(r.id2);
  w.var_int(r.size);
  w.zeros(4);
  w.u8(r.partition_type);
  std::byte g[16];
  r.guid.store_rfc_bytes(g);
  w.raw(g);
  if (r.flags & 0x08) w.var_string(r.id1_string.value_or(""));
  if (r.flags & 0x20) w.var_string(r.id2_string.value_or(""));
  if (r.flags & 0x80) w.var_int(r.size2.value_or(0));
  if (r.flags & 0x02) w.var_string(r.drive_hint.value_or(""));
  return with_header(r, kVolume, w);
}

// Component, kind 2, revision 3 (0x32):
//   id var | name var-string | state var-string ("ACTIVE") | type u8 (1 striped, 2 spanned or
//   simple, 3 raid) | 4 zeros | partition count var | commit id u64 | 8 zeros | parent volume id
//   var | 1 zero | flag 0x10: chunk size var, columns var
ByteVector encode_record(const ComponentRecord& r) {
  FieldWriter w;
  w.var_int(r.id);
  w.var_string(r.name);
  w.var_string(r.state);
  w.u8(r.type);
  w.zeros(4);
  w.var_int(r.partition_count);
  w.be64(r.commit_id);
  w.zeros(8);
  w.var_int(r.volume_id);
  w.zeros(1);
  if (r.flags & 0x10) {
    w.var_int(r.stripe ? r.stripe->first : 0);
    w.var_int(r.stripe ? r.stripe->second : 0);
  }
  return with_header(r, kComponent, w);
}

// Partition, kind 3, revision 3 (0x33):
//   id var | name var-string | 4 zeros | commit id u64 | start u64 (sectors from the disk's
//   logical disk start; kernel ldm_create_data_partitions) | volume offset u64 | size var |
//   parent component id var | disk id var | flag 0x08: index var
// (2008 R2 also sets flag 0x40 on every partition; its meaning is unknown, we keep it.)
ByteVector encode_record(const PartitionRecord& r) {
  FieldWriter w;
  w.var_int(r.id);
  w.var_string(r.name);
  w.zeros(4);
  w.be64(r.commit_id);
  w.be64(r.start);
  w.be64(r.volume_offset);
  w.var_int(r.size);
  w.var_int(r.component_id);
  w.var_int(r.disk_id);
  if (r.flags & 0x08) w.var_int(r.index.value_or(0));
  return with_header(r, kPartition, w);
}

ByteVector encode_record(const RawRecord& r) {
  FieldWriter w;
  w.raw(r.body);
  RecordHeader h = r;
  h.trailing.clear();
  return with_header(h, r.type, w);
}

// Decodes one assembled record (`rec` starts at the record header) into `db`.
void decode_record(ByteSpan rec, std::uint64_t off, const Placement& placement, DiskDatabase& db) {
  if (rec.size() < 8) throw FormatError("VBLK record shorter than its header", off);
  std::uint32_t size = load_be<std::uint32_t>(rec, 4);
  if (size > rec.size() - 8)
    throw FormatError(fmt::format("VBLK record claims {} bytes but its slots hold {}", size, rec.size() - 8), off + 4);
  ByteSpan body = rec.subspan(8, size);
  std::uint8_t type = std::uint8_t(rec[3]);
  std::uint8_t kind = type & 0x0F, revision = type >> 4;
  std::uint8_t flags = std::uint8_t(rec[2]);
  std::uint64_t body_off = off + 8;
  auto finish = [&](RecordHeader& h, FieldReader& r) {
    fill_header(h, rec);
    h.placement = placement;
    keep_trailing(h, r, body);
  };
  switch (kind) {
    case kDiskGroup: {
      if (revision != 3) break;
      FieldReader r(body, body_off, "disk group record");
      DiskGroupRecord g;
      g.id = r.var_u32("id");
      g.name = r.var_string("name");
      g.guid = r.var_string("guid");
      if (!Guid::is_valid(g.guid)) r.fail(fmt::format("disk group GUID '{}' does not parse", escape_bytes(g.guid)));
      r.raw(4, "zeros");
      g.commit_id = r.be64("commit id");
      if (flags & 0x08) {
        auto a = r.var_u64("id1");
        g.ids = std::pair{a, r.var_u64("id2")};
      }
      finish(g, r);
      if (db.group) throw FormatError("a second disk group record in one database", off);
      db.group = std::move(g);
      return;
    }
    case kDisk: {
      FieldReader r(body, body_off, "disk record");
      DiskRecord d;
      d.id = r.var_u32("id");
      d.name = r.var_string("name");
      if (revision == 3) {
        std::string guid = r.var_string("guid");
        if (!Guid::is_valid(guid)) r.fail(fmt::format("disk GUID '{}' does not parse", escape_bytes(guid)));
        d.guid = Guid::parse(guid);
        d.alt_name = r.var_string("alt name");
        r.raw(4, "zeros");
        d.commit_id = r.be64("commit id");
      } else if (revision == 4) {
        d.guid = Guid::from_rfc_bytes(r.raw(16, "guid"));
      } else {
        break;
      }
      finish(d, r);
      db.disks.push_back(std::move(d));
      return;
    }
    case kVolume: {
      if (revision != 5) break;
      FieldReader r(body, body_off, "volume record");
      VolumeRecord v;
      v.id = r.var_u32("id");
      v.name = r.var_string("name");
      v.type_name = r.var_string("type");
      v.unknown_string = r.var_string("unknown string");
      v.state = load_ascii(r.raw(14, "state"), 0, 14);
      v.int_type = r.u8("type");
      if (v.int_type != 3 && v.int_type != 4) r.fail(fmt::format("volume type {} is neither 3 (gen) nor 4 (raid5)", v.int_type));
      v.unknown1 = r.u8("unknown");
      v.number = r.u8("volume number");
      r.raw(3, "zeros");
      v.volume_flags = r.u8("volume flags");
      v.component_count = r.var_u32("component count");
      v.commit_id = r.be64("commit id");
      v.id2 = r.be64("id");
      v.size = r.var_u64("size");
      // 2^52 sectors are 2^64 bytes of 4096-byte sectors: no disk holds more, and the size in
      // bytes must not overflow.
      if (v.size > (std::uint64_t(1) << 52)) r.fail(fmt::format("volume size of {} sectors is impossible", v.size));
      r.raw(4, "zeros");
      v.partition_type = r.u8("partition type");
      v.guid = Guid::from_rfc_bytes(r.raw(16, "guid"));
      if (flags & 0x08) v.id1_string = r.var_string("id1");
      if (flags & 0x20) v.id2_string = r.var_string("id2");
      if (flags & 0x80) v.size2 = r.var_u64("size2");
      if (flags & 0x02) v.drive_hint = r.var_string("drive hint");
      finish(v, r);
      db.volumes.push_back(std::move(v));
      return;
    }
    case kComponent: {
      if (revision != 3) break;
      FieldReader r(body, body_off, "component record");
      ComponentRecord c;
      c.id = r.var_u32("id");
      c.name = r.var_string("name");
      c.state = r.var_string("state");
      c.type = r.u8("type");
      if (c.type < 1 || c.type > 3) r.fail(fmt::format("component type {} is not 1, 2 or 3", c.type));
      r.raw(4, "zeros");
      c.partition_count = r.var_u32("partition count");
      c.commit_id = r.be64("commit id");
      r.raw(8, "zeros");
      c.volume_id = r.var_u32("parent volume id");
      r.raw(1, "zero");
      if (flags & 0x10) {
        auto chunk = r.var_u64("chunk size");
        c.stripe = std::pair{chunk, r.var_u32("columns")};
      }
      finish(c, r);
      db.components.push_back(std::move(c));
      return;
    }
    case kPartition: {
      if (revision != 3) break;
      FieldReader r(body, body_off, "partition record");
      PartitionRecord p;
      p.id = r.var_u32("id");
      p.name = r.var_string("name");
      r.raw(4, "zeros");
      p.commit_id = r.be64("commit id");
      p.start = r.be64("start");
      p.volume_offset = r.be64("volume offset");
      p.size = r.var_u64("size");
      p.component_id = r.var_u32("parent component id");
      p.disk_id = r.var_u32("disk id");
      if (flags & 0x08) p.index = r.var_u32("index");
      finish(p, r);
      db.partitions.push_back(std::move(p));
      return;
    }
    case 0: {
      // A blank record: what an interrupted commit of ours leaves as a tombstone (libldm skips
      // kind 0). Its body is the id of the object it deletes and the commit id.
      FieldReader r(body, body_off, "tombstone record");
      RawRecord raw;
      raw.type = 0;
      raw.id = r.var_u32("id");
      raw.commit_id = r.be64("commit id");
      fill_header(raw, rec);
      raw.placement = placement;
      raw.body.assign(body.begin(), body.end());
      db.raw.push_back(std::move(raw));
      return;
    }
    default:
      break;
  }
  throw FormatError(fmt::format("unsupported VBLK record type {:#04x} (kind {}, revision {})", type, kind, revision), off + 3);
}

}  // namespace bootmirror::ldm::detail

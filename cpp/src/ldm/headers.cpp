// PRIVHEAD, TOCBLOCK and VMDB: the fixed-layout structures of an LDM database. Every integer is
// big-endian. Offsets were checked by hexdump on the 2003 R2 and 2008 R2 images (data/ldm-windows
// of the test data folder) and match libldm src/ldm.c (struct _privhead, _tocblock, _vmdb) and
// Linux block/partitions/ldm.c (ldm_parse_privhead, ldm_parse_tocblock, ldm_parse_vmdb).
#include <fmt/format.h>

#include "bootmirror/identity.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm::detail {

ConfigLayout layout_for(std::uint32_t sector_size) {
  // 512: the layout of every Windows image (PRIVHEAD 0x20/0x28 give 2047 and 1856; TOCBLOCK
  // bitmaps config 17+1481, log 1498+224). 4096: the same byte positions rounded to 4 KiB
  // sectors; Windows' own 4Kn layout is not documented and libldm cannot read 4Kn at all.
  if (sector_size == 4096) return {256, 232, 255, {1, 2, 253, 254}, 3, 185, 188, 28};
  return {2048, 1856, 2047, {1, 2, 2045, 2046}, 17, 1481, 1498, 224};
}

std::uint64_t filetime_now() {
  Timestamp t = IdentitySource::now();
  return std::uint64_t(t.seconds + 11644473600LL) * 10000000ull + t.nanoseconds / 100;
}

// PRIVHEAD (libldm struct _privhead; kernel ldm_parse_privhead reads 0x0C, 0x0E, 0x30, 0x11B-0x133)
//  off    size field
//  0x000  8    "PRIVHEAD"
//  0x008  4    sequence (unknown)
//  0x00C  2    version major (2)            kernel: 2.11 (2000/XP/2003) or 2.12 (Vista+) only
//  0x00E  2    version minor (11 or 12)
//  0x010  8    timestamp (FILETIME)
//  0x018  8    unknown number (2003 R2: 5, 2008 R2: 1)
//  0x020  8    0x7FF: sector of PRIVHEAD 3 in the config
//  0x028  8    0x740: sector of PRIVHEAD 2 in the config
//  0x030  64   disk GUID, ASCII              kernel: must parse (ldm_parse_guid)
//  0x070  64   host GUID, ASCII
//  0x0B0  64   disk group GUID, ASCII
//  0x0F0  32   disk group name
//  0x110  2    unknown (2)
//  0x112  9    zeros
//  0x11B  8    logical disk start (sectors)  kernel: size != 0, start+size <= config start
//  0x123  8    logical disk size
//  0x12B  8    config start (absolute LBA)
//  0x133  8    config size (2048)            kernel: other sizes only logged
//  0x13B  8    number of TOCs (2003: 1, 2008: 2)
//  0x143  8    TOC size (2003: 2046, 2008: 2045)
//  0x14B  4    number of configs (1)
//  0x14F  4    number of logs (1)
//  0x153  8    config bitmap size (1481)
//  0x15B  8    log size (224)
//  0x163  4    disk signature
//  0x167  32   disk set GUIDs (zeros on every image)
//  0x187  ...  zeros to the end of the sector
PrivHead decode_privhead(ByteSpan s, std::uint64_t off) {
  if (s.size() < 512) throw FormatError("PRIVHEAD sector is shorter than 512 bytes", off);
  if (!matches_ascii(s, 0, "PRIVHEAD")) throw FormatError("no PRIVHEAD magic where the LDM PRIVHEAD should be", off);
  PrivHead ph;
  ph.sequence = load_be<std::uint32_t>(s, 0x08);
  ph.version_major = load_be<std::uint16_t>(s, 0x0C);
  ph.version_minor = load_be<std::uint16_t>(s, 0x0E);
  ph.timestamp = load_be<std::uint64_t>(s, 0x10);
  ph.unknown_number = load_be<std::uint64_t>(s, 0x18);
  ph.ph3_offset = load_be<std::uint64_t>(s, 0x20);
  ph.ph2_offset = load_be<std::uint64_t>(s, 0x28);
  ph.disk_guid = load_ascii(s, 0x30, 64);
  ph.host_guid = load_ascii(s, 0x70, 64);
  ph.group_guid = load_ascii(s, 0xB0, 64);
  ph.group_name = load_ascii(s, 0xF0, 32);
  ph.unknown1 = load_be<std::uint16_t>(s, 0x110);
  ph.logical_disk_start = load_be<std::uint64_t>(s, 0x11B);
  ph.logical_disk_size = load_be<std::uint64_t>(s, 0x123);
  ph.config_start = load_be<std::uint64_t>(s, 0x12B);
  ph.config_size = load_be<std::uint64_t>(s, 0x133);
  ph.toc_count = load_be<std::uint64_t>(s, 0x13B);
  ph.toc_size = load_be<std::uint64_t>(s, 0x143);
  ph.config_count = load_be<std::uint32_t>(s, 0x14B);
  ph.log_count = load_be<std::uint32_t>(s, 0x14F);
  ph.config_bitmap_size = load_be<std::uint64_t>(s, 0x153);
  ph.log_bitmap_size = load_be<std::uint64_t>(s, 0x15B);
  ph.disk_signature = load_be<std::uint32_t>(s, 0x163);
  std::memcpy(ph.disk_set_guids.data(), s.data() + 0x167, 32);
  // The kernel's checks (ldm_parse_privhead) and libldm's (uuid_parse of both GUIDs); the
  // offsets and sizes against the device are checked where the device is known (copies.cpp).
  if (ph.version_major != 2 || (ph.version_minor != 11 && ph.version_minor != 12))
    throw FormatError(fmt::format("PRIVHEAD version {}.{}, expected 2.11 or 2.12", ph.version_major, ph.version_minor), off + 0x0C);
  if (!Guid::is_valid(ph.disk_guid))
    throw FormatError(fmt::format("PRIVHEAD disk GUID '{}' does not parse", escape_bytes(ph.disk_guid)), off + 0x30);
  if (!Guid::is_valid(ph.group_guid))
    throw FormatError(fmt::format("PRIVHEAD disk group GUID '{}' does not parse", escape_bytes(ph.group_guid)), off + 0xB0);
  if (ph.logical_disk_size == 0) throw FormatError("PRIVHEAD logical disk size is 0", off + 0x123);
  if (ph.config_size == 0) throw FormatError("PRIVHEAD config size is 0", off + 0x133);
  return ph;
}

void encode_privhead(const PrivHead& ph, MutableByteSpan s) {
  std::fill(s.begin(), s.end(), std::byte{0});
  store_ascii(s, 0, 8, "PRIVHEAD");
  store_be<std::uint32_t>(s, 0x08, ph.sequence);
  store_be<std::uint16_t>(s, 0x0C, ph.version_major);
  store_be<std::uint16_t>(s, 0x0E, ph.version_minor);
  store_be<std::uint64_t>(s, 0x10, ph.timestamp);
  store_be<std::uint64_t>(s, 0x18, ph.unknown_number);
  store_be<std::uint64_t>(s, 0x20, ph.ph3_offset);
  store_be<std::uint64_t>(s, 0x28, ph.ph2_offset);
  store_ascii(s, 0x30, 64, ph.disk_guid);
  store_ascii(s, 0x70, 64, ph.host_guid);
  store_ascii(s, 0xB0, 64, ph.group_guid);
  store_ascii(s, 0xF0, 32, ph.group_name);
  store_be<std::uint16_t>(s, 0x110, ph.unknown1);
  store_be<std::uint64_t>(s, 0x11B, ph.logical_disk_start);
  store_be<std::uint64_t>(s, 0x123, ph.logical_disk_size);
  store_be<std::uint64_t>(s, 0x12B, ph.config_start);
  store_be<std::uint64_t>(s, 0x133, ph.config_size);
  store_be<std::uint64_t>(s, 0x13B, ph.toc_count);
  store_be<std::uint64_t>(s, 0x143, ph.toc_size);
  store_be<std::uint32_t>(s, 0x14B, ph.config_count);
  store_be<std::uint32_t>(s, 0x14F, ph.log_count);
  store_be<std::uint64_t>(s, 0x153, ph.config_bitmap_size);
  store_be<std::uint64_t>(s, 0x15B, ph.log_bitmap_size);
  store_be<std::uint32_t>(s, 0x163, ph.disk_signature);
  std::memcpy(s.data() + 0x167, ph.disk_set_guids.data(), 32);
}

// TOCBLOCK (libldm struct _tocblock; kernel ldm_parse_tocblock)
//  off   size field
//  0x00  8    "TOCBLOCK"
//  0x08  4    sequence 1
//  0x0C  4    zeros
//  0x10  4    sequence 2
//  0x14  16   zeros
//  0x24  8    bitmap 0 name "config"       kernel: entry 0 must be "config", entry 1 "log"
//  0x2C  2    flags 1
//  0x2E  8    start (sectors from config)  libldm: VMDB at config + start; kernel: fixed 17
//  0x36  8    size                         kernel: start + size <= config size
//  0x3E  8    flags 2 (0x0006000100000000)
//  0x46  22   bitmap 1 "log", same fields (flags 1: 0 or 8)
//  0x68  ...  zeros
namespace {
TocBitmap decode_bitmap(ByteSpan s, std::size_t at) {
  return {load_ascii(s, at, 8), load_be<std::uint16_t>(s, at + 8), load_be<std::uint64_t>(s, at + 10),
          load_be<std::uint64_t>(s, at + 18), load_be<std::uint64_t>(s, at + 26)};
}
void encode_bitmap(const TocBitmap& b, MutableByteSpan s, std::size_t at) {
  store_ascii(s, at, 8, b.name);
  store_be<std::uint16_t>(s, at + 8, b.flags1);
  store_be<std::uint64_t>(s, at + 10, b.start);
  store_be<std::uint64_t>(s, at + 18, b.size);
  store_be<std::uint64_t>(s, at + 26, b.flags2);
}
}  // namespace

std::optional<TocBlock> decode_tocblock(ByteSpan s, std::uint64_t off, std::uint64_t config_size) {
  if (s.size() < 512) throw FormatError("TOCBLOCK sector is shorter than 512 bytes", off);
  if (is_all_zero(s)) return std::nullopt;
  if (!matches_ascii(s, 0, "TOCBLOCK"))
    throw FormatError(fmt::format("no TOCBLOCK magic (found '{}')", escape_bytes(load_ascii(s, 0, 8))), off);
  TocBlock t;
  t.sequence1 = load_be<std::uint32_t>(s, 0x08);
  t.sequence2 = load_be<std::uint32_t>(s, 0x10);
  t.bitmaps[0] = decode_bitmap(s, 0x24);
  t.bitmaps[1] = decode_bitmap(s, 0x46);
  // The kernel (ldm_parse_tocblock) wants entry 0 "config" and entry 1 "log", each inside the
  // database; libldm uses the entry named "config" as the VMDB.
  if (t.bitmaps[0].name != "config" || t.bitmaps[1].name != "log")
    throw FormatError(fmt::format("TOCBLOCK bitmaps are '{}' and '{}', expected 'config' and 'log'",
                                  escape_bytes(t.bitmaps[0].name), escape_bytes(t.bitmaps[1].name)), off + 0x24);
  for (int b = 0; b < 2; ++b) {
    const TocBitmap& m = t.bitmaps[b];
    const std::uint64_t at = off + (b == 0 ? 0x2E : 0x50);
    if (m.start == 0 || m.start >= config_size || m.size > config_size - m.start)
      throw FormatError(fmt::format("TOCBLOCK bitmap '{}' (sectors {}+{}) lies outside the {}-sector database", m.name, m.start,
                                    m.size, config_size), at);
  }
  if (t.bitmaps[0].size == 0) throw FormatError("TOCBLOCK config bitmap has no sectors for the VMDB", off + 0x36);
  return t;
}

void encode_tocblock(const TocBlock& t, MutableByteSpan s) {
  std::fill(s.begin(), s.end(), std::byte{0});
  store_ascii(s, 0, 8, "TOCBLOCK");
  store_be<std::uint32_t>(s, 0x08, t.sequence1);
  store_be<std::uint32_t>(s, 0x10, t.sequence2);
  encode_bitmap(t.bitmaps[0], s, 0x24);
  encode_bitmap(t.bitmaps[1], s, 0x46);
}

// VMDB (libldm struct _vmdb; kernel ldm_parse_vmdb, ldm_validate_vmdb)
//  off   size field
//  0x00  4    "VMDB"
//  0x04  4    vblk_last: slots are numbered 0..vblk_last-1 counting the VMDB's own sector (5924)
//  0x08  4    VBLK size (128)                 kernel: != 0; size * vblk_last <= config bitmap bytes
//  0x0C  4    offset of the first VBLK (512)
//  0x10  2    update status (1 = consistent)  kernel: anything else is "not consistent"
//  0x12  2    version major (4)               kernel: exactly 4.10
//  0x14  2    version minor (10)
//  0x16  31   disk group name
//  0x35  64   disk group GUID, ASCII
//  0x75  8    committed sequence              libldm: must be equal on every disk of a group
//  0x7D  8    pending sequence
//  0x85  16   committed volume, component, partition, disk record counts (libldm checks them)
//  0x95  12   zeros
//  0xA1  16   pending counts
//  0xB1  12   zeros
//  0xBD  8    last access (FILETIME)
Vmdb decode_vmdb(ByteSpan s, std::uint64_t off, std::uint64_t area_bytes) {
  if (s.size() < 0xC5) throw FormatError("VMDB sector is too short", off);
  if (!matches_ascii(s, 0, "VMDB")) throw FormatError("no VMDB magic where the TOCBLOCK's config bitmap starts", off);
  Vmdb v;
  v.vblk_last = load_be<std::uint32_t>(s, 0x04);
  v.vblk_size = load_be<std::uint32_t>(s, 0x08);
  v.first_offset = load_be<std::uint32_t>(s, 0x0C);
  v.status = load_be<std::uint16_t>(s, 0x10);
  v.version_major = load_be<std::uint16_t>(s, 0x12);
  v.version_minor = load_be<std::uint16_t>(s, 0x14);
  v.group_name = load_ascii(s, 0x16, 31);
  v.group_guid = load_ascii(s, 0x35, 64);
  v.committed_seq = load_be<std::uint64_t>(s, 0x75);
  v.pending_seq = load_be<std::uint64_t>(s, 0x7D);
  for (int i = 0; i < 4; ++i) {
    v.committed[i] = load_be<std::uint32_t>(s, 0x85 + 4 * i);
    v.pending[i] = load_be<std::uint32_t>(s, 0xA1 + 4 * i);
  }
  v.last_access = load_be<std::uint64_t>(s, 0xBD);
  if (v.version_major != 4 || v.version_minor != 10)
    throw FormatError(fmt::format("VMDB version {}.{}, expected 4.10", v.version_major, v.version_minor), off + 0x12);
  if (v.vblk_size < 32 || v.vblk_size > 4096 || v.vblk_size % 16 != 0)
    throw FormatError(fmt::format("VMDB VBLK size {} is impossible", v.vblk_size), off + 0x08);
  if (v.first_offset == 0 || v.first_offset % v.vblk_size != 0)
    throw FormatError(fmt::format("VMDB first VBLK offset {} is not a whole number of {}-byte slots", v.first_offset, v.vblk_size), off + 0x0C);
  // Kernel ldm_parse_vmdb: the slots must fit in the config bitmap (vblk_size * vblk_last).
  if (std::uint64_t(v.vblk_last) * v.vblk_size > area_bytes)
    throw FormatError(fmt::format("VMDB says {} slots of {} bytes, past the {}-byte config bitmap", v.vblk_last, v.vblk_size,
                                  area_bytes), off + 4);
  if (v.first_offset / v.vblk_size >= v.vblk_last)
    throw FormatError(fmt::format("VMDB has no VBLK slots: the first, at byte {}, lies past the last ({})", v.first_offset, v.vblk_last),
                      off + 0x0C);
  return v;
}

void encode_vmdb(const Vmdb& v, MutableByteSpan s) {
  std::fill(s.begin(), s.end(), std::byte{0});
  store_ascii(s, 0, 4, "VMDB");
  store_be<std::uint32_t>(s, 0x04, v.vblk_last);
  store_be<std::uint32_t>(s, 0x08, v.vblk_size);
  store_be<std::uint32_t>(s, 0x0C, v.first_offset);
  store_be<std::uint16_t>(s, 0x10, v.status);
  store_be<std::uint16_t>(s, 0x12, v.version_major);
  store_be<std::uint16_t>(s, 0x14, v.version_minor);
  store_ascii(s, 0x16, 31, v.group_name);
  store_ascii(s, 0x35, 64, v.group_guid);
  store_be<std::uint64_t>(s, 0x75, v.committed_seq);
  store_be<std::uint64_t>(s, 0x7D, v.pending_seq);
  for (int i = 0; i < 4; ++i) {
    store_be<std::uint32_t>(s, 0x85 + 4 * i, v.committed[i]);
    store_be<std::uint32_t>(s, 0xA1 + 4 * i, v.pending[i]);
  }
  store_be<std::uint64_t>(s, 0xBD, v.last_access);
}

}  // namespace bootmirror::ldm::detail

// Which PRIVHEAD to trust. Every dynamic disk keeps three byte-identical copies (checked on all 19
// Windows images): the primary (MBR: LBA 6; GPT: the LDM metadata partition's last LBA) and two in
// the config area, at +1856 and +2047 (PRIVHEAD 0x28 and 0x20; the kernel's OFF_PRIV2, OFF_PRIV3).
// On GPT the primary is the +2047 copy. libldm reads only the primary (_read_privhead_mbr,
// _read_privhead_gpt); the kernel (ldm_validate_privheads) needs the primary and +1856 to agree on
// the version, the logical disk, the config area and the disk GUID, and tolerates a bad +2047.
// We use the primary when it is valid, else the first valid copy, and report the others.
//
// Without a valid primary the config area is where Windows puts it: the last MiB of an MBR disk,
// the metadata partition of a GPT disk. A copy found there counts only if it points back to the
// config area it was found in.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

std::string Damage::describe() const { return fmt::format("{} at byte {:#x}: {}", structure, offset, problem); }

namespace detail {


FormatError on_device(const std::string& device_name, const FormatError& e) { return e.within(device_name); }

Damage damage_of(const char* structure, const FormatError& e, std::uint64_t fallback) {
  return {structure, e.offset().value_or(fallback), e.description()};
}

namespace {

struct Place {
  Scheme scheme;
  std::uint64_t primary_lba;
  std::uint64_t config_start;  // where Windows puts the config area on this disk
  std::vector<gpt::Partition> gpt_partitions;  // used entries (GPT only)
};

Place locate(BlockDevice& dev) {
  const std::uint32_t ss = dev.sector_size();
  const ConfigLayout L = layout_for(ss);
  if (dev.sector_count() < L.config_size + 8) throw NotDynamic(fmt::format("not a dynamic disk: {} is too small", dev.name()), 0);
  const SectorRead mbr(dev, 0, 512);
  if (load_le<std::uint16_t>(mbr, 510) != 0xAA55) throw NotDynamic("not a dynamic disk: no MBR signature 55 AA", 510);
  const std::uint8_t type = std::uint8_t(mbr.span()[0x1BE + 4]);
  if (type == 0x42) return {Scheme::mbr, 6, dev.sector_count() - L.config_size, {}};
  if (type == 0xEE) {
    // The primary copy, or the backup when the primary is damaged; libldm reads only the primary
    // (gpt.c gpt_open_secsize). The backup's health is gpt::verify's to report, not a reader's.
    gpt::EntryArray table = gpt::read_entries(dev);
    for (const gpt::Partition& e : table.used)
      if (e.kind() == gpt::Kind::ldm_metadata) {
        if (e.last_lba >= dev.sector_count() || e.first_lba > e.last_lba)
          throw FormatError(fmt::format("the LDM metadata partition (LBA {}-{}) lies outside the {}-sector disk", e.first_lba,
                                        e.last_lba, dev.sector_count()), table.lba * ss);
        return {Scheme::gpt, e.last_lba, e.first_lba, std::move(table.used)};
      }
    throw NotDynamic("not a dynamic disk: the GPT has no LDM metadata partition", table.lba * ss);
  }
  throw NotDynamic(fmt::format("not a dynamic disk: MBR partition slot 0 has type {:#04x}, not 0x42 or 0xee", type), 0x1BE + 4);
}

// The copy at `lba`, checked against the device: FormatError with the offset of what is wrong.
PrivHead read_copy(BlockDevice& dev, Scheme scheme, std::uint64_t lba) {
  const std::uint32_t ss = dev.sector_size();
  const std::uint64_t off = lba * ss;
  const std::uint64_t sectors = dev.sector_count();
  PrivHead ph = decode_privhead(SectorRead(dev, off, ss), off);
  if (ph.config_size < 32 || ph.config_size > (64u << 20) / ss)
    throw FormatError(fmt::format("PRIVHEAD config size of {} sectors is impossible", ph.config_size), off + 0x133);
  if (ph.config_start >= sectors || ph.config_size > sectors - ph.config_start)
    throw FormatError(fmt::format("the LDM database (sectors {}+{}) extends past the end of the disk ({} sectors)", ph.config_start,
                                  ph.config_size, sectors), off + 0x12B);
  if (ph.logical_disk_start >= sectors || ph.logical_disk_size > sectors - ph.logical_disk_start)
    throw FormatError(fmt::format("PRIVHEAD logical disk (sectors {}+{}) extends past the end of the disk ({} sectors)",
                                  ph.logical_disk_start, ph.logical_disk_size, sectors), off + 0x11B);
  // Kernel ldm_parse_privhead: on MBR the logical disk ends before the database.
  if (scheme == Scheme::mbr && ph.logical_disk_start + ph.logical_disk_size > ph.config_start)
    throw FormatError(fmt::format("PRIVHEAD logical disk (sectors {}+{}) overlaps the database at sector {}", ph.logical_disk_start,
                                  ph.logical_disk_size, ph.config_start), off + 0x11B);
  return ph;
}

// The kernel's ldm_compare_privheads fields, and the group the disk belongs to.
std::string disagreement(const PrivHead& a, const PrivHead& b) {
  if (a.version_major != b.version_major || a.version_minor != b.version_minor) return "version";
  if (a.logical_disk_start != b.logical_disk_start || a.logical_disk_size != b.logical_disk_size) return "logical disk";
  if (a.config_start != b.config_start || a.config_size != b.config_size) return "config area";
  if (a.disk_guid != b.disk_guid) return "disk GUID";
  if (a.group_guid != b.group_guid) return "disk group GUID";
  return "";
}

}  // namespace

const PrivHead& FoundPrivHead::usable() const {
  if (privhead) return *privhead;
  // No copy failed, so there was a valid one: read_database_into has moved it into a database.
  if (damage.empty()) throw Error("find_privhead's PRIVHEAD was moved into a database: read it there");
  const Damage& first = damage.front();
  throw FormatError(fmt::format("no valid PRIVHEAD in any of its {} places; the first: {}", damage.size(), first.problem), first.offset);
}

FoundPrivHead find_privhead(BlockDevice& dev, Copies copies) {
  Place place = locate(dev);
  const std::uint32_t ss = dev.sector_size();
  const ConfigLayout L = layout_for(ss);
  FoundPrivHead found;
  found.scheme = place.scheme;
  found.gpt_partitions = std::move(place.gpt_partitions);
  std::vector<std::pair<std::uint64_t, PrivHead>> valid;
  auto try_copy = [&](std::uint64_t lba, bool in_config, std::uint64_t config_start) {
    for (const auto& [seen, ph] : valid)
      if (seen == lba) return;
    try {
      PrivHead ph = read_copy(dev, place.scheme, lba);
      if (in_config && ph.config_start != config_start)
        throw FormatError(fmt::format("PRIVHEAD copy in the config area at sector {} points to a config area at sector {}",
                                      config_start, ph.config_start), lba * ss + 0x12B);
      valid.emplace_back(lba, std::move(ph));
    } catch (const FormatError& e) {
      found.damage.push_back(damage_of("PRIVHEAD", e, lba * ss));
    }
  };
  // libldm reads the config area wherever the primary says, on GPT too.
  try_copy(place.primary_lba, false, 0);
  // The copies of the config area the primary points to, or of Windows' place for it.
  const std::uint64_t config = valid.empty() ? place.config_start : valid.front().second.config_start;
  for (std::uint64_t at : {L.ph2, L.ph3}) {
    if (copies == Copies::first_valid && !valid.empty()) break;
    if (config + at < dev.sector_count() && config + at != place.primary_lba) try_copy(config + at, true, config);
  }
  if (valid.empty()) return found;
  found.lba = valid.front().first;
  found.privhead = std::move(valid.front().second);  // valid[0] is compared with no more below
  for (std::size_t i = 1; i < valid.size(); ++i) {
    std::string field = disagreement(*found.privhead, valid[i].second);
    if (!field.empty())
      found.damage.push_back({"PRIVHEAD", valid[i].first * ss,
                              fmt::format("disagrees on the {} with the PRIVHEAD at sector {}, which is used", field, found.lba)});
  }
  return found;
}

}  // namespace detail

bool is_dynamic(BlockDevice& device) {
  try {
    return detail::find_privhead(device, detail::Copies::first_valid).privhead.has_value();
  } catch (const FormatError&) {
    return false;
  }
}

std::string display_text(const std::string& bytes) { return utf8_or_replacement(bytes); }

}  // namespace bootmirror::ldm

#include "support/ldm_checks.h"

#include <set>

#include "bootmirror/dynamic.h"
#include "bootmirror/shell.h"
#include "ldm/codec.h"
#include "support/harness.h"

namespace bootmirror::fuzz {

namespace {

// The database's bytes, on a disk of its own (an MBR slot 0 of type 0x42, the PRIVHEAD at LBA 6,
// the config area where the PRIVHEAD says), read and encoded again.
void check_round_trip(const ldm::DiskDatabase& db) {
  if (db.scheme != ldm::Scheme::mbr) return;  // a GPT disk's database needs its partition table too
  ByteVector config;
  if (!attempt([&] { config = ldm::encode_config(db); })) return;
  const std::uint32_t ss = db.sector_size;
  const std::uint64_t end = db.privhead.config_start + db.privhead.config_size;
  if (db.privhead.config_start <= 6 || end * ss > (64ull << 20)) return;
  SectorOverlay disk(end * ss, ss);
  ByteVector mbr(ss);
  mbr[0x1BE + 4] = std::byte{0x42};
  store_le<std::uint16_t>(mbr, 510, 0xAA55);
  disk.write(0, mbr);
  ByteVector privhead(ss);
  ldm::detail::encode_privhead(db.privhead, privhead);
  disk.write(6 * std::uint64_t(ss), privhead);
  disk.write(db.privhead.config_start * ss, config);
  std::optional<ldm::DiskDatabase> again;
  require(attempt([&] { again = ldm::read_database(disk); }), "an encoded LDM database decodes");
  ByteVector config2;
  require(attempt([&] { config2 = ldm::encode_config(*again); }), "a re-read LDM database encodes");
  require(same_bytes(config2, config), "encoding a decoded LDM database is a projection");
}

void check_database(const ldm::DiskDatabase& db, const BlockDevice& device) {
  const ldm::PrivHead& ph = db.privhead;
  require(ph.logical_disk_start <= device.sector_count() && ph.logical_disk_size <= device.sector_count() - ph.logical_disk_start,
          "the logical disk a PRIVHEAD describes lies inside its device");
}

void check_group(const ldm::Group& group, const std::vector<DevicePtr>& devices) {
  for (const ldm::GroupDisk& d : group.disks) {
    if (d.device < 0) continue;
    require(std::size_t(d.device) < devices.size(), "a group disk's device index is one of the devices");
    const std::uint64_t sectors = devices[std::size_t(d.device)]->sector_count();
    require(d.data_start <= sectors && d.data_size <= sectors - d.data_start, "a group disk's data area lies inside its device");
  }
}

void check_scan(const ldm::Scan& scan, std::size_t devices) {
  std::set<std::size_t> seen;
  auto once = [&](std::size_t i) {
    require(i < devices && seen.insert(i).second, "ldm::scan puts each device in one category at most");
  };
  for (std::size_t i : scan.basic) once(i);
  for (std::size_t i : scan.foreign) once(i);
  for (const auto& [i, why] : scan.unreadable) once(i);
  if (scan.group)
    for (const ldm::GroupDisk& d : scan.group->disks)
      if (d.device >= 0) once(std::size_t(d.device));
}

// The disks attached to an in-memory Machine whose group `group` is (as machine.json records it
// once the machine made a disk dynamic), as its volume list and diskpart see them. A volume's
// device (the Python Volume.device()) must lie inside the data area of its disk.
void check_machine(const std::vector<std::shared_ptr<SectorOverlay>>& disks, const ldm::Group& own) {
  Machine machine;
  for (const auto& d : disks) machine.attach(d);
  machine.section("ldm") = Json(Json::Object{{"group", own.guid()}});
  std::optional<dynamic::MachineGroup> group;
  attempt([&] { group = dynamic::group_of(machine); });
  for (std::size_t v = 0; group && v < group->group.volumes.size(); ++v) {
    std::shared_ptr<mirror::VolumeDevice> device;
    attempt([&] { device = dynamic::open_volume(machine, *group, v); });
    for (std::size_t p = 0; device && p < device->plex_count(); ++p)
      for (const mirror::Run& run : device->layout(p).runs) {
        if (run.device >= group->devices.size()) continue;  // a missing disk
        const ldm::GroupDisk* disk = nullptr;
        for (const ldm::GroupDisk& d : group->group.disks)
          if (d.device == int(run.device)) disk = &d;
        require(disk != nullptr, "a volume's run lies on one of its group's disks");
        const std::uint64_t ss = disk->sector_size, start = run.device_offset / ss, end = start + run.length / ss;
        require(start >= disk->data_start && end - disk->data_start <= disk->data_size,
                "a volume's runs lie inside their disk's data area");
      }
    attempt([&] { dynamic::file_system_of(machine, *group, v); });
  }
  shell::Diskpart diskpart(machine);
  for (const char* line : {"list volume", "select volume 0", "detail volume"})
    diskpart.execute(line);
}

}  // namespace

std::optional<ldm::Group> read_dynamic_disks(const std::vector<std::shared_ptr<SectorOverlay>>& disks) {
  std::vector<DevicePtr> devices(disks.begin(), disks.end());
  std::vector<std::uint64_t> writes;
  for (const auto& d : disks) writes.push_back(d->writes());

  for (const auto& d : disks) {
    std::optional<ldm::DiskDatabase> db;
    attempt([&] { db = ldm::read_database(*d); });
    if (!db) continue;
    check_database(*db, *d);
    check_round_trip(*db);
  }
  std::optional<ldm::Group> group;
  attempt([&] { group = ldm::read_group(devices); });
  std::optional<ldm::Scan> scan;
  attempt([&] { scan = ldm::scan(devices); });
  if (scan) check_scan(*scan, devices.size());
  if (group) {
    check_group(*group, devices);
    check_machine(disks, *group);
  }
  for (std::size_t i = 0; i < disks.size(); ++i) require(disks[i]->writes() == writes[i], "reading dynamic disks never writes");
  return group;
}

void commit_round_trip(const ldm::Group& group, const std::vector<std::shared_ptr<SectorOverlay>>& disks) {
  if (group.volumes.empty()) return;
  std::vector<DevicePtr> copies;
  for (const auto& d : disks) copies.push_back(std::make_shared<SectorOverlay>(*d));
  ldm::Group changed = group;
  const std::optional<std::string> hint = group.volumes[0].record.drive_hint == "Q:" ? "R:" : "Q:";
  if (!attempt([&] {
        ldm::set_drive_hint(changed, 0, hint);
        ldm::commit(changed, copies);
      }))
    return;
  std::optional<ldm::Group> back;
  require(attempt([&] { back = ldm::read_group(copies); }), "a group the engine committed reads back");
  // Above every sequence the disks held, pending ones included (commit.cpp), so at least one up.
  require(back->committed_seq > group.committed_seq, "a commit raises the committed sequence");
  const std::uint32_t id = group.volumes[0].record.id;
  bool found = false;
  for (const ldm::GroupVolume& v : back->volumes)
    if (v.record.id == id) found = v.record.drive_hint == hint;
  require(found, "a committed drive-letter hint reads back");
}

}  // namespace bootmirror::fuzz

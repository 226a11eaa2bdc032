// bootmirror._core.ldm: the LDM engine's group model and its operations, bound as they are.
#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {
using namespace bootmirror::ldm;

Layout to_layout(const std::string& name) {
  for (Layout l : {Layout::simple, Layout::spanned, Layout::striped, Layout::mirrored, Layout::raid5})
    if (name == layout_name(l)) return l;
  throw UsageError("layout must be 'simple', 'spanned', 'striped' or 'mirrored', not '" + name + "'");
}
const char* scheme_name(Scheme s) { return s == Scheme::gpt ? "gpt" : "mbr"; }

// Text from disk as Python str (ill-formed UTF-8 as U+FFFD) and as the bytes on disk.
py::str text(const std::string& bytes) { return py::str(display_text(bytes)); }
py::bytes raw(const std::string& bytes) { return py::bytes(bytes); }
std::optional<py::str> text(const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  return text(*bytes);
}

// One record of a list by its id, with its index, copied: what the Python layer looks up on each
// property access. Copying the whole list for that made showing a group quadratic in its records.
template <class Record, class IdOf>
std::optional<std::pair<std::size_t, Record>> by_id(const std::vector<Record>& records, std::uint64_t id, IdOf id_of) {
  for (std::size_t i = 0; i < records.size(); ++i)
    if (id_of(records[i]) == id) return std::pair{i, records[i]};
  return std::nullopt;
}
}  // namespace

void bind_ldm(py::module_& m) {
  py::module_ l = m.def_submodule("ldm", "Windows LDM (dynamic disk) databases");

  py::class_<GroupDisk>(l, "Disk", "A disk record of the group, with where it is found.")
      .def_property_readonly("id", [](const GroupDisk& d) { return d.record.id; })
      .def_property_readonly("name", [](const GroupDisk& d) { return text(d.record.name); })
      .def_property_readonly("name_bytes", [](const GroupDisk& d) { return raw(d.record.name); })
      .def_property_readonly("guid", [](const GroupDisk& d) { return d.record.guid.to_string(); })
      .def_property_readonly("alt_name", [](const GroupDisk& d) { return text(d.record.alt_name); })
      .def_property_readonly("device", [](const GroupDisk& d) { return d.device; })
      .def_property_readonly("present", [](const GroupDisk& d) { return d.device >= 0; })
      .def_readonly("data_start", &GroupDisk::data_start)
      .def_readonly("data_size", &GroupDisk::data_size)
      .def_readonly("config_start", &GroupDisk::config_start)
      .def_readonly("config_size", &GroupDisk::config_size)
      .def_readonly("committed_seq", &GroupDisk::committed_seq)
      .def_readonly("sector_size", &GroupDisk::sector_size)
      .def_readonly("reserved", &GroupDisk::reserved)
      .def_property_readonly("scheme", [](const GroupDisk& d) { return scheme_name(d.scheme); });

  py::class_<GroupVolume>(l, "Volume", "A volume record with its layout and links.")
      .def_property_readonly("id", [](const GroupVolume& v) { return v.record.id; })
      .def_property_readonly("name", [](const GroupVolume& v) { return text(v.record.name); })
      .def_property_readonly("name_bytes", [](const GroupVolume& v) { return raw(v.record.name); })
      .def_property_readonly("guid", [](const GroupVolume& v) { return v.record.guid.to_string(); })
      .def_property_readonly("number", [](const GroupVolume& v) { return v.record.number; })
      .def_property_readonly("size", [](const GroupVolume& v) { return v.record.size; })
      .def_property_readonly("state", [](const GroupVolume& v) { return text(v.record.state); })
      .def_property_readonly("type_name", [](const GroupVolume& v) { return text(v.record.type_name); })
      .def_property_readonly("partition_type", [](const GroupVolume& v) { return v.record.partition_type; })
      .def_property_readonly("drive_hint", [](const GroupVolume& v) { return text(v.record.drive_hint); })
      .def_property_readonly("layout", [](const GroupVolume& v) { return std::string(layout_name(v.layout)); })
      .def_property_readonly("components", [](const GroupVolume& self) { return self.components; })
      .def_property_readonly("partitions", [](const GroupVolume& self) { return self.partitions; });

  py::class_<ComponentRecord>(l, "Component", "A plex: a component record.")
      .def_readonly("id", &ComponentRecord::id)
      .def_property_readonly("name", [](const ComponentRecord& c) { return text(c.name); })
      .def_property_readonly("name_bytes", [](const ComponentRecord& c) { return raw(c.name); })
      .def_property_readonly("state", [](const ComponentRecord& c) { return text(c.state); })
      .def_readonly("type", &ComponentRecord::type)
      .def_readonly("volume_id", &ComponentRecord::volume_id)
      .def_readonly("partition_count", &ComponentRecord::partition_count)
      .def_property_readonly("chunk_size", [](const ComponentRecord& c) { return c.stripe ? c.stripe->first : 0; })
      .def_property_readonly("columns", [](const ComponentRecord& c) { return c.stripe ? c.stripe->second : 0; });

  py::class_<PartitionRecord>(l, "Partition", "A partition record: an extent of a disk.")
      .def_readonly("id", &PartitionRecord::id)
      .def_property_readonly("name", [](const PartitionRecord& p) { return text(p.name); })
      .def_property_readonly("name_bytes", [](const PartitionRecord& p) { return raw(p.name); })
      .def_readonly("start", &PartitionRecord::start)
      .def_readonly("volume_offset", &PartitionRecord::volume_offset)
      .def_readonly("size", &PartitionRecord::size)
      .def_readonly("disk_id", &PartitionRecord::disk_id)
      .def_readonly("component_id", &PartitionRecord::component_id)
      .def_readonly("index", &PartitionRecord::index);

  // The record lists come back as copies (snapshots): references into a std::vector would dangle
  // once a later edit of the group grows it.
  py::class_<Group>(l, "Group", "A disk group as read from its disks, or being built.")
      .def_property_readonly("name", [](const Group& g) { return text(g.record.name); })
      .def_property_readonly("name_bytes", [](const Group& g) { return raw(g.record.name); })
      .def_property_readonly("guid", [](const Group& g) { return text(g.record.guid); })
      .def_property_readonly("id", [](const Group& g) { return g.record.id; })
      .def_readonly("committed_seq", &Group::committed_seq)
      .def_property_readonly("disks", [](const Group& self) { return self.disks; })
      .def_property_readonly("volumes", [](const Group& self) { return self.volumes; })
      .def_property_readonly("components", [](const Group& self) { return self.components; })
      .def_property_readonly("partitions", [](const Group& self) { return self.partitions; })
      .def("disk_by_id", [](const Group& g, std::uint64_t id) { return by_id(g.disks, id, [](const GroupDisk& d) { return d.record.id; }); },
           py::arg("id"), "(index, disk) of the disk record with this id, or None")
      .def("volume_by_id", [](const Group& g, std::uint64_t id) { return by_id(g.volumes, id, [](const GroupVolume& v) { return v.record.id; }); },
           py::arg("id"), "(index, volume) of the volume record with this id, or None")
      .def("component_by_id", [](const Group& g, std::uint64_t id) { return by_id(g.components, id, [](const ComponentRecord& c) { return c.id; }); },
           py::arg("id"), "(index, component) of the component record with this id, or None")
      .def("partition_by_id", [](const Group& g, std::uint64_t id) { return by_id(g.partitions, id, [](const PartitionRecord& p) { return p.id; }); },
           py::arg("id"), "(index, partition) of the partition record with this id, or None")
      .def("__copy__", [](const Group& self) { return self; });

  py::class_<Damage>(l, "Damage", "A damaged copy of an LDM structure: what, where (byte offset), what is wrong.")
      .def_readonly("structure", &Damage::structure)
      .def_readonly("offset", &Damage::offset)
      .def_property_readonly("problem", [](const Damage& d) { return text(d.problem); })
      .def("__repr__", [](const Damage& d) { return text("<ldm.Damage " + d.describe() + ">"); });
  py::class_<Health>(l, "Health", "What verify() found on one disk.")
      .def_readonly("is_dynamic", &Health::is_dynamic)
      .def_readonly("readable", &Health::readable)
      .def_readonly("damage", &Health::damage)
      .def_property_readonly("problems", [](const Health& h) {
        std::vector<py::str> out;
        for (const auto& p : h.problems()) out.push_back(text(p));
        return out;
      })
      .def_property_readonly("clean", &Health::clean);
  l.def("verify", [](BlockDevice& d) { py::gil_scoped_release r; return verify(d); }, py::arg("device"));
  l.def("is_dynamic", [](BlockDevice& d) { py::gil_scoped_release r; return is_dynamic(d); }, py::arg("device"));
  l.def("plex_problem", &plex_problem, py::arg("group"), py::arg("component_index"));
  l.def("volume_status", &volume_status, py::arg("group"), py::arg("volume_index"));
  l.def("partition_location", &partition_location, py::arg("group"), py::arg("partition_index"));
  l.def("size_bytes", &size_bytes, py::arg("group"), py::arg("volume_index"));

  py::class_<Scan>(l, "Scan", "A machine's disks sorted into its disk group, basic and foreign disks.")
      .def_property_readonly("group", [](const Scan& self) { return self.group; })
      .def_property_readonly("basic", [](const Scan& self) { return self.basic; })
      .def_property_readonly("foreign", [](const Scan& self) { return self.foreign; })
      .def_property_readonly("unreadable", [](const Scan& self) {
        // (device index, message, byte offset or None)
        py::list out;
        for (std::size_t i = 0; i < self.unreadable.size(); ++i)
          out.append(py::make_tuple(self.unreadable[i].first, text(self.unreadable[i].second),
                                    i < self.unreadable_offsets.size() ? py::cast(self.unreadable_offsets[i]) : py::none()));
        return out;
      });
  l.def("scan", [](const std::vector<DevicePtr>& devices, const std::string& preferred) {
        py::gil_scoped_release release;
        return scan(devices, preferred);
      }, py::arg("devices"), py::arg("preferred_guid") = "");
  l.def("read_group", [](const std::vector<DevicePtr>& devices) {
        py::gil_scoped_release release;
        return read_group(devices);
      }, py::arg("devices"));
  l.def("new_group", &new_group, py::arg("name"));
  l.def("add_disk", &add_disk, py::arg("group"), py::arg("device"), py::arg("device_index"));
  l.def(
      "add_volume",
      [](Group& g, const std::string& name, const std::string& layout,
         const std::vector<std::tuple<std::size_t, std::uint64_t, std::uint64_t>>& extents, std::uint64_t chunk,
         std::optional<std::string> hint) { return add_volume(g, name, to_layout(layout), extents, chunk, hint); },
      py::arg("group"), py::arg("name"), py::arg("layout"), py::arg("extents"), py::arg("chunk_sectors") = 128,
      py::arg("drive_hint") = py::none());
  l.def("add_mirror", &add_mirror, py::arg("group"), py::arg("volume_index"), py::arg("disk_index"), py::arg("start"));
  l.def("remove_disk", &remove_disk, py::arg("group"), py::arg("disk_index"));
  l.def("remove_volume", &remove_volume, py::arg("group"), py::arg("volume_index"));
  l.def("break_mirror", &break_mirror, py::arg("group"), py::arg("volume_index"), py::arg("disk_index"));
  l.def("free_extents", &free_extents, py::arg("group"), py::arg("disk_index"));
  l.def("stale_disks", &stale_disks, py::arg("group"), py::arg("devices"), py::call_guard<py::gil_scoped_release>(),
        "Indexes of the present disks an interrupted commit left behind.");
  l.def(
      "repairs_needed",
      [](const Group& g, const std::vector<DevicePtr>& devices) {
        std::vector<DiskRepair> repairs;
        {
          py::gil_scoped_release release;
          repairs = repairs_needed(g, devices);
        }
        py::list out;
        for (const DiskRepair& r : repairs) out.append(py::make_tuple(r.disk, r.reasons));
        return out;
      },
      py::arg("group"), py::arg("devices"), "The present disks whose database is damaged or stale: [(disk index, reasons)].");
  l.def(
      "repair",
      [](Group& g, const std::vector<DevicePtr>& devices, const std::vector<std::size_t>& disks) {
        py::gil_scoped_release release;
        std::vector<DiskRepair> repairs;
        for (std::size_t i : disks) repairs.push_back({i, {}});
        repair(g, devices, repairs);
      },
      py::arg("group"), py::arg("devices"), py::arg("disks"), "Rewrite these disks' whole databases from the group, in one commit.");
  l.def("commit", [](Group& g, const std::vector<DevicePtr>& devices) {
        py::gil_scoped_release release;
        commit(g, devices);
      }, py::arg("group"), py::arg("devices"));
  l.def("reencode_config", [](const DevicePtr& device) {
        ByteVector out;
        {
          py::gil_scoped_release release;
          out = encode_config(read_database(*device));
        }
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
      }, py::arg("device"), "Decode a disk's LDM database and encode it again (for round-trip proofs).");
  l.def("config_location", [](const DevicePtr& device) {
        DiskDatabase db = read_database(*device);
        return std::make_tuple(db.privhead.config_start * db.sector_size, db.privhead.config_size * db.sector_size);
      }, py::arg("device"), "(byte offset, byte length) of a disk's LDM database.");
}

}  // namespace bootmirror::bindings

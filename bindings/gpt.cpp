#include "bootmirror/gpt.h"
#include "bootmirror/partitioning.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

partitioning::NewKind to_new_kind(const std::string& kind) {
  if (kind == "efi") return partitioning::NewKind::efi;
  if (kind == "msr") return partitioning::NewKind::msr;
  if (kind == "primary" || kind == "basic") return partitioning::NewKind::primary;
  throw UsageError("partition kind must be 'efi', 'msr' or 'primary', not '" + kind + "'");
}

std::optional<std::uint64_t> optional_size(const py::object& value, const char* what) {
  if (value.is_none()) return std::nullopt;
  return to_size(value, what);
}

const char* style_name(partitioning::Style style) {
  switch (style) {
    case partitioning::Style::gpt: return "gpt";
    case partitioning::Style::mbr: return "mbr";
    default: return "raw";
  }
}

}  // namespace

void bind_gpt(py::module_& parent) {
  py::module_ m = parent.def_submodule("gpt", "GUID Partition Tables and Windows-style partitioning.");

  py::class_<gpt::Partition>(m, "Partition", "One slot of a GPT entry array.")
      .def(py::init<>())
      .def_property(
          "type_guid", [](const gpt::Partition& p) { return p.type.to_string(); },
          [](gpt::Partition& p, const std::string& g) { p.type = Guid::parse(g); })
      .def_property(
          "unique_guid", [](const gpt::Partition& p) { return p.unique.to_string(); },
          [](gpt::Partition& p, const std::string& g) { p.unique = Guid::parse(g); })
      .def_property(
          "first_lba", [](const gpt::Partition& p) { return p.first_lba; },
          [](gpt::Partition& p, const py::int_& lba) { p.first_lba = to_unsigned(lba, "first_lba"); })
      .def_property(
          "last_lba", [](const gpt::Partition& p) { return p.last_lba; },
          [](gpt::Partition& p, const py::int_& lba) { p.last_lba = to_unsigned(lba, "last_lba"); })
      .def_property(
          "attributes", [](const gpt::Partition& p) { return p.attributes; },
          [](gpt::Partition& p, const py::int_& bits) { p.attributes = to_unsigned(bits, "attributes"); })
      .def_property("name", &gpt::Partition::name_utf8, &gpt::Partition::set_name)
      .def_property_readonly("used", &gpt::Partition::used)
      .def_property_readonly("kind", [](const gpt::Partition& p) { return std::string(gpt::kind_key(p.kind())); })
      .def_property_readonly("type_name", [](const gpt::Partition& p) { return std::string(gpt::kind_name(p.kind())); });

  py::class_<gpt::Table>(m, "Table", "A whole GPT: what both copies describe.")
      .def_static("create", &gpt::Table::create, py::arg("sector_count"), py::arg("sector_size") = 512)
      .def_readonly("sector_size", &gpt::Table::sector_size)
      .def_readonly("sector_count", &gpt::Table::sector_count)
      .def_property(
          "disk_guid", [](const gpt::Table& t) { return t.disk_guid.to_string(); },
          [](gpt::Table& t, const std::string& g) { t.disk_guid = Guid::parse(g); })
      .def_readonly("revision", &gpt::Table::revision)
      .def_readonly("first_usable_lba", &gpt::Table::first_usable_lba)
      .def_readonly("last_usable_lba", &gpt::Table::last_usable_lba)
      .def_readonly("backup_header_lba", &gpt::Table::backup_header_lba)
      .def_readonly("primary_entries_lba", &gpt::Table::primary_entries_lba)
      .def_readonly("backup_entries_lba", &gpt::Table::backup_entries_lba)
      .def_readonly("entry_size", &gpt::Table::entry_size)
      .def_property_readonly("entry_count", [](const gpt::Table& t) { return t.entries.size(); })
      .def_property_readonly("entries", [](const gpt::Table& t) { return t.entries; }, "A copy of every slot.")
      .def(
          "set_entry",
          [](gpt::Table& t, const py::int_& slot_arg, const gpt::Partition& p) {
            const std::size_t slot = to_unsigned(slot_arg, "slot");
            if (slot >= t.entries.size()) throw UsageError("slot " + std::to_string(slot) + " is past the entry array");
            t.entries.at(slot) = p;
          },
          py::arg("slot"), py::arg("partition"))
      .def("in_offset_order", &gpt::Table::in_offset_order)
      .def("compact", &gpt::Table::compact)
      .def("check", &gpt::Table::check);

  py::class_<gpt::CopyState>(m, "CopyState")
      .def_readonly("header_found", &gpt::CopyState::header_found)
      .def_readonly("header_valid", &gpt::CopyState::header_valid)
      .def_readonly("array_valid", &gpt::CopyState::array_valid)
      .def_readonly("header_lba", &gpt::CopyState::header_lba)
      .def_readonly("problem", &gpt::CopyState::problem)
      .def_property_readonly("valid", &gpt::CopyState::valid);

  py::class_<gpt::Health>(m, "Health")
      .def_readonly("is_gpt", &gpt::Health::is_gpt)
      .def_readonly("protective_mbr", &gpt::Health::protective_mbr)
      .def_readonly("primary", &gpt::Health::primary)
      .def_readonly("backup", &gpt::Health::backup)
      .def_readonly("backup_at_end", &gpt::Health::backup_at_end)
      .def_readonly("copies_agree", &gpt::Health::copies_agree)
      .def_readonly("problems", &gpt::Health::problems)
      .def_property_readonly("clean", &gpt::Health::clean);

  m.def("read", [](BlockDevice& d) { py::gil_scoped_release r; return gpt::read(d); }, py::arg("device"));
  m.def("write", [](BlockDevice& d, const gpt::Table& t) { py::gil_scoped_release r; gpt::write(d, t); },
        py::arg("device"), py::arg("table"));
  m.def("verify", [](BlockDevice& d) { py::gil_scoped_release r; return gpt::verify(d); }, py::arg("device"));
  m.def("repair", [](BlockDevice& d, bool fix_grown) { py::gil_scoped_release r; return gpt::repair(d, fix_grown).actions; },
        py::arg("device"), py::arg("fix_grown") = true);
  m.def("kind_of", [](const std::string& g) { return std::string(gpt::kind_key(gpt::kind_of(Guid::parse(g)))); });

  m.def("style", [](BlockDevice& d) { py::gil_scoped_release r; return style_name(partitioning::style_of(d)); },
        py::arg("device"));
  m.def("partitions", [](BlockDevice& d) { py::gil_scoped_release r; return partitioning::partitions(d); },
        py::arg("device"));
  m.def("free_bytes", [](BlockDevice& d) { py::gil_scoped_release r; return partitioning::free_bytes(d); },
        py::arg("device"));
  m.def("msr_size_for", &partitioning::msr_size_for, py::arg("disk_bytes"));
  m.def("convert_gpt", [](BlockDevice& d) { py::gil_scoped_release r; partitioning::convert_gpt(d); }, py::arg("device"));
  m.def(
      "create_partition",
      [](BlockDevice& d, const std::string& kind, const py::object& size, const py::object& offset, const py::object& align) {
        partitioning::CreateRequest request{to_new_kind(kind), optional_size(size, "size"), optional_size(offset, "offset"),
                                            optional_size(align, "align")};
        py::gil_scoped_release r;
        return partitioning::create_partition(d, request);
      },
      py::arg("device"), py::arg("kind"), py::arg("size") = py::none(), py::arg("offset") = py::none(),
      py::arg("align") = py::none());
  m.def(
      "delete_partition",
      [](BlockDevice& d, const py::int_& number_arg, bool override_protection) {
        const std::size_t number = to_unsigned(number_arg, "partition number");
        py::gil_scoped_release r;
        partitioning::delete_partition(d, number, override_protection);
      },
      py::arg("device"), py::arg("number"), py::arg("override") = false);
  m.def("clean", [](BlockDevice& d) { py::gil_scoped_release r; partitioning::clean(d); }, py::arg("device"));
}

}  // namespace bootmirror::bindings

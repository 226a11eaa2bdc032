#include "bootmirror/nvram.h"
#include "bootmirror/unicode.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

using namespace bootmirror::nvram;

py::bytes to_bytes(ByteSpan bytes) { return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }

ByteVector copy_of(const py::buffer& data) {
  const BufferView view(data, false);
  return ByteVector(view.span().begin(), view.span().end());
}

std::u16string utf16(const WtfText& text) { return wtf8_to_utf16(text.value); }
WtfText wtf(std::u16string_view text) { return WtfText{utf16_to_wtf8(text)}; }

std::uint16_t to_u16(const py::int_& value, const char* what) { return std::uint16_t(to_unsigned(value, what, 0xFFFF)); }
std::uint32_t to_u32(const py::int_& value, const char* what) { return std::uint32_t(to_unsigned(value, what, 0xFFFFFFFF)); }

void bind_device_paths(py::module_& m) {
  py::class_<DevicePathNode>(m, "DevicePathNode", "One device path node: type, sub-type and the bytes after its header.")
      .def(py::init([](const py::int_& type, const py::int_& subtype, const py::buffer& data) {
             return DevicePathNode{std::uint8_t(to_unsigned(type, "type", 0xFF)), std::uint8_t(to_unsigned(subtype, "subtype", 0xFF)),
                                   copy_of(data)};
           }),
           py::arg("type"), py::arg("subtype"), py::arg("data") = py::bytes())
      .def_readonly("type", &DevicePathNode::type)
      .def_readonly("subtype", &DevicePathNode::subtype)
      .def_property_readonly("data", [](const DevicePathNode& n) { return to_bytes(n.data); })
      .def_property_readonly("text", [](const DevicePathNode& n) { return WtfText{node_to_text(n)}; },
                             "The node in the UEFI text form.")
      .def_property_readonly("hard_drive", [](const DevicePathNode& n) { return as_hard_drive(n); },
                             "The Hard Drive node's fields, or None for another kind of node.")
      .def_property_readonly("file_path", [](const DevicePathNode& n) -> std::optional<WtfText> {
            if (auto p = as_file_path(n)) return wtf(*p);
            return std::nullopt;
          }, "A File Path node's path, or None for another kind of node.")
      .def_static("from_file_path", [](const WtfText& path) { return file_path_node(utf16(path)); }, py::arg("path"))
      .def("__eq__", [](const DevicePathNode& a, const DevicePathNode& b) { return a == b; })
      .def("__str__", [](const DevicePathNode& n) { return WtfText{node_to_text(n)}; })
      .def("__repr__", [](const DevicePathNode& n) { return WtfText{"<DevicePathNode " + node_to_text(n) + ">"}; });

  py::class_<HardDrive>(m, "HardDrive", "A Media/Hard Drive device path node: a partition by number, place and signature.")
      .def_static("gpt", [](const py::int_& number, const py::int_& start, const py::int_& size, const std::string& guid) {
            return HardDrive::gpt(to_u32(number, "partition number"), to_unsigned(start, "start_lba"), to_unsigned(size, "size_lba"),
                                  Guid::parse(guid));
          }, py::arg("number"), py::arg("start_lba"), py::arg("size_lba"), py::arg("partition_guid"))
      .def_static("mbr", [](const py::int_& number, const py::int_& start, const py::int_& size, const py::int_& signature) {
            return HardDrive::mbr(to_u32(number, "partition number"), to_unsigned(start, "start_lba"), to_unsigned(size, "size_lba"),
                                  to_u32(signature, "disk signature"));
          }, py::arg("number"), py::arg("start_lba"), py::arg("size_lba"), py::arg("disk_signature"))
      .def_readonly("partition_number", &HardDrive::partition_number)
      .def_readonly("start_lba", &HardDrive::start_lba)
      .def_readonly("size_lba", &HardDrive::size_lba)
      .def_readonly("partition_format", &HardDrive::partition_format)
      .def_readonly("signature_type", &HardDrive::signature_type)
      .def_property_readonly("partition_guid", [](const HardDrive& hd) -> std::optional<std::string> {
            if (auto g = hd.partition_guid()) return g->to_string();
            return std::nullopt;
          })
      .def_property_readonly("mbr_signature", &HardDrive::mbr_signature)
      .def("node", &HardDrive::node)
      .def("__eq__", [](const HardDrive& a, const HardDrive& b) { return a == b; })
      .def("__repr__", [](const HardDrive& hd) { return WtfText{"<HardDrive " + node_to_text(hd.node()) + ">"}; });

  py::class_<DevicePath>(m, "DevicePath", "An EFI device path: its nodes, without the End node that closes it.")
      .def(py::init([](const std::vector<DevicePathNode>& nodes) { return DevicePath(nodes); }), py::arg("nodes") = py::list())
      .def_static("parse", [](const WtfText& text) { return DevicePath::parse(text.value); }, py::arg("text"),
                  "A device path from its UEFI text form, e.g. 'HD(1,GPT,<guid>,0x800,0x14000)/\\EFI\\BOOT\\BOOTX64.EFI'.")
      .def_static("decode", [](const py::buffer& data) { return DevicePath::decode(copy_of(data)); }, py::arg("data"),
                  "A device path from its bytes (through its End node); FormatError naming the offset.")
      .def("encode", [](const DevicePath& p) { return to_bytes(p.encode()); })
      .def_readonly("nodes", &DevicePath::nodes)
      .def_property_readonly("hard_drive", &DevicePath::hard_drive, "The first Hard Drive node, or None.")
      .def_property_readonly("file_path", [](const DevicePath& p) -> std::optional<WtfText> {
            if (auto f = p.file_path()) return wtf(*f);
            return std::nullopt;
          }, "The File Path nodes' path, or None.")
      .def("to_text", [](const DevicePath& p) { return WtfText{p.to_text()}; }, "The UEFI text form.")
      .def("__str__", [](const DevicePath& p) { return WtfText{p.to_text()}; })
      .def("__eq__", [](const DevicePath& a, const DevicePath& b) { return a == b; })
      .def("__repr__", [](const DevicePath& p) { return WtfText{"<DevicePath " + p.to_text() + ">"}; });
}

void bind_load_options(py::module_& m) {
  py::class_<WindowsOsOptions>(m, "WindowsOsOptions",
                               "WINDOWS_OS_OPTIONS: the OS load options and OS load path Windows keeps in a boot entry.")
      .def_static("efi", [](const WtfText& options, const DevicePath& path) { return WindowsOsOptions::efi(utf16(options), path); },
                  py::arg("os_load_options"), py::arg("os_load_path"))
      .def_static("decode", [](const py::buffer& data) { return WindowsOsOptions::decode(copy_of(data)); }, py::arg("data"))
      .def_static("present_in", [](const py::buffer& data) { return WindowsOsOptions::present_in(BufferView(data, false).span()); },
                  py::arg("optional_data"))
      .def("encode", [](const WindowsOsOptions& o) { return to_bytes(o.encode()); })
      .def_readonly("version", &WindowsOsOptions::version)
      .def_property_readonly("os_load_options", [](const WindowsOsOptions& o) { return wtf(o.os_load_options); })
      .def_readonly("os_load_path_type", &WindowsOsOptions::os_load_path_type)
      .def_property_readonly("os_load_path_bytes", [](const WindowsOsOptions& o) { return to_bytes(o.os_load_path_bytes); })
      .def_property_readonly("os_load_path", [](const WindowsOsOptions& o) { return o.os_load_path(); },
                             "The OS load path as a device path (FormatError unless it is of the EFI type).")
      .def("__eq__", [](const WindowsOsOptions& a, const WindowsOsOptions& b) { return a == b; });

  py::class_<LoadOption>(m, "LoadOption", "EFI_LOAD_OPTION: the value of a Boot#### variable.")
      .def(py::init([](const WtfText& description, const py::object& path, const py::int_& attributes, const py::buffer& optional) {
             LoadOption o;
             o.description = utf16(description);
             o.attributes = to_u32(attributes, "attributes");
             if (py::isinstance<DevicePath>(path)) o.file_paths.push_back(path.cast<DevicePath>());
             else if (py::isinstance<py::str>(path)) o.file_paths.push_back(DevicePath::parse(path.cast<WtfText>().value));
             else {
               try {
                 o.file_paths = path.cast<std::vector<DevicePath>>();
               } catch (const py::cast_error&) {
                 throw UsageError(fmt::format("a device path is a DevicePath, its text or a list of DevicePaths, not {}",
                                              py::str(path.get_type()).cast<std::string>()));
               }
             }
             o.optional_data = copy_of(optional);
             return o;
           }),
           py::arg("description"), py::arg("device_path"), py::arg("attributes") = kLoadOptionActive,
           py::arg("optional_data") = py::bytes())
      .def_static("decode", [](const py::buffer& data) { return LoadOption::decode(copy_of(data)); }, py::arg("data"))
      .def("encode", [](const LoadOption& o) { return to_bytes(o.encode()); })
      .def_readonly("attributes", &LoadOption::attributes)
      .def_property_readonly("active", &LoadOption::active)
      .def_property_readonly("description", [](const LoadOption& o) { return wtf(o.description); })
      .def_readonly("file_paths", &LoadOption::file_paths)
      .def_property_readonly("device_path", [](const LoadOption& o) { return o.file_path(); })
      .def_property_readonly("optional_data", [](const LoadOption& o) { return to_bytes(o.optional_data); })
      .def_property_readonly("windows_options", [](const LoadOption& o) { return WindowsOsOptions::find(o.optional_data); })
      .def("__eq__", [](const LoadOption& a, const LoadOption& b) { return a == b; });

  py::class_<BootEntry>(m, "NvramBootEntry", "A Boot#### variable: its number and load option.")
      .def_readonly("number", &BootEntry::number)
      .def_property_readonly("name", [](const BootEntry& e) { return wtf(boot_variable_name(e.number)); })
      .def_readonly("variable_attributes", &BootEntry::attributes)
      .def_readonly("option", &BootEntry::option)
      .def_property_readonly("attributes", [](const BootEntry& e) { return e.option.attributes; })
      .def_property_readonly("active", [](const BootEntry& e) { return e.option.active(); })
      .def_property_readonly("description", [](const BootEntry& e) { return wtf(e.option.description); })
      .def_property_readonly("device_path", [](const BootEntry& e) -> std::optional<DevicePath> {
            if (e.option.file_paths.empty()) return std::nullopt;
            return e.option.file_paths.front();
          })
      .def_property_readonly("optional_data", [](const BootEntry& e) { return to_bytes(e.option.optional_data); })
      .def_property_readonly("windows_options", &BootEntry::windows_options);
}

void bind_store(py::module_& m) {
  py::class_<Variable>(m, "NvramVariable", "A variable: name, vendor GUID, attributes and value.")
      .def_property_readonly("name", [](const Variable& v) { return wtf(v.name); })
      .def_property_readonly("guid", [](const Variable& v) { return v.vendor.to_string(); })
      .def_readonly("attributes", &Variable::attributes)
      .def_property_readonly("data", [](const Variable& v) { return to_bytes(v.data); })
      .def_readonly("monotonic_count", &Variable::monotonic_count)
      .def_property_readonly("timestamp", [](const Variable& v) { return to_bytes(v.timestamp); })
      .def_readonly("pubkey_index", &Variable::pubkey_index);

  py::class_<Record>(m, "NvramRecord", "A variable record of the store as found, in any state.")
      .def_readonly("offset", &Record::offset)
      .def_readonly("size", &Record::size)
      .def_readonly("state", &Record::state)
      .def_property_readonly("kind", [](const Record& r) { return std::string(state_name(r.kind)); })
      .def_readonly("live", &Record::live)
      .def_readonly("variable", &Record::variable);

  auto guid_of = [](const std::string& text) { return Guid::parse(text); };
  py::class_<Store, std::shared_ptr<Store>>(m, "NvramStore", "OVMF's variable store in a VARS file (or on a device).")
      .def_static("open", [](const py::object& path, bool writable, std::shared_ptr<WriteLog> log) {
            const std::string p = encode_host_path(path);
            py::gil_scoped_release r;
            return Store::open(p, writable, std::move(log));
          }, py::arg("path"), py::arg("writable") = false, py::arg("log") = nullptr)
      .def_static("on_device", [](DevicePtr device) { py::gil_scoped_release r; return Store::on_device(std::move(device)); },
                  py::arg("device"))
      .def_static("create", [](const py::object& path, const py::object& template_path) {
            const std::string p = encode_host_path(path), t = encode_host_path(template_path);
            py::gil_scoped_release r;
            return Store::create(p, t);
          }, py::arg("path"), py::arg("template_path") = std::string(kDefaultTemplate))
      .def_property_readonly("path", [](const Store& s) -> py::object {
            if (s.path().empty()) return py::none();
            return decode_host_path(s.path());
          })
      .def_property_readonly("writable", &Store::writable)
      .def_property_readonly("authenticated", [](const Store& s) { return s.layout().authenticated; })
      .def_property_readonly("store_offset", [](const Store& s) { return s.layout().store_offset; })
      .def_property_readonly("store_size", [](const Store& s) { return s.layout().store_size; })
      .def_property_readonly("variables_end", [](const Store& s) { return s.layout().variables_end; })
      .def_property_readonly("free_bytes", &Store::free_bytes)
      .def_property_readonly("reclaimable_bytes", &Store::reclaimable_bytes)
      .def("records", &Store::records)
      .def("variables", &Store::variables)
      .def("get", [guid_of](const Store& s, const WtfText& name, const std::string& guid) { return s.get(utf16(name), guid_of(guid)); },
           py::arg("name"), py::arg("guid"))
      .def("set", [guid_of](Store& s, const WtfText& name, const py::buffer& data, const py::int_& attributes, const std::string& guid) {
            const ByteVector bytes = copy_of(data);
            const std::uint32_t attrs = to_u32(attributes, "attributes");
            const Guid vendor = guid_of(guid);
            const std::u16string n = utf16(name);
            py::gil_scoped_release r;
            s.set(n, vendor, bytes, attrs);
          }, py::arg("name"), py::arg("data"), py::arg("attributes"), py::arg("guid"))
      .def("delete", [guid_of](Store& s, const WtfText& name, const std::string& guid) {
            const Guid vendor = guid_of(guid);
            const std::u16string n = utf16(name);
            py::gil_scoped_release r;
            return s.remove(n, vendor);
          }, py::arg("name"), py::arg("guid"))
      .def("reclaim", [](Store& s) { py::gil_scoped_release r; s.reclaim(); })
      .def("image", [](const Store& s) { return to_bytes(s.image()); })
      .def("boot_entries", &Store::boot_entries)
      .def("boot_numbers", &Store::boot_numbers)
      .def("boot_entry", [](const Store& s, const py::int_& n) { return s.boot_entry(to_u16(n, "boot entry number")); },
           py::arg("number"))
      .def("set_boot_entry", [](Store& s, const py::int_& n, const LoadOption& option, const py::int_& attributes) {
            s.set_boot_entry(to_u16(n, "boot entry number"), option, to_u32(attributes, "attributes"));
          }, py::arg("number"), py::arg("option"), py::arg("attributes") = kDefaultAttributes)
      .def("delete_boot_entry", [](Store& s, const py::int_& n) { return s.remove_boot_entry(to_u16(n, "boot entry number")); },
           py::arg("number"))
      .def("free_boot_number", &Store::free_boot_number)
      .def_property("boot_order", &Store::boot_order, [](Store& s, const std::vector<py::int_>& order) {
            std::vector<std::uint16_t> numbers;
            for (const auto& n : order) numbers.push_back(to_u16(n, "boot entry number"));
            s.set_boot_order(numbers);
          })
      .def_property("boot_next", &Store::boot_next, [](Store& s, const std::optional<py::int_>& n) {
            s.set_boot_next(n ? std::optional<std::uint16_t>(to_u16(*n, "BootNext")) : std::nullopt);
          })
      .def_property_readonly("boot_current", &Store::boot_current)
      .def_property("timeout", &Store::timeout, [](Store& s, const std::optional<py::int_>& n) {
            s.set_timeout(n ? std::optional<std::uint16_t>(to_u16(*n, "Timeout")) : std::nullopt);
          });

  m.def("nvram_global_guid", [] { return global_variable_guid().to_string(); },
        "EFI_GLOBAL_VARIABLE, the vendor GUID of Boot####, BootOrder, Timeout, ...");
  m.def("nvram_default_template", [] { return std::string(kDefaultTemplate); });
  m.def("nvram_boot_variable_name", [](const py::int_& n) { return wtf(boot_variable_name(to_u16(n, "boot entry number"))); },
        py::arg("number"));
  m.def("nvram_boot_number", [](const WtfText& name) { return boot_number_of(utf16(name)); }, py::arg("name"),
        "The number of a Boot#### name, or None.");
}

}  // namespace

void bind_nvram(py::module_& m) {
  bind_device_paths(m);
  bind_load_options(m);
  bind_store(m);
}

}  // namespace bootmirror::bindings

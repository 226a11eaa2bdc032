#include "bootmirror/io.h"
#include "bootmirror/write_log.h"
#include "binding.h"

namespace bootmirror::bindings {

BufferView view_of(const py::buffer& data, bool writable) {
  py::buffer_info info = data.request(writable);
  if (info.ndim > 1) {
    // Only C-contiguous buffers map to one byte range.
    py::ssize_t expected = info.itemsize;
    for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
      if (info.strides[d] != expected) throw UsageError("the buffer must be C-contiguous");
      expected *= info.shape[d];
    }
  } else if (info.ndim == 1 && info.strides[0] != info.itemsize) {
    throw UsageError("the buffer must be contiguous");
  }
  return BufferView{std::move(info)};
}

namespace {

py::bytes read_bytes(BlockDevice& device, const py::int_& offset_arg, const py::int_& length_arg) {
  const std::uint64_t offset = to_unsigned(offset_arg, "offset");
  const std::size_t length = to_unsigned(length_arg, "length", PY_SSIZE_T_MAX);
  device.check_range(offset, length, "read");  // before the bytes object is allocated
  // Allocate the bytes object first and fill it in place: one copy from the disk, none more.
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, py::ssize_t(length));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  auto* out = reinterpret_cast<std::byte*>(PyBytes_AS_STRING(raw));
  {
    py::gil_scoped_release release;
    device.read(offset, MutableByteSpan(out, length));
  }
  return result;
}

FaultyDisk::Access to_access(const std::string& access) {
  if (access == "read") return FaultyDisk::Access::read;
  if (access == "write") return FaultyDisk::Access::write;
  if (access == "both") return FaultyDisk::Access::both;
  throw UsageError("access must be 'read', 'write' or 'both', not '" + access + "'");
}

}  // namespace

void bind_io(py::module_& m) {
  py::class_<BlockDevice, DevicePtr>(m, "BlockDevice", "A byte-addressed disk: image file, memory, slice or fault injector.")
      .def_property_readonly("size", &BlockDevice::size, "Size in bytes.")
      .def_property_readonly("sector_size", &BlockDevice::sector_size, "Logical sector size: 512 or 4096.")
      .def_property_readonly("sector_count", &BlockDevice::sector_count)
      .def_property_readonly("writable", &BlockDevice::writable)
      .def_property_readonly("name", [](const BlockDevice& self) { return decode_host_path(self.name()); })
      .def("read", &read_bytes, py::arg("offset"), py::arg("length"), "Read `length` bytes at `offset`.")
      .def(
          "readinto",
          [](BlockDevice& self, const py::int_& offset_arg, const py::buffer& buffer) {
            const std::uint64_t offset = to_unsigned(offset_arg, "offset");
            BufferView view = view_of(buffer, true);
            auto span = view.span();
            py::gil_scoped_release release;
            self.read(offset, MutableByteSpan(const_cast<std::byte*>(span.data()), span.size()));
            return span.size();
          },
          py::arg("offset"), py::arg("buffer"), "Fill a writable buffer from `offset`; returns its length.")
      .def(
          "write",
          [](BlockDevice& self, const py::int_& offset_arg, const py::buffer& data) {
            const std::uint64_t offset = to_unsigned(offset_arg, "offset");
            BufferView view = view_of(data, false);
            py::gil_scoped_release release;
            self.write(offset, view.span());
          },
          py::arg("offset"), py::arg("data"), "Write a bytes-like object at `offset`.")
      .def("flush", [](BlockDevice& self) {
        py::gil_scoped_release release;
        self.flush();
      }, "Make written data durable (fsync for image files).")
      .def(
          "allocated_extents",
          [](const BlockDevice& self) {
            std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
            for (const Extent& e : self.allocated_extents()) out.emplace_back(e.offset, e.length);
            return out;
          },
          "(offset, length) ranges that hold data; holes of sparse files are left out.");

  py::class_<ImageFile, BlockDevice, std::shared_ptr<ImageFile>>(m, "ImageFile", "A raw disk image file.")
      .def_static(
          "create",
          [](const py::object& path, const py::object& size, std::uint32_t sector_size) {
            return ImageFile::create(encode_host_path(path), to_size(size, "size"), sector_size);
          },
          py::arg("path"), py::arg("size"), py::arg("sector_size") = 512)
      .def_static(
          "open",
          [](const py::object& path, bool writable, std::uint32_t sector_size, bool allow_device) {
            return ImageFile::open(encode_host_path(path), writable, sector_size, allow_device);
          },
          py::arg("path"), py::arg("writable") = false, py::arg("sector_size") = 512, py::arg("allow_device") = false)
      .def_property_readonly("path", [](const ImageFile& self) { return decode_host_path(self.path()); })
      .def("close", &ImageFile::close);

  py::class_<MemoryDisk, BlockDevice, std::shared_ptr<MemoryDisk>>(m, "MemoryDisk", "A disk held in memory.")
      .def(py::init([](const py::object& size, std::uint32_t sector_size) {
             return std::make_shared<MemoryDisk>(to_size(size, "size"), sector_size);
           }),
           py::arg("size"), py::arg("sector_size") = 512);

  py::class_<Slice, BlockDevice, std::shared_ptr<Slice>>(m, "Slice", "A byte range of another device.")
      .def(py::init([](DevicePtr parent, const py::int_& offset, const py::int_& length) {
             return std::make_shared<Slice>(std::move(parent), to_unsigned(offset, "offset"), to_unsigned(length, "length"));
           }),
           py::arg("parent"), py::arg("offset"), py::arg("length"))
      .def_property_readonly("parent", &Slice::parent)
      .def_property_readonly("offset", &Slice::offset);

  py::class_<FaultyDisk, BlockDevice, std::shared_ptr<FaultyDisk>>(m, "FaultyDisk", "Fault injection around a device.")
      .def(py::init<DevicePtr>(), py::arg("inner"))
      .def(
          "fail_range",
          [](FaultyDisk& self, const py::int_& offset, const py::int_& length, const std::string& access) {
            self.fail_range(to_unsigned(offset, "offset"), to_unsigned(length, "length"), to_access(access));
          },
          py::arg("offset"), py::arg("length"), py::arg("access") = "both")
      .def("clear_faults", &FaultyDisk::clear_faults)
      .def("cut_power_after", [](FaultyDisk& self, const py::int_& writes) { self.cut_power_after(to_unsigned(writes, "writes")); },
           py::arg("writes"))
      .def_property_readonly("power_lost", &FaultyDisk::power_lost)
      .def_property_readonly("writes_seen", &FaultyDisk::writes_seen)
      .def_property_readonly("writes_applied", &FaultyDisk::writes_applied)
      .def_property("missing", &FaultyDisk::missing, &FaultyDisk::set_missing)
      .def_property_readonly("inner", &FaultyDisk::inner)
      .def("record_to", &FaultyDisk::record_to, py::arg("log"),
           "Record every later write and flush in a WriteLog; returns this disk's number there.");

  py::class_<OverlayDisk, BlockDevice, std::shared_ptr<OverlayDisk>>(
      m, "OverlayDisk", "A copy-on-write view of a device: writes stay in memory, the base is never written.")
      .def(py::init<DevicePtr>(), py::arg("base"))
      .def_property_readonly("base", &OverlayDisk::base)
      .def_property_readonly("overlay_bytes", &OverlayDisk::overlay_bytes);

  py::class_<CrashState>(m, "CrashState", "One outcome of a power cut during a recorded operation.")
      .def_property_readonly("point", &CrashState::point)
      .def_property_readonly("description", &CrashState::description)
      .def_property_readonly("signature", &CrashState::signature)
      .def_property_readonly("surviving_writes", &CrashState::surviving_writes)
      .def_property_readonly("files",
                             [](const CrashState& s) {
                               py::dict out;
                               for (const auto& [name, outcome] : s.files())
                                 out[py::str(name)] = outcome.exists ? py::object(py::bytes(outcome.contents)) : py::object(py::none());
                               return out;
                             },
                             "Files of the folder the crash changed: name -> contents (bytes), or None when absent.")
      .def("apply", &CrashState::apply, py::arg("targets"), py::call_guard<py::gil_scoped_release>())
      .def("apply_files", &CrashState::apply_files, py::arg("folder"), py::call_guard<py::gil_scoped_release>())
      .def("__repr__", [](const CrashState& s) { return "<CrashState " + s.description() + ">"; });

  py::class_<WriteLog, std::shared_ptr<WriteLog>>(m, "WriteLog", "Writes, flushes and file steps of an operation, for crash states.")
      .def(py::init([] { return WriteLog::create(); }))
      .def_property_readonly("device_count", &WriteLog::device_count)
      .def_property_readonly("event_count", &WriteLog::event_count)
      .def_property_readonly("write_count", &WriteLog::write_count)
      .def("device_name", &WriteLog::device_name, py::arg("device"))
      .def("describe_event", &WriteLog::describe_event, py::arg("index"))
      .def("crash_points", &WriteLog::crash_points)
      .def(
          "crash",
          [](const WriteLog& log, std::size_t point, const std::string& choice, std::uint64_t seed) {
            WriteLog::Choice c;
            if (choice == "none") c = WriteLog::Choice::none_survive;
            else if (choice == "all") c = WriteLog::Choice::all_survive;
            else if (choice == "random") c = WriteLog::Choice::random;
            else throw UsageError("choice must be 'none', 'all' or 'random', not '" + choice + "'");
            return log.crash(point, c, seed);
          },
          py::arg("point"), py::arg("choice") = "random", py::arg("seed") = 0)
      .def("crash_states", &WriteLog::crash_states, py::arg("random_per_point") = 8, py::arg("seed") = 0,
           py::call_guard<py::gil_scoped_release>());
}

}  // namespace bootmirror::bindings

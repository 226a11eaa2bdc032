#include "bootmirror/io.h"
#include "bootmirror/write_log.h"

#include <fmt/format.h>

#include "binding.h"

namespace bootmirror::bindings {

BufferView::BufferView(const py::buffer& data, bool writable) {
  // PyBUF_STRIDES: any layout is accepted here and checked below, so that a strided view is a
  // UsageError rather than Python's BufferError.
  if (PyObject_GetBuffer(data.ptr(), &buffer_, PyBUF_STRIDES | (writable ? PyBUF_WRITABLE : 0)) != 0) {
    // A read-only buffer (bytes) given to be filled is a misuse: UsageError, not BufferError.
    if (writable && PyErr_ExceptionMatches(PyExc_BufferError) && PyObject_CheckBuffer(data.ptr())) {
      PyErr_Clear();
      throw UsageError(fmt::format("the buffer ({}) is read-only; give a writable one (bytearray, bootmirror.buffer)",
                                   Py_TYPE(data.ptr())->tp_name));
    }
    throw py::error_already_set();
  }
  if (!PyBuffer_IsContiguous(&buffer_, 'C')) {
    const bool many = buffer_.ndim > 1;
    PyBuffer_Release(&buffer_);
    throw UsageError(many ? "the buffer must be C-contiguous" : "the buffer must be contiguous");
  }
}

namespace {

// A sector size argument: UsageError for a negative or huge one, as for every other number (the
// devices then check that it is 512 or 4096).
std::uint32_t sector_size_of(const py::int_& value) { return std::uint32_t(to_unsigned(value, "sector_size", UINT32_MAX)); }

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

std::size_t read_into(BlockDevice& device, const py::int_& offset_arg, const py::buffer& buffer) {
  const std::uint64_t offset = to_unsigned(offset_arg, "offset");
  BufferView view(buffer, true);
  const MutableByteSpan span = view.mutable_span();
  {
    py::gil_scoped_release release;
    device.read(offset, span);
  }
  return span.size();
}

void write_from(BlockDevice& device, const py::int_& offset_arg, const py::buffer& data) {
  const std::uint64_t offset = to_unsigned(offset_arg, "offset");
  BufferView view(data, false);
  py::gil_scoped_release release;
  device.write(offset, view.span());
}

// bootmirror.Disk's read, readinto and write, which scripts call a sector at a time: a plain
// CPython type whose METH_FASTCALL methods call the functions above directly. pybind11's
// dispatcher (finding the overload, casting self to a BlockDevice) cost about 800 instructions a
// call, more than the pread itself; os.preadv is the yardstick (issue 15). It holds the
// BlockDevice's Python object, which keeps the device alive.
struct DeviceIO {
  PyObject_HEAD
  BlockDevice* device;
  PyObject* owner;
};

PyTypeObject* device_io_type = nullptr;

BlockDevice& device_of(PyObject* self) { return *reinterpret_cast<DeviceIO*>(self)->device; }

// Two positional arguments, the first an int: TypeError otherwise, as pybind11 would raise.
bool two_arguments(const char* method, PyObject* const* args, Py_ssize_t count) {
  if (count == 2 && PyLong_Check(args[0])) return true;
  PyErr_Format(PyExc_TypeError, "DeviceIO.%s() takes an int offset and one more argument", method);
  return false;
}

PyObject* device_io_read(PyObject* self, PyObject* const* args, Py_ssize_t count) {
  if (!two_arguments("read", args, count) || !PyLong_Check(args[1])) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "DeviceIO.read() takes an int length");
    return nullptr;
  }
  try {
    return read_bytes(device_of(self), py::reinterpret_borrow<py::int_>(args[0]), py::reinterpret_borrow<py::int_>(args[1]))
        .release()
        .ptr();
  } catch (...) {
    return raise_current_exception();
  }
}

PyObject* device_io_readinto(PyObject* self, PyObject* const* args, Py_ssize_t count) {
  if (!two_arguments("readinto", args, count)) return nullptr;
  try {
    return PyLong_FromSize_t(
        read_into(device_of(self), py::reinterpret_borrow<py::int_>(args[0]), py::reinterpret_borrow<py::buffer>(args[1])));
  } catch (...) {
    return raise_current_exception();
  }
}

PyObject* device_io_write(PyObject* self, PyObject* const* args, Py_ssize_t count) {
  if (!two_arguments("write", args, count)) return nullptr;
  try {
    write_from(device_of(self), py::reinterpret_borrow<py::int_>(args[0]), py::reinterpret_borrow<py::buffer>(args[1]));
    Py_RETURN_NONE;
  } catch (...) {
    return raise_current_exception();
  }
}

void device_io_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  Py_XDECREF(reinterpret_cast<DeviceIO*>(self)->owner);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef device_io_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&device_io_read)), METH_FASTCALL,
     "read(offset, length) -> bytes"},
    {"readinto", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&device_io_readinto)), METH_FASTCALL,
     "readinto(offset, buffer) -> int: fills the writable buffer"},
    {"write", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&device_io_write)), METH_FASTCALL,
     "write(offset, data): writes a bytes-like object"},
    {nullptr, nullptr, 0, nullptr}};

void bind_device_io(py::module_& m) {
  static PyType_Slot slots[] = {{Py_tp_dealloc, reinterpret_cast<void*>(&device_io_dealloc)},
                                {Py_tp_methods, device_io_methods},
                                {Py_tp_doc, const_cast<char*>("A block device's read, readinto and write, called directly.")},
                                {0, nullptr}};
  static PyType_Spec spec = {"bootmirror._core.DeviceIO", sizeof(DeviceIO), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  device_io_type = reinterpret_cast<PyTypeObject*>(type);
  m.add_object("DeviceIO", py::reinterpret_borrow<py::object>(type));
  m.def(
      "device_io",
      [](const py::object& device) {
        BlockDevice& target = device.cast<BlockDevice&>();
        auto* io = PyObject_New(DeviceIO, device_io_type);
        if (io == nullptr) throw py::error_already_set();
        io->device = &target;
        io->owner = device.inc_ref().ptr();
        return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(io));
      },
      py::arg("device"), "The device's read, readinto and write without pybind11's dispatch (bootmirror.Disk uses them).");
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
      .def("readinto", &read_into, py::arg("offset"), py::arg("buffer"),
           "Fill a writable buffer from `offset`; returns its length.")
      .def("write", &write_from, py::arg("offset"), py::arg("data"), "Write a bytes-like object at `offset`.")
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
          [](const py::object& path, const py::object& size, const py::int_& sector_size) {
            return ImageFile::create(encode_host_path(path), to_size(size, "size"), sector_size_of(sector_size));
          },
          py::arg("path"), py::arg("size"), py::arg("sector_size") = 512)
      .def_static(
          "open",
          [](const py::object& path, bool writable, const py::int_& sector_size, bool allow_device) {
            return ImageFile::open(encode_host_path(path), writable, sector_size_of(sector_size), allow_device);
          },
          py::arg("path"), py::arg("writable") = false, py::arg("sector_size") = 512, py::arg("allow_device") = false)
      .def_property_readonly("path", [](const ImageFile& self) { return decode_host_path(self.path()); })
      .def_property_readonly("closed", &ImageFile::closed, "True once close() ran.")
      .def("close", &ImageFile::close);

  py::class_<MemoryDisk, BlockDevice, std::shared_ptr<MemoryDisk>>(m, "MemoryDisk", "A disk held in memory.")
      .def(py::init([](const py::object& size, const py::int_& sector_size) {
             return std::make_shared<MemoryDisk>(to_size(size, "size"), sector_size_of(sector_size));
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
      .def_property_readonly("overlay_bytes", &OverlayDisk::overlay_bytes)
      .def(
          "changed_extents",
          [](const OverlayDisk& self, std::uint32_t granule) {
            std::vector<Extent> extents;
            {
              py::gil_scoped_release release;
              extents = self.changed_extents(granule);
            }
            std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
            for (const Extent& e : extents) out.emplace_back(e.offset, e.length);
            return out;
          },
          py::arg("granule") = 512,
          "The (offset, length) ranges that differ from the base, in whole granules (sectors): what writing it back would write.");

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
      .def("describe_event", [](const WriteLog& log, const py::int_& index) { return log.describe_event(to_unsigned(index, "index")); },
           py::arg("index"))
      .def("crash_points", &WriteLog::crash_points)
      .def(
          "crash",
          [](const WriteLog& log, const py::int_& point_arg, const std::string& choice, const py::int_& seed_arg) {
            const std::uint64_t point = to_unsigned(point_arg, "point"), seed = to_unsigned(seed_arg, "seed");
            WriteLog::Choice c;
            if (choice == "none") c = WriteLog::Choice::none_survive;
            else if (choice == "all") c = WriteLog::Choice::all_survive;
            else if (choice == "random") c = WriteLog::Choice::random;
            else throw UsageError("choice must be 'none', 'all' or 'random', not '" + choice + "'");
            return log.crash(point, c, seed);
          },
          py::arg("point"), py::arg("choice") = "random", py::arg("seed") = 0)
      .def(
          "crash_states",
          [](const WriteLog& log, const py::int_& random_per_point, const py::int_& seed) {
            const std::uint64_t per_point = to_unsigned(random_per_point, "random_per_point", WriteLog::kMaxRandomPerPoint);
            const std::uint64_t first_seed = to_unsigned(seed, "seed");
            py::gil_scoped_release release;
            return log.crash_states(std::size_t(per_point), first_seed);
          },
          py::arg("random_per_point") = 8, py::arg("seed") = 0);
  bind_device_io(m);
}

}  // namespace bootmirror::bindings

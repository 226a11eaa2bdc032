#include "bootmirror/fat.h"
#include "bootmirror/fat_commands.h"
#include "binding.h"

namespace bootmirror::bindings {
// Names and paths on a FAT volume are WTF-8 in the engine (bootmirror/fat.h): binding.h's WtfText.
using FatText = WtfText;
}  // namespace bootmirror::bindings

namespace bootmirror::bindings {

namespace {

using namespace bootmirror::fat;
using Rel = py::call_guard<py::gil_scoped_release>;

FatText text(std::string s) { return FatText{std::move(s)}; }

std::vector<FatText> texts(const std::vector<std::string>& in) {
  std::vector<FatText> out;
  out.reserve(in.size());
  for (const auto& s : in) out.push_back(text(s));
  return out;
}

double seconds(const Timestamp& t) { return double(t.seconds) + t.nanoseconds / 1e9; }

std::optional<Timestamp> to_timestamp(const std::optional<double>& s) {
  if (!s) return std::nullopt;
  Timestamp t;
  t.seconds = std::int64_t(*s);
  t.nanoseconds = std::uint32_t((*s - double(t.seconds)) * 1e9);
  return t;
}

FormatOptions make_options(const std::string& file_system, std::optional<std::uint32_t> cluster_size,
                           const std::string& label, std::uint8_t fat_count, std::optional<std::uint32_t> root_entries,
                           std::optional<std::uint32_t> serial, std::uint8_t media, bool quick,
                           const std::string& codepage) {
  FormatOptions o;
  o.file_system = file_system;
  o.cluster_size = cluster_size;
  o.label = label;
  o.fat_count = fat_count;
  o.root_entries = root_entries;
  o.serial = serial;
  o.media = media;
  o.quick = quick;
  o.codepage = codepage;
  return o;
}

// A position in an open file, as io's seek allows any (a non-negative int): one past 64 bits is
// past the end of every FAT file (4 GiB at most), so it reads nothing and writing there is EFBIG.
std::uint64_t file_position(const py::int_& position) {
  if (position > py::int_(UINT64_MAX)) return UINT64_MAX;
  return to_unsigned(position, "file position");
}

py::bytes read_into_bytes(File& f, const py::int_& position, std::size_t length) {
  const std::uint64_t offset = file_position(position);
  std::uint64_t size;
  {
    py::gil_scoped_release release;
    size = f.size();
  }
  std::size_t n = offset >= size ? 0 : std::size_t(std::min<std::uint64_t>(length, size - offset));
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, py::ssize_t(n));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  auto* out = reinterpret_cast<std::byte*>(PyBytes_AS_STRING(raw));
  std::size_t got;
  {
    py::gil_scoped_release release;
    got = f.read(offset, MutableByteSpan(out, n));
  }
  if (got < n) return py::bytes(PyBytes_AS_STRING(raw), got);  // another thread shortened the file
  return result;
}

py::bytes utf16le(const std::u16string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char16_t c : s) {
    out.push_back(char(c & 0xFF));
    out.push_back(char(c >> 8));
  }
  return py::bytes(out);
}

}  // namespace

void bind_fat(py::module_& m) {
  py::class_<Geometry>(m, "FatGeometry", "The layout of a FAT volume.")
      .def_property_readonly("type", [](const Geometry& g) { return to_string(g.type); })
      .def_readonly("bytes_per_sector", &Geometry::bytes_per_sector)
      .def_readonly("sectors_per_cluster", &Geometry::sectors_per_cluster)
      .def_readonly("reserved_sectors", &Geometry::reserved_sectors)
      .def_readonly("fat_count", &Geometry::fat_count)
      .def_readonly("root_entries", &Geometry::root_entries)
      .def_readonly("sectors_per_fat", &Geometry::sectors_per_fat)
      .def_readonly("total_sectors", &Geometry::total_sectors)
      .def_readonly("cluster_count", &Geometry::cluster_count)
      .def_readonly("root_cluster", &Geometry::root_cluster)
      .def_property_readonly("cluster_size", &Geometry::cluster_size)
      .def_property_readonly("bits_per_entry", &Geometry::bits_per_entry)
      .def_property_readonly("data_offset", &Geometry::data_offset)
      .def_property_readonly("data_bytes", &Geometry::data_bytes);

  py::class_<FormatResult>(m, "FatFormatResult", "What format made.")
      .def_readonly("geometry", &FormatResult::geometry)
      .def_readonly("serial", &FormatResult::serial)
      .def_property_readonly("label", [](const FormatResult& r) { return text(r.label); })
      .def_readonly("total_bytes", &FormatResult::total_bytes)
      .def_readonly("available_bytes", &FormatResult::available_bytes);

  py::class_<Entry>(m, "FatEntry", "A directory entry.")
      .def_property_readonly("name", [](const Entry& e) { return text(e.name); })
      .def_property_readonly("short_name", [](const Entry& e) { return text(e.short_name); })
      .def_property_readonly("raw_short_name", [](const Entry& e) { return py::bytes(e.raw_short_name); },
                             "The 11 bytes of the 8.3 name as stored (OEM code page, space padded).")
      .def_property_readonly("raw_long_name", [](const Entry& e) { return utf16le(e.raw_long_name); },
                             "The long name's UTF-16LE bytes as stored; b'' when there is none.")
      .def_readonly("attributes", &Entry::attributes)
      .def_readonly("size", &Entry::size)
      .def_readonly("first_cluster", &Entry::first_cluster)
      .def_property_readonly("created", [](const Entry& e) { return seconds(e.created); })
      .def_property_readonly("modified", [](const Entry& e) { return seconds(e.modified); })
      .def_property_readonly("accessed", [](const Entry& e) { return seconds(e.accessed); })
      .def_property_readonly("is_dir", &Entry::is_dir)
      .def("__repr__", [](const Entry& e) {
        py::object name = py::cast(text(e.name));
        std::string size = e.is_dir() ? std::string("<DIR>") : std::to_string(e.size) + " bytes";
        return "<FatEntry " + py::repr(name).cast<std::string>() + " " + size + ">";
      });

  py::class_<WalkStep>(m, "FatWalkStep")
      .def_property_readonly("path", [](const WalkStep& s) { return text(s.path); })
      .def_readonly("entries", &WalkStep::entries);

  py::class_<TreeDifference>(m, "FatTreeDifference", "One thing that differs between two FAT folders.")
      .def_property_readonly("path", [](const TreeDifference& d) { return text(d.path); })
      .def_readonly("change", &TreeDifference::change)
      .def_readonly("source_value", &TreeDifference::source_value)
      .def_readonly("target_value", &TreeDifference::target_value)
      .def("__repr__", [](const TreeDifference& d) {
        return py::str("<FatTreeDifference {} {!r}: {!r} -> {!r}>").format(d.change, text(d.path), d.source_value, d.target_value);
      });

  py::class_<CheckProblem>(m, "FatCheckProblem")
      .def_readonly("kind", &CheckProblem::kind)
      .def_property_readonly("path", [](const CheckProblem& p) { return text(p.path); })
      .def_readonly("message", &CheckProblem::message)
      .def_readonly("repaired", &CheckProblem::repaired)
      .def("__repr__", [](const CheckProblem& p) { return "<FatCheckProblem " + p.kind + ": " + p.message + ">"; });
  py::class_<CheckReport>(m, "FatCheckReport")
      .def_readonly("problems", &CheckReport::problems)
      .def_readonly("files", &CheckReport::files)
      .def_readonly("directories", &CheckReport::directories)
      .def_readonly("used_clusters", &CheckReport::used_clusters)
      .def_readonly("cluster_count", &CheckReport::cluster_count)
      .def_property_readonly("clean", &CheckReport::clean);
  // Every call below releases the GIL, properties included: they take the volume's lock, which
  // another thread may hold for a long copy.
  py::class_<File>(m, "FatFile", "An open file on a FAT volume.")
      .def_property_readonly("size", py::cpp_function(&File::size, Rel()))
      .def_property_readonly("path", [](const File& f) { return text(f.path()); })
      .def_property_readonly("closed", py::cpp_function(&File::closed, Rel()))
      .def("read", &read_into_bytes, py::arg("offset"), py::arg("length"))
      .def("readinto",
           [](File& f, const py::int_& position, const py::buffer& buffer) {
             const std::uint64_t offset = file_position(position);
             py::buffer_info info = buffer.request(true);
             MutableByteSpan out(static_cast<std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             return f.read(offset, out);
           })
      .def("write",
           [](File& f, const py::int_& position, const py::buffer& data) {
             const std::uint64_t offset = file_position(position);
             py::buffer_info info = data.request(false);
             ByteSpan in(static_cast<const std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             f.write(offset, in);
             return in.size();
           })
      .def("truncate",
           [](File& f, const py::int_& size) {
             const std::uint64_t bytes = file_position(size);
             py::gil_scoped_release release;
             f.truncate(bytes);
           })
      .def("flush", &File::flush, Rel())
      .def("close", &File::close, Rel());

  py::class_<Volume, std::shared_ptr<Volume>>(m, "FatVolume", "A FAT12/16/32 file system on a block device.")
      .def_static("open", [](const DevicePtr& device, const std::string& codepage) {
        py::gil_scoped_release release;
        return Volume::open(device, codepage);
      }, py::arg("device"), py::arg("codepage") = "cp437")
      .def_property_readonly("geometry", &Volume::geometry)
      .def_property_readonly("device", &Volume::device)
      .def_property_readonly("serial", &Volume::serial)
      .def_property_readonly("codepage", &Volume::codepage)
      .def_property_readonly("label", py::cpp_function([](const Volume& v) {
        std::string label;
        {
          py::gil_scoped_release release;
          label = v.label();
        }
        return text(label);
      }))
      .def_property_readonly("total_bytes", &Volume::total_bytes)
      .def_property_readonly("free_bytes", py::cpp_function(&Volume::free_bytes, Rel()))
      .def("list", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        return v.list(path.value);
      }, py::arg("path"))
      .def("stat", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        return v.stat(path.value);
      }, py::arg("path"))
      .def("exists", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        return v.exists(path.value);
      }, py::arg("path"))
      .def("walk", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        return v.walk(path.value);
      }, py::arg("path"))
      .def("read_file",
           [](Volume& v, const FatText& path) {
             ByteVector data;
             {
               py::gil_scoped_release release;
               data = v.read_file(path.value);
             }
             return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
           },
           py::arg("path"))
      .def("write_file",
           [](Volume& v, const FatText& path, const py::buffer& data) {
             py::buffer_info info = data.request(false);
             ByteSpan in(static_cast<const std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             v.write_file(path.value, in);
           },
           py::arg("path"), py::arg("data"))
      .def("open_file", [](Volume& v, const FatText& path, bool writable, bool create, bool truncate, bool exclusive) {
        py::gil_scoped_release release;
        return v.open_file(path.value, writable, create, truncate, exclusive);
      }, py::arg("path"), py::arg("writable"), py::arg("create"), py::arg("truncate"), py::arg("exclusive") = false)
      .def("mkdir", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        v.mkdir(path.value);
      }, py::arg("path"))
      .def("makedirs", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        v.makedirs(path.value);
      }, py::arg("path"))
      .def("remove", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        v.remove(path.value);
      }, py::arg("path"))
      .def("rmdir", [](Volume& v, const FatText& path) {
        py::gil_scoped_release release;
        v.rmdir(path.value);
      }, py::arg("path"))
      .def("rename", [](Volume& v, const FatText& source, const FatText& target) {
        py::gil_scoped_release release;
        v.rename(source.value, target.value);
      }, py::arg("source"), py::arg("target"))
      .def("set_attributes", [](Volume& v, const FatText& path, std::uint8_t attributes) {
        py::gil_scoped_release release;
        v.set_attributes(path.value, attributes);
      }, py::arg("path"), py::arg("attributes"))
      .def("set_times",
           [](Volume& v, const FatText& path, std::optional<double> c, std::optional<double> mo,
              std::optional<double> a) {
             py::gil_scoped_release release;
             v.set_times(path.value, to_timestamp(c), to_timestamp(mo), to_timestamp(a));
           },
           py::arg("path"), py::arg("created") = py::none(), py::arg("modified") = py::none(),
           py::arg("accessed") = py::none())
      .def("set_label", [](Volume& v, const FatText& label) {
        py::gil_scoped_release release;
        v.set_label(label.value);
      }, py::arg("label"))
      .def("import_tree", [](Volume& v, const py::object& host_dir, const FatText& dest, const py::object& progress) {
        std::string host = encode_host_path(host_dir);
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return v.import_tree(host, dest.value, callback);
      }, py::arg("host_dir"), py::arg("dest"), py::arg("progress") = py::none())
      .def("export_tree", [](Volume& v, const FatText& src, const py::object& host_dir, const py::object& progress) {
        std::string host = encode_host_path(host_dir);
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return v.export_tree(src.value, host, callback);
      }, py::arg("src"), py::arg("host_dir"), py::arg("progress") = py::none())
      .def("check", &Volume::check, py::arg("repair") = false, Rel())
      .def("flush", &Volume::flush, Rel())
      .def("detach", &Volume::detach, Rel());

  m.def("fat_code_pages", &oem_code_pages, "The OEM code pages FAT 8.3 names and labels can use.");
  m.def(
      "fat_format",
      [](const DevicePtr& device, const std::string& file_system, std::optional<std::uint32_t> cluster_size,
         const FatText& label, std::uint8_t fat_count, std::optional<std::uint32_t> root_entries,
         std::optional<std::uint32_t> serial, std::uint8_t media, bool quick, const std::string& codepage,
         const py::object& progress) {
        FormatOptions o =
            make_options(file_system, cluster_size, label.value, fat_count, root_entries, serial, media, quick, codepage);
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return format(device, o, callback);
      },
      py::arg("device"), py::arg("file_system") = "FAT", py::arg("cluster_size") = py::none(),
      py::arg("label") = FatText{}, py::arg("fat_count") = 2, py::arg("root_entries") = py::none(),
      py::arg("serial") = py::none(), py::arg("media") = 0xF8, py::arg("quick") = true,
      py::arg("codepage") = "cp437", py::arg("progress") = py::none());
  m.def(
      "fat_plan",
      [](std::uint64_t size, std::uint32_t sector_size, const std::string& file_system,
         std::optional<std::uint32_t> cluster_size, std::uint8_t fat_count, std::optional<std::uint32_t> root_entries) {
        return plan_format(size, sector_size,
                           make_options(file_system, cluster_size, "", fat_count, root_entries, 0, 0xF8, true, "cp437"));
      },
      py::arg("size"), py::arg("sector_size") = 512, py::arg("file_system") = "FAT",
      py::arg("cluster_size") = py::none(), py::arg("fat_count") = 2, py::arg("root_entries") = py::none());
  m.def(
      "fat_copy_tree",
      [](Volume& source, const FatText& src_dir, Volume& target, const FatText& dst_dir, const FatText& pattern,
         bool recurse, bool empty_dirs, bool hidden, const py::object& progress) {
        std::vector<std::string> copied;
        CopyOptions o{pattern.value, recurse, empty_dirs, hidden};
        auto callback = python_progress(progress);
        {
          py::gil_scoped_release release;
          copy_tree(source, src_dir.value, target, dst_dir.value, o, [&](const std::string& p) { copied.push_back(p); },
                    callback);
        }
        return texts(copied);
      },
      py::arg("source"), py::arg("src_dir"), py::arg("target"), py::arg("dst_dir"), py::arg("pattern") = FatText{"*.*"},
      py::arg("recurse") = false, py::arg("empty_dirs") = false, py::arg("hidden") = false,
      py::arg("progress") = py::none());
  m.def(
      "fat_compare_trees",
      [](Volume& source, const FatText& src_dir, Volume& target, const FatText& dst_dir) {
        py::gil_scoped_release release;
        return compare_trees(source, src_dir.value, target, dst_dir.value);
      },
      py::arg("source"), py::arg("src_dir"), py::arg("target"), py::arg("dst_dir"),
      "What differs between two FAT folders, file by file (names without regard to case).");
  m.def(
      "fat_sync_tree",
      [](Volume& source, const FatText& src_dir, Volume& target, const FatText& dst_dir, bool dry_run) {
        py::gil_scoped_release release;
        return sync_tree(source, src_dir.value, target, dst_dir.value, dry_run);
      },
      py::arg("source"), py::arg("src_dir"), py::arg("target"), py::arg("dst_dir"), py::arg("dry_run") = false,
      "Make the target folder an exact copy of the source folder; the differences acted on (or, dry, found).");
  m.def("fat_wildcard_match", [](const FatText& pattern, const FatText& name) {
    return wildcard_match(pattern.value, name.value);
  }, py::arg("pattern"), py::arg("name"));
  m.def("format_summary", &shell::format_summary, py::arg("result"), py::arg("volume_bytes"),
        py::arg("previous_file_system") = "RAW", py::arg("quick") = true,
        "Windows format's text after the format, as Windows prints it.");
  m.def(
      "parse_format_switches",
      [](const std::string& switches) {
        shell::FormatCommand c = shell::parse_format_switches(switches);
        py::dict d;
        d["file_system"] = c.ntfs ? std::string("NTFS") : c.options.file_system;
        d["cluster_size"] = c.options.cluster_size;
        d["label"] = c.options.label;
        d["quick"] = c.options.quick;
        d["yes"] = c.yes;
        return d;
      },
      py::arg("switches"));
  m.def(
      "parse_xcopy_switches",
      [](const std::string& switches) {
        CopyOptions o = shell::parse_xcopy_switches(switches);
        py::dict d;
        d["recurse"] = o.recurse;
        d["empty_dirs"] = o.empty_dirs;
        d["hidden"] = o.hidden;
        return d;
      },
      py::arg("switches"));
  m.def("xcopy_listing", [](const FatText& source_folder, const std::vector<FatText>& copied) {
    std::vector<std::string> paths;
    for (const auto& c : copied) paths.push_back(c.value);
    return shell::xcopy_listing(source_folder.value, paths);
  }, py::arg("source_folder"), py::arg("copied"));
  m.def("fat_file_system_name", &shell::file_system_name, py::arg("device"), Rel());
  m.def(
      "run_format",
      [](const DevicePtr& device, const std::string& switches, const std::string& codepage, const py::object& progress) {
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return shell::run_format(device, switches, codepage, callback);
      },
      py::arg("device"), py::arg("switches"), py::arg("codepage") = "cp437", py::arg("progress") = py::none(),
      "`format X: <switches>` on a device: formats and returns Windows' text (the label in `codepage`).");
  m.def(
      "run_xcopy",
      [](Volume& source, const FatText& from, Volume& target, const FatText& to, const std::string& switches,
         const py::object& progress) {
        shell::DrivePath f = shell::parse_drive_path(from.value), t = shell::parse_drive_path(to.value);
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return shell::run_xcopy(source, f, target, t, switches, callback);
      },
      py::arg("source"), py::arg("from_path"), py::arg("target"), py::arg("to_path"), py::arg("switches"),
      py::arg("progress") = py::none(),
      "`xcopy <from> <to> <switches>` between two volumes whose drive letters the caller resolved.");
}

}  // namespace bootmirror::bindings

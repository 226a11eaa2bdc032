#include "bootmirror/fat.h"
#include "bootmirror/fat_commands.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

using namespace bootmirror::fat;

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
                           std::optional<std::uint32_t> serial, std::uint8_t media, bool quick) {
  FormatOptions o;
  o.file_system = file_system;
  o.cluster_size = cluster_size;
  o.label = label;
  o.fat_count = fat_count;
  o.root_entries = root_entries;
  o.serial = serial;
  o.media = media;
  o.quick = quick;
  return o;
}

py::bytes read_into_bytes(File& f, std::uint64_t offset, std::size_t length) {
  std::uint64_t size = f.size();
  std::size_t n = offset >= size ? 0 : std::size_t(std::min<std::uint64_t>(length, size - offset));
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, py::ssize_t(n));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  auto* out = reinterpret_cast<std::byte*>(PyBytes_AS_STRING(raw));
  {
    py::gil_scoped_release release;
    f.read(offset, MutableByteSpan(out, n));
  }
  return result;
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
      .def_readonly("label", &FormatResult::label)
      .def_readonly("total_bytes", &FormatResult::total_bytes)
      .def_readonly("available_bytes", &FormatResult::available_bytes);

  py::class_<Entry>(m, "FatEntry", "A directory entry.")
      .def_readonly("name", &Entry::name)
      .def_readonly("short_name", &Entry::short_name)
      .def_readonly("attributes", &Entry::attributes)
      .def_readonly("size", &Entry::size)
      .def_readonly("first_cluster", &Entry::first_cluster)
      .def_property_readonly("created", [](const Entry& e) { return seconds(e.created); })
      .def_property_readonly("modified", [](const Entry& e) { return seconds(e.modified); })
      .def_property_readonly("accessed", [](const Entry& e) { return seconds(e.accessed); })
      .def_property_readonly("is_dir", &Entry::is_dir)
      .def("__repr__", [](const Entry& e) {
        return "<FatEntry '" + e.name + "' " + (e.is_dir() ? std::string("<DIR>") : std::to_string(e.size) + " bytes") + ">";
      });

  py::class_<WalkStep>(m, "FatWalkStep")
      .def_readonly("path", &WalkStep::path)
      .def_readonly("entries", &WalkStep::entries);

  py::class_<CheckProblem>(m, "FatCheckProblem")
      .def_readonly("kind", &CheckProblem::kind)
      .def_readonly("path", &CheckProblem::path)
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
  py::class_<ImportStats>(m, "FatCopyStats")
      .def_readonly("files", &ImportStats::files)
      .def_readonly("directories", &ImportStats::directories)
      .def_readonly("bytes", &ImportStats::bytes);

  py::class_<File>(m, "FatFile", "An open file on a FAT volume.")
      .def_property_readonly("size", &File::size)
      .def_property_readonly("path", &File::path)
      .def_property_readonly("closed", &File::closed)
      .def("read", &read_into_bytes, py::arg("offset"), py::arg("length"))
      .def("readinto",
           [](File& f, std::uint64_t offset, const py::buffer& buffer) {
             py::buffer_info info = buffer.request(true);
             MutableByteSpan out(static_cast<std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             return f.read(offset, out);
           })
      .def("write",
           [](File& f, std::uint64_t offset, const py::buffer& data) {
             py::buffer_info info = data.request(false);
             ByteSpan in(static_cast<const std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             f.write(offset, in);
             return in.size();
           })
      .def("truncate", &File::truncate, py::call_guard<py::gil_scoped_release>())
      .def("flush", &File::flush, py::call_guard<py::gil_scoped_release>())
      .def("close", &File::close, py::call_guard<py::gil_scoped_release>());

  using Rel = py::call_guard<py::gil_scoped_release>;
  py::class_<Volume, std::shared_ptr<Volume>>(m, "FatVolume", "A FAT12/16/32 file system on a block device.")
      .def_static("open", &Volume::open, py::arg("device"), Rel())
      .def_property_readonly("geometry", &Volume::geometry)
      .def_property_readonly("device", &Volume::device)
      .def_property_readonly("serial", &Volume::serial)
      .def_property_readonly("label", &Volume::label)
      .def_property_readonly("total_bytes", &Volume::total_bytes)
      .def_property_readonly("free_bytes", &Volume::free_bytes)
      .def("list", &Volume::list, py::arg("path"), Rel())
      .def("stat", &Volume::stat, py::arg("path"), Rel())
      .def("exists", &Volume::exists, py::arg("path"), Rel())
      .def("walk", &Volume::walk, py::arg("path"), Rel())
      .def("read_file",
           [](Volume& v, const std::string& path) {
             ByteVector data;
             {
               py::gil_scoped_release release;
               data = v.read_file(path);
             }
             return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
           },
           py::arg("path"))
      .def("write_file",
           [](Volume& v, const std::string& path, const py::buffer& data) {
             py::buffer_info info = data.request(false);
             ByteSpan in(static_cast<const std::byte*>(info.ptr), std::size_t(info.size * info.itemsize));
             py::gil_scoped_release release;
             v.write_file(path, in);
           },
           py::arg("path"), py::arg("data"))
      .def("open_file", &Volume::open_file, py::arg("path"), py::arg("writable"), py::arg("create"),
           py::arg("truncate"), Rel())
      .def("mkdir", &Volume::mkdir, py::arg("path"), Rel())
      .def("makedirs", &Volume::makedirs, py::arg("path"), Rel())
      .def("remove", &Volume::remove, py::arg("path"), Rel())
      .def("rmdir", &Volume::rmdir, py::arg("path"), Rel())
      .def("rename", &Volume::rename, py::arg("source"), py::arg("target"), Rel())
      .def("set_attributes", &Volume::set_attributes, py::arg("path"), py::arg("attributes"), Rel())
      .def("set_times",
           [](Volume& v, const std::string& path, std::optional<double> c, std::optional<double> mo,
              std::optional<double> a) {
             py::gil_scoped_release release;
             v.set_times(path, to_timestamp(c), to_timestamp(mo), to_timestamp(a));
           },
           py::arg("path"), py::arg("created") = py::none(), py::arg("modified") = py::none(),
           py::arg("accessed") = py::none())
      .def("set_label", &Volume::set_label, py::arg("label"), Rel())
      .def("import_tree", &Volume::import_tree, py::arg("host_dir"), py::arg("dest"), Rel())
      .def("export_tree", &Volume::export_tree, py::arg("src"), py::arg("host_dir"), Rel())
      .def("check", &Volume::check, py::arg("repair") = false, Rel())
      .def("flush", &Volume::flush, Rel())
      .def("detach", &Volume::detach, Rel());

  m.def(
      "fat_format",
      [](const DevicePtr& device, const std::string& file_system, std::optional<std::uint32_t> cluster_size,
         const std::string& label, std::uint8_t fat_count, std::optional<std::uint32_t> root_entries,
         std::optional<std::uint32_t> serial, std::uint8_t media, bool quick) {
        FormatOptions o = make_options(file_system, cluster_size, label, fat_count, root_entries, serial, media, quick);
        py::gil_scoped_release release;
        return format(device, o);
      },
      py::arg("device"), py::arg("file_system") = "FAT", py::arg("cluster_size") = py::none(), py::arg("label") = "",
      py::arg("fat_count") = 2, py::arg("root_entries") = py::none(), py::arg("serial") = py::none(),
      py::arg("media") = 0xF8, py::arg("quick") = true);
  m.def(
      "fat_plan",
      [](std::uint64_t size, std::uint32_t sector_size, const std::string& file_system,
         std::optional<std::uint32_t> cluster_size, std::uint8_t fat_count, std::optional<std::uint32_t> root_entries) {
        return plan_format(size, sector_size, make_options(file_system, cluster_size, "", fat_count, root_entries, 0, 0xF8, true));
      },
      py::arg("size"), py::arg("sector_size") = 512, py::arg("file_system") = "FAT",
      py::arg("cluster_size") = py::none(), py::arg("fat_count") = 2, py::arg("root_entries") = py::none());
  m.def(
      "fat_copy_tree",
      [](Volume& source, const std::string& src_dir, Volume& target, const std::string& dst_dir,
         const std::string& pattern, bool recurse, bool empty_dirs, bool hidden) {
        std::vector<std::string> copied;
        CopyOptions o{pattern, recurse, empty_dirs, hidden};
        py::gil_scoped_release release;
        copy_tree(source, src_dir, target, dst_dir, o, [&](const std::string& p) { copied.push_back(p); });
        return copied;
      },
      py::arg("source"), py::arg("src_dir"), py::arg("target"), py::arg("dst_dir"), py::arg("pattern") = "*.*",
      py::arg("recurse") = false, py::arg("empty_dirs") = false, py::arg("hidden") = false);
  m.def("fat_wildcard_match", &wildcard_match, py::arg("pattern"), py::arg("name"));
  m.def("format_summary", &shell::format_summary, py::arg("result"), py::arg("volume_bytes"),
        py::arg("previous_file_system") = "RAW", py::arg("quick") = true,
        "Windows format's text after the format, as Windows prints it.");
  m.def(
      "parse_format_switches",
      [](const std::string& switches) {
        shell::FormatCommand c = shell::parse_format_switches(switches);
        py::dict d;
        d["file_system"] = c.options.file_system;
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
  m.def("xcopy_listing", &shell::xcopy_listing, py::arg("source_folder"), py::arg("copied"));
  m.def("fat_file_system_name", &shell::file_system_name, py::arg("device"), Rel());
  m.def("run_format", &shell::run_format, py::arg("device"), py::arg("switches"), Rel(),
        "`format X: <switches>` on a device: formats and returns Windows' text.");
  m.def(
      "run_xcopy",
      [](Volume& source, const std::string& from, Volume& target, const std::string& to, const std::string& switches) {
        shell::DrivePath f = shell::parse_drive_path(from), t = shell::parse_drive_path(to);
        py::gil_scoped_release release;
        return shell::run_xcopy(source, f, target, t, switches);
      },
      py::arg("source"), py::arg("from_path"), py::arg("target"), py::arg("to_path"), py::arg("switches"),
      "`xcopy <from> <to> <switches>` between two volumes whose drive letters the caller resolved.");
}

}  // namespace bootmirror::bindings

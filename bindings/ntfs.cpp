// bootmirror._core.NtfsVolume: the read-only NTFS reader (bootmirror/ntfs.h).
#include "bootmirror/ntfs.h"
#include "bootmirror/ntfs_commands.h"
#include "binding.h"

namespace bootmirror::bindings {

namespace {

// FILETIME (100 ns since 1601) as nanoseconds since 1970, as os.stat's st_mtime_ns: a Python
// int, since a FILETIME past the year 2262 is more nanoseconds than an int64 holds.
py::int_ unix_ns(std::uint64_t filetime) {
  constexpr __int128 kUnixEpoch = 116444736000000000;  // 1970-01-01 in FILETIME
  __int128 ns = (__int128(filetime) - kUnixEpoch) * 100;
  const bool negative = ns < 0;
  std::string digits;
  unsigned __int128 magnitude = negative ? -static_cast<unsigned __int128>(ns) : static_cast<unsigned __int128>(ns);
  do {
    digits.insert(digits.begin(), char('0' + int(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude);
  if (negative) digits.insert(digits.begin(), '-');
  return py::reinterpret_steal<py::int_>(PyLong_FromString(digits.c_str(), nullptr, 10));
}

// A Volume question about a path, asked with the GIL released.
template <typename Answer>
auto on_path(Answer (ntfs::Volume::*question)(std::string_view) const) {
  return [question](const ntfs::Volume& v, const WtfText& path) {
    py::gil_scoped_release release;
    return (v.*question)(path.value);
  };
}

}  // namespace

void bind_ntfs(py::module_& m) {
  using ntfs::FormatOptions;
  using ntfs::FormatResult;
  using ntfs::Volume;
  using ntfs::Entry;
  py::class_<Entry>(m, "NtfsEntry", "A file or folder as its folder lists it.")
      .def_property_readonly("name", [](const Entry& e) { return WtfText{e.name}; })
      .def_readonly("record", &Entry::record)
      .def_readonly("is_dir", &Entry::is_dir)
      .def_readonly("size", &Entry::size)
      .def_readonly("attributes", &Entry::attributes)
      .def_property_readonly("created_ns", [](const Entry& e) { return unix_ns(e.created); })
      .def_property_readonly("modified_ns", [](const Entry& e) { return unix_ns(e.modified); })
      .def_property_readonly("changed_ns", [](const Entry& e) { return unix_ns(e.changed); })
      .def_property_readonly("accessed_ns", [](const Entry& e) { return unix_ns(e.accessed); })
      .def_readonly("created_filetime", &Entry::created)
      .def_readonly("modified_filetime", &Entry::modified)
      .def("__repr__", [](const Entry& e) {
        return py::str("<NtfsEntry {!r} {}>").format(WtfText{e.name}, e.is_dir ? std::string("<DIR>") : std::to_string(e.size) + " bytes");
      });
  py::class_<Volume, std::shared_ptr<Volume>>(m, "NtfsVolume", "An NTFS volume, read-only.")
      .def_static("open", &Volume::open, py::arg("device"), py::call_guard<py::gil_scoped_release>(),
                  "Open the NTFS volume on `device`; FormatError naming what and where if it holds none.")
      .def_property_readonly("bytes_per_sector", &Volume::bytes_per_sector)
      .def_property_readonly("cluster_size", &Volume::cluster_bytes)
      .def_property_readonly("cluster_count", &Volume::cluster_count)
      .def_property_readonly("mft_record_size", &Volume::mft_record_bytes)
      .def_property_readonly("mft_record_count", &Volume::mft_record_count)
      .def_property_readonly("serial", &Volume::serial)
      .def_property_readonly("hidden_sectors", &Volume::hidden_sectors)
      .def_property_readonly("label", &Volume::label)
      .def_property_readonly("dirty", &Volume::dirty)
      .def_property_readonly("version", [](const Volume& v) {
        const ntfs::Version version = v.version();
        return py::make_tuple(version.major, version.minor);
      })
      .def("list", on_path(&Volume::list), py::arg("path"), "The entries of a folder, in index order.")
      .def(
          "walk_step",
          [](const Volume& v, const WtfText& path) {
            // Names alone, straight into Python lists: a walk of ten thousand files would
            // otherwise make (and free) an NtfsEntry object for each.
            std::vector<Entry> entries;
            {
              py::gil_scoped_release release;
              entries = v.list(path.value);
            }
            py::list folders, records, files;
            for (const Entry& e : entries) {
              py::object name = py::reinterpret_steal<py::object>(py::detail::make_caster<WtfText>::cast(
                  WtfText{e.name}, py::return_value_policy::move, nullptr));
              if (!name) throw py::error_already_set();
              if (e.is_dir) {
                folders.append(name);
                records.append(e.record);
              } else {
                files.append(name);
              }
            }
            return py::make_tuple(folders, records, files);
          },
          py::arg("path"), "A folder's (folder names, their record numbers, file names), in index order.")
      .def("stat", on_path(&Volume::stat), py::arg("path"))
      .def("exists", on_path(&Volume::exists), py::arg("path"))
      .def(
          "read_file",
          [](const Volume& v, const WtfText& path) {
            // The bytes object is made at the file's size and read into: no copy on the way.
            py::object bytes;
            {
              py::gil_scoped_release release;
              v.read_file(path.value, [&](std::uint64_t size) {
                py::gil_scoped_acquire gil;
                bytes = py::reinterpret_steal<py::object>(PyBytes_FromStringAndSize(nullptr, py::ssize_t(size)));
                if (!bytes) throw py::error_already_set();
                return MutableByteSpan(reinterpret_cast<std::byte*>(PyBytes_AS_STRING(bytes.ptr())), std::size_t(size));
              });
            }
            return bytes;
          },
          py::arg("path"))
      .def(
          "export_tree",
          [](const Volume& v, const WtfText& src, const py::object& host_dir, const py::object& progress) {
            const std::string host = encode_host_path(host_dir);
            auto callback = python_progress(progress);
            py::gil_scoped_release release;
            return v.export_tree(src.value, host, callback);
          },
          py::arg("src"), py::arg("host_dir"), py::arg("progress") = py::none())
      .def(
          "read_data",
          [](const Volume& v, const py::int_& record, const py::int_& offset, const py::int_& length) {
            const std::uint64_t r = to_unsigned(record, "record number"), at = to_unsigned(offset, "offset");
            // A read asks for what the caller's buffer holds; past 64 MiB it comes in more calls.
            ByteVector bytes(std::size_t(std::min<std::uint64_t>(to_unsigned(length, "length"), 64u << 20)));
            std::size_t n = 0;
            {
              py::gil_scoped_release release;
              n = v.read_data(r, at, bytes);
            }
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), n);
          },
          py::arg("record"), py::arg("offset"), py::arg("length"),
          "Up to `length` bytes of record `record`'s $DATA from `offset` (fewer at its end).")
      .def(
          "read_record",
          [](const Volume& v, const py::int_& number) {
            const std::uint64_t n = to_unsigned(number, "record number");
            ByteVector bytes;
            {
              py::gil_scoped_release release;
              bytes = v.read_record(n);
            }
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          py::arg("number"), "FILE record `number`, its update sequence checked and undone.")
      .def_property_readonly(
          "free_clusters",
          [](const Volume& v) {
            py::gil_scoped_release release;
            return v.free_clusters();
          },
          "Clusters $Bitmap leaves free.")
      .def(
          "allocated_ranges",
          [](const Volume& v) {
            std::vector<Extent> ranges;
            {
              py::gil_scoped_release release;
              ranges = v.allocated_ranges();
            }
            py::list out;
            for (const Extent& e : ranges) out.append(py::make_tuple(e.offset, e.length));
            return out;
          },
          "The byte ranges of the clusters $Bitmap marks in use: [(offset, length), ...].")
      .def(
          "volume_record_place",
          [](const Volume& v) {
            Volume::VolumeRecordPlace place;
            {
              py::gil_scoped_release release;
              place = v.volume_record_place();
            }
            py::list ranges;
            for (const Extent& e : place.ranges) ranges.append(py::make_tuple(e.offset, e.length));
            return py::make_tuple(ranges, place.dirty_flag_bytes);
          },
          "Where $Volume's record lies ([(offset, length)] in the $MFT and $MFTMirr) and the byte of "
          "each copy holding VOLUME_IS_DIRTY.");

  py::class_<FormatResult>(m, "NtfsFormatResult", "What mkntfs made: its geometry and free space.")
      .def_readonly("cluster_size", &FormatResult::cluster_bytes)
      .def_readonly("cluster_count", &FormatResult::cluster_count)
      .def_readonly("free_clusters", &FormatResult::free_clusters)
      .def_readonly("serial", &FormatResult::serial)
      .def("__repr__", [](const FormatResult& r) {
        return fmt::format("<NtfsFormatResult {} clusters of {} bytes, {} free, serial {:016X}>", r.cluster_count,
                           r.cluster_bytes, r.free_clusters, r.serial);
      });
  m.def(
      "ntfs_format",
      [](const DevicePtr& device, const WtfText& label, const py::int_& cluster_size, bool quick,
         const py::object& progress) {
        FormatOptions options;
        options.label = label.value;  // WTF-8: format refuses a lone surrogate by name
        options.cluster_size = std::uint32_t(to_unsigned(cluster_size, "cluster_size", UINT32_MAX));
        options.quick = quick;
        auto callback = python_progress(progress);
        py::gil_scoped_release release;
        return ntfs::format(device, options, callback);
      },
      py::arg("device"), py::arg("label") = "", py::arg("cluster_size") = py::int_(0), py::arg("quick") = true,
      py::arg("progress") = py::none(), "A new NTFS volume on `device`, made by mkntfs.");
  m.def(
      "ntfs_install_tree",
      [](const DevicePtr& device, const py::object& host_folder) {
        const std::string folder = encode_host_path(host_folder);  // str (surrogates too), bytes or a path
        py::gil_scoped_release release;
        ntfs::install_tree(device, folder);
      },
      py::arg("device"), py::arg("host_folder"),
      "Fill the NTFS volume on `device` from a host folder with wimlib-imagex.");
  m.def("ntfs_default_cluster_size", &ntfs::default_cluster_size, py::arg("volume_bytes"), py::arg("sector_size"));
  m.def("ntfs_format_summary", &shell::ntfs_format_summary, py::arg("result"), py::arg("volume_bytes"),
        py::arg("previous") = "RAW", py::arg("quick") = true, "What Windows' format prints for NTFS.");
}

}  // namespace bootmirror::bindings

// bootmirror._core.mirror: dynamic volumes as block devices, rebuilds and verify
// (bootmirror/mirror.h), and the machine's view of them (bootmirror/dynamic.h).
#include <fmt/format.h>

#include "binding.h"
#include "bootmirror/dynamic.h"
#include "bootmirror/mirror.h"

namespace bootmirror::bindings {

namespace {

using mirror::PlexStatus;
using mirror::VerifyReport;
using mirror::VolumeDevice;

// The machine's group and the dynamic volume `which` names in it; UsageError when there is none.
std::pair<dynamic::MachineGroup, std::size_t> machine_volume(Machine& machine, const std::string& which) {
  auto hold = machine.hold();
  auto mg = dynamic::group_of(machine);
  auto index = mg ? dynamic::volume_index(*mg, which) : std::nullopt;
  if (!index) throw UsageError(fmt::format("there is no dynamic volume '{}'", which));
  return {std::move(*mg), *index};
}

}  // namespace

void bind_mirror(py::module_& m) {
  py::module_ r = m.def_submodule("mirror", "Dynamic volumes as block devices; rebuilds and verify");
  using Release = py::call_guard<py::gil_scoped_release>;

  py::class_<PlexStatus>(r, "PlexStatus", "One plex of a volume device: its state and, while rebuilding, its cursor.")
      .def_readonly("name", &PlexStatus::name)
      .def_property_readonly("state", [](const PlexStatus& s) { return mirror::plex_state_name(s.state); },
                             "'in sync', 'rebuilding' or 'failed'.")
      .def_readonly("cursor", &PlexStatus::cursor, "Rebuilding: bytes of the volume copied so far.")
      .def_readonly("problem", &PlexStatus::problem, "Failed: why.");

  py::class_<VerifyReport>(r, "VerifyReport", "What verify() found: XXH3-128 hashes per plex and region, and mismatches.")
      .def_readonly("region_bytes", &VerifyReport::region_bytes)
      .def_readonly("plexes", &VerifyReport::plexes)
      .def_property_readonly("mismatches",
                             [](const VerifyReport& v) {
                               std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
                               for (const auto& x : v.mismatches) out.emplace_back(x.offset, x.length);
                               return out;
                             },
                             "(volume offset, length) of each run of regions where the plexes differ.")
      .def_property_readonly("identical", &VerifyReport::identical)
      .def_property_readonly("hashes",
                             [](const VerifyReport& v) {
                               // Each hash as the 16 bytes XXH3-128 gives (high half first, as xxhsum -H2 prints).
                               std::vector<std::vector<py::bytes>> out;
                               for (const auto& plex : v.hashes) {
                                 auto& row = out.emplace_back();
                                 for (const auto& h : plex) {
                                   char b[16];
                                   for (int i = 0; i < 8; ++i) b[i] = char(h[1] >> (56 - 8 * i)), b[8 + i] = char(h[0] >> (56 - 8 * i));
                                   row.emplace_back(b, 16);
                                 }
                               }
                               return out;
                             });

  py::class_<VolumeDevice, BlockDevice, std::shared_ptr<VolumeDevice>>(
      r, "VolumeDevice", "A dynamic volume: reads from a plex in sync, writes to every plex that holds the range.")
      .def_property_readonly("plexes", &VolumeDevice::plexes, "Each plex's state, in the volume's order.")
      .def_property_readonly("readable", &VolumeDevice::readable, "Whether some plex can serve reads.")
      .def(
          "verify",
          [](VolumeDevice& self, const py::int_& region_bytes, const py::object& progress) {
            const std::uint64_t region = to_unsigned(region_bytes, "region_bytes");
            auto callback = python_progress(progress);
            py::gil_scoped_release release;
            return mirror::verify(self, region, callback);
          },
          py::arg("region_bytes") = py::int_(1u << 20), py::arg("progress") = py::none(),
          "Hash every plex in sync region by region (in parallel) and report where they differ.");

  py::class_<mirror::PlexView, BlockDevice, std::shared_ptr<mirror::PlexView>>(
      r, "PlexView", "One plex of a dynamic volume on its own, read-only, whatever its state.")
      .def(py::init<std::shared_ptr<VolumeDevice>, std::string>(), py::arg("volume"), py::arg("plex"), Release());

  r.def(
      "rebuild",
      [](VolumeDevice& volume, std::size_t plex, std::uint64_t cursor, std::uint64_t chunk_bytes, const py::object& progress) {
        mirror::RebuildOptions options;
        options.chunk_bytes = chunk_bytes;
        options.progress = python_progress(progress);
        py::gil_scoped_release release;
        return mirror::rebuild(volume, plex, cursor, options);
      },
      py::arg("volume"), py::arg("plex"), py::arg("cursor") = 0, py::arg("chunk_bytes") = 4u << 20, py::arg("progress") = py::none(),
      "Copy the volume into plex `plex` from `cursor`, verify it and mark it in sync; False when the progress callback stopped it.");
  r.def("open_ldm_volume", &mirror::open_ldm_volume, py::arg("group"), py::arg("devices"), py::arg("index"), Release(),
        "Volume `index` of a group over the devices it was read from; None when no plex is readable.");
  r.def(
      "machine_volume",
      [](Machine& machine, const std::string& which) {
        std::size_t index = 0;
        std::shared_ptr<VolumeDevice> device;
        {
          py::gil_scoped_release release;
          auto [mg, vi] = machine_volume(machine, which);
          index = vi;
          device = dynamic::open_volume(machine, mg, vi);
        }
        return py::make_tuple(index, device);
      },
      py::arg("machine"), py::arg("which"),
      "(index, device) of the dynamic volume a letter or number names; device None when no plex is readable.");
  r.def(
      "machine_volume_status",
      [](Machine& machine, const std::string& which) {
        auto [mg, vi] = machine_volume(machine, which);
        return dynamic::volume_status(machine, mg, vi);
      },
      py::arg("machine"), py::arg("which"), Release(), "diskpart's status: Healthy, Rebuild, Failed Rd or Failed.");
}

}  // namespace bootmirror::bindings

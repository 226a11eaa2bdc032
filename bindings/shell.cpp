#include "bootmirror/shell.h"
#include "binding.h"

namespace bootmirror::bindings {

void bind_shell(py::module_& m) {
  m.def(
      "diskpart",
      [](Machine& machine, const std::string& script, bool check) {
        std::string transcript;
        {
          py::gil_scoped_release release;
          transcript = shell::Diskpart(machine).run(script, check);
        }
        return display_str(transcript);  // it may quote names from disk (WTF-8)
      },
      py::arg("machine"), py::arg("script"), py::arg("check") = false,
      "Run diskpart commands on a machine; returns the transcript.");
  m.def(
      "diskpart_execute",
      [](Machine& machine, const std::string& line) {
        shell::Outcome outcome;
        {
          py::gil_scoped_release release;
          outcome = shell::Diskpart(machine).execute(line);
        }
        return py::make_tuple(display_str(outcome.text), outcome.ok, outcome.leave);
      },
      py::arg("machine"), py::arg("line"), "One diskpart command: (text, ok, leave).");
  m.def("diskpart_size", &shell::format_size, py::arg("bytes"), "A byte count as diskpart's Size and Offset columns show it.");
  m.def(
      "diskpart_volume_type",
      [](const std::string& layout) {
        for (auto l : {ldm::Layout::simple, ldm::Layout::spanned, ldm::Layout::striped, ldm::Layout::mirrored, ldm::Layout::raid5})
          if (layout == ldm::layout_name(l)) return shell::volume_type_word(l);
        throw UsageError("'" + layout + "' is not an LDM layout");
      },
      py::arg("layout"), "diskpart's Type column for a dynamic volume of this layout ('mirrored': 'Mirror').");
}

}  // namespace bootmirror::bindings

// Shared helpers of the binding files. The bindings convert types, release the GIL around long
// work and map errors; they hold no logic of their own.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

namespace py = pybind11;

namespace bootmirror::bindings {

// One registration function per binding file, called in this order by module.cpp.
void bind_errors(py::module_& m);
void bind_core(py::module_& m);
void bind_io(py::module_& m);
void bind_gpt(py::module_& m);
void bind_fat(py::module_& m);
void bind_machine(py::module_& m);
void bind_shell(py::module_& m);
void bind_ldm(py::module_& m);
void bind_dynamic(py::module_& m);
void bind_volumes(py::module_& m);
void bind_mirror(py::module_& m);
void bind_ntfs(py::module_& m);

// Host paths, both ways, as os.fsencode and os.fsdecode do: a path argument may be str, bytes or
// os.PathLike, and bytes the file system encoding cannot decode travel as surrogates (never a
// UnicodeDecodeError, never a TypeError for a path os.listdir gave).
std::string encode_host_path(const py::object& path);
py::str decode_host_path(const std::string& path);

// A size given as an int (bytes) or a string such as "204 MiB".
std::uint64_t to_size(const py::object& value, const char* what);
// An offset, length or number given as a Python int: UsageError naming `what` when it is negative
// or above `max` (pybind11's own unsigned conversion would answer a bare TypeError).
std::uint64_t to_unsigned(const py::int_& value, const char* what, std::uint64_t max = UINT64_MAX);

}  // namespace bootmirror::bindings

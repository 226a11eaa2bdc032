// The test data folder for the C++ tests, found as tests/python/conftest.py finds it for pytest and
// the notebooks (README.md, "Test data"): the folder named by BOOTMIRROR_TEST_DATA, by default the
// folder `shared` beside the repository. A relative value is taken from the repository root (CMake
// passes it as BOOTMIRROR_REPOSITORY), as the default is, so CTest, which runs the tests in the build
// folder, finds the same folder as pytest.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace bootmirror::test_data {

inline constexpr const char* kVariable = "BOOTMIRROR_TEST_DATA";
inline constexpr const char* kDefault = "../shared";
// The 19 dynamic disks Windows Server 2003 R2 and 2008 R2 made (libldm's test data).
inline constexpr const char* kWindowsImages = "data/ldm-windows/ldm-data.tar.xz";

inline std::filesystem::path folder() {
  const char* value = std::getenv(kVariable);
  return (std::filesystem::path(BOOTMIRROR_REPOSITORY) / (value && *value ? value : kDefault)).lexically_normal();
}

// The file `name` of the test data folder. When it is not there the test fails with this exception
// (never a skip, in CI or out of it), which names the file and the variable to set.
inline std::filesystem::path file(const std::string& name) {
  std::filesystem::path path = folder() / name;
  if (!std::filesystem::is_regular_file(path))
    throw std::runtime_error(fmt::format("test data missing: {}; set {} to the folder that holds {} (README.md, \"Test data\")",
                                         path.string(), kVariable, name));
  return path;
}

}  // namespace bootmirror::test_data

#include "bootmirror/error.h"

#include <cstring>

#include <fmt/format.h>

namespace bootmirror {

FormatError::FormatError(const std::string& message, std::uint64_t offset)
    : Error(fmt::format("{} (at byte {:#x})", message, offset)), offset_(offset), description_(message) {}

FormatError FormatError::within(const std::string& context) const {
  const std::string message = fmt::format("{}: {}", context, description_);
  return offset_ ? FormatError(message, *offset_) : FormatError(message);
}

OsError::OsError(int error_number, std::string path, const std::string& action)
    : Error(fmt::format("{}: {}: {}", path, action, std::strerror(error_number))),
      errno_(error_number),
      path_(std::move(path)),
      reason_(fmt::format("{}: {}", action, std::strerror(error_number))) {}

}  // namespace bootmirror

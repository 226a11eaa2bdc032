// The one error hierarchy of bootmirror. The bindings map each class to its Python twin:
// Error -> bootmirror.Error, FormatError -> bootmirror.FormatError,
// UsageError -> bootmirror.UsageError, OsError -> OSError (with errno and path).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace bootmirror {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Corrupt or unsupported on-disk data. The message names the structure, the byte offset on the
// device where it was read, and what was expected there.
class FormatError : public Error {
 public:
  explicit FormatError(const std::string& message) : Error(message), description_(message) {}
  FormatError(const std::string& message, std::uint64_t offset);
  std::optional<std::uint64_t> offset() const { return offset_; }
  // The message without the "(at byte ...)" that what() ends with.
  const std::string& description() const { return description_; }
  // The same error, its message led by `context` ("disk1.img: ..."), its offset kept.
  FormatError within(const std::string& context) const;

 private:
  std::optional<std::uint64_t> offset_;
  std::string description_;
};

// Bad arguments or an operation that the current state does not allow.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A failure reported by the operating system (or a simulated one from FaultyDisk).
class OsError : public Error {
 public:
  OsError(int error_number, std::string path, const std::string& action);
  int error_number() const { return errno_; }
  const std::string& path() const { return path_; }
  // The strerror-style text without the path, as Python's OSError wants it.
  const std::string& reason() const { return reason_; }

 private:
  int errno_;
  std::string path_;
  std::string reason_;
};

}  // namespace bootmirror

// A small JSON value for bootmirror's own files (the machine folder's machine.json): objects keep
// their keys sorted, numbers are 64-bit integers or doubles, text is UTF-8. Parse errors are
// FormatErrors with the byte offset. Every error names machine.json, the one file it is read from
// (sections are read long after the file was opened, by code that knows nothing of its path).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bootmirror {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool value) : value_(value) {}
  Json(int value) : value_(std::int64_t(value)) {}
  Json(std::int64_t value) : value_(value) {}
  Json(std::uint64_t value) : value_(std::int64_t(value)) {}
  Json(std::uint32_t value) : value_(std::int64_t(value)) {}
  Json(double value) : value_(value) {}
  Json(const char* value) : value_(std::string(value)) {}
  Json(std::string value) : value_(std::move(value)) {}
  Json(Array value) : value_(std::move(value)) {}
  Json(Object value) : value_(std::move(value)) {}

  static Json parse(std::string_view text);
  // Two-space indented, keys sorted, ending without a newline.
  std::string dump(int indent = 2) const;

  bool is_null() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_object() const { return std::holds_alternative<Object>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_integer() const { return std::holds_alternative<std::int64_t>(value_); }

  // Typed access: FormatError naming `what` when the value has another type.
  const Object& object(std::string_view what = "value") const;
  const Array& array(std::string_view what = "value") const;
  const std::string& string(std::string_view what = "value") const;
  std::int64_t integer(std::string_view what = "value") const;
  // An integer that must lie in [min, max] (one narrowed to an int or a size): FormatError if not.
  std::int64_t integer(std::string_view what, std::int64_t min, std::int64_t max) const;
  bool boolean(std::string_view what = "value") const;
  // Turns null into an empty object; FormatError naming `what` when the value is something else.
  Object& object_mut(std::string_view what = "a section");
  // A member of an object, or null when absent.
  const Json& operator[](const std::string& key) const;

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object> value_;
};

}  // namespace bootmirror

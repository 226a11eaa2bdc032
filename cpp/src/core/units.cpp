#include "bootmirror/units.h"

#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "bootmirror/error.h"

namespace bootmirror {

namespace {
struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Windows (and diskpart) count KB, MB, GB, TB in powers of 1024; the IEC names mean the same.
constexpr Unit kUnits[] = {
    {"", 1},           {"b", 1},
    {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
    {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20},
    {"g", 1ull << 30}, {"gb", 1ull << 30}, {"gib", 1ull << 30},
    {"t", 1ull << 40}, {"tb", 1ull << 40}, {"tib", 1ull << 40},
};

std::string lower(std::string_view text) {
  std::string out;
  for (char c : text) out.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

[[noreturn]] void bad_size(std::string_view text, std::string_view why) {
  throw UsageError(fmt::format("'{}' is not a size: {} (examples: 4096, \"204 MiB\", \"10 GB\"; KB/MB/GB are powers of 1024)", text, why));
}
}  // namespace

std::uint64_t parse_size(std::string_view text) {
  std::size_t i = 0;
  auto skip_space = [&] { while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i; };
  skip_space();
  std::size_t digits_start = i;
  std::uint64_t whole = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    unsigned digit = unsigned(text[i] - '0');
    if (whole > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) bad_size(text, "too large");
    whole = whole * 10 + digit;
    ++i;
  }
  if (i == digits_start) bad_size(text, "expected a number");
  // An optional decimal fraction, kept as digits so that "1.5 GiB" is exact.
  std::uint64_t fraction = 0, fraction_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (fraction_scale >= 1'000'000'000'000ull) bad_size(text, "too many decimal places");
      fraction = fraction * 10 + unsigned(text[i] - '0');
      fraction_scale *= 10;
      ++i;
    }
  }
  skip_space();
  std::string unit = lower(text.substr(i));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  for (const Unit& u : kUnits) {
    if (u.name != unit) continue;
    if (whole > std::numeric_limits<std::uint64_t>::max() / u.factor) bad_size(text, "too large");
    std::uint64_t bytes = whole * u.factor;
    if (fraction != 0) {
      // fraction/fraction_scale of a unit must be a whole number of bytes.
      unsigned __int128 part = static_cast<unsigned __int128>(fraction) * u.factor;
      if (part % fraction_scale != 0) bad_size(text, "not a whole number of bytes");
      std::uint64_t extra = std::uint64_t(part / fraction_scale);
      if (bytes > std::numeric_limits<std::uint64_t>::max() - extra) bad_size(text, "too large");
      bytes += extra;
    }
    return bytes;
  }
  bad_size(text, fmt::format("unknown unit '{}'", text.substr(i)));
}

std::string describe_size(std::uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  if (std::fabs(value - std::round(value)) < 0.05) return fmt::format("{:.0f} {}", value, kNames[unit]);
  return fmt::format("{:.1f} {}", value, kNames[unit]);
}

std::string with_thousands(std::uint64_t value) {
  std::string digits = std::to_string(value), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace bootmirror

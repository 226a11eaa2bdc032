// The global variables of UEFI 2.10, 3.3 (vendor EFI_GLOBAL_VARIABLE) that boot configuration
// uses: Boot#### (an EFI_LOAD_OPTION each), BootOrder (UINT16 array), BootNext, BootCurrent and
// Timeout (one UINT16 each). Their names are UCS-2 like every variable name, #### being four
// uppercase hex digits ("Boot000A").
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace {
constexpr std::u16string_view kBootOrder = u"BootOrder";
constexpr std::u16string_view kBootNext = u"BootNext";
constexpr std::u16string_view kBootCurrent = u"BootCurrent";
constexpr std::u16string_view kTimeout = u"Timeout";
}  // namespace

std::u16string boot_variable_name(std::uint16_t number) { return utf8_to_utf16(fmt::format("Boot{:04X}", number)); }

std::optional<std::uint16_t> boot_number_of(std::u16string_view name) {
  if (name.size() != 8 || name.substr(0, 4) != u"Boot") return std::nullopt;
  std::uint16_t number = 0;
  for (char16_t c : name.substr(4)) {
    int digit = (c >= u'0' && c <= u'9') ? c - u'0' : (c >= u'A' && c <= u'F') ? c - u'A' + 10 : -1;
    if (digit < 0) return std::nullopt;
    number = std::uint16_t(number * 16 + digit);
  }
  return number;
}

std::vector<std::uint16_t> decode_u16_list(ByteSpan bytes, std::string_view what) {
  if (bytes.size() % 2 != 0)
    throw FormatError(fmt::format("{}: {} bytes is not a whole number of UINT16 values", what, bytes.size()));
  std::vector<std::uint16_t> values(bytes.size() / 2);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = load_le<std::uint16_t>(bytes, 2 * i);
  return values;
}

ByteVector encode_u16_list(const std::vector<std::uint16_t>& values) {
  ByteVector out(2 * values.size());
  for (std::size_t i = 0; i < values.size(); ++i) store_le<std::uint16_t>(out, 2 * i, values[i]);
  return out;
}

std::optional<WindowsOsOptions> BootEntry::windows_options() const {
  if (!WindowsOsOptions::present_in(option.optional_data)) return std::nullopt;
  return WindowsOsOptions::decode(option.optional_data);
}

namespace {

// Boot#### `number` from its live record; a FormatError names the variable, with offsets in the
// store (its data follows the header and the name).
BootEntry decode_boot_entry(const Record& r, std::uint16_t number, std::uint64_t header_size) {
  const std::uint64_t data_at = r.offset + header_size + 2 * (r.variable.name.size() + 1);
  try {
    return BootEntry{number, r.variable.attributes, LoadOption::decode(r.variable.data, data_at)};
  } catch (const FormatError& e) {
    throw e.within(r.variable.name_utf8());
  }
}

}  // namespace

std::vector<BootEntry> Store::boot_entries() const {
  std::lock_guard lock(mutex_);
  std::vector<BootEntry> entries;
  for (const Record& r : records_) {
    if (!r.live || r.variable.vendor != global_variable_guid()) continue;
    if (const auto number = boot_number_of(r.variable.name)) entries.push_back(decode_boot_entry(r, *number, layout_.header_size()));
  }
  std::sort(entries.begin(), entries.end(), [](const BootEntry& a, const BootEntry& b) { return a.number < b.number; });
  return entries;
}

// This entry's record alone: a damaged Boot#### elsewhere in the store is not this one's error
// (firmware skips an invalid load option and tries the next).
std::optional<BootEntry> Store::boot_entry(std::uint16_t number) const {
  std::lock_guard lock(mutex_);
  const std::u16string name = boot_variable_name(number);
  for (const Record& r : records_)
    if (r.live && r.variable.vendor == global_variable_guid() && r.variable.name == name)
      return decode_boot_entry(r, number, layout_.header_size());
  return std::nullopt;
}

void Store::set_boot_entry(std::uint16_t number, const LoadOption& option, std::uint32_t attributes) {
  if (option.file_paths.empty()) throw UsageError(fmt::format("Boot{:04X} needs a device path to boot", number));
  set(boot_variable_name(number), global_variable_guid(), option.encode(), attributes);
}

bool Store::remove_boot_entry(std::uint16_t number) {
  // Out of BootOrder first, as efibootmgr -B does: a crash between the two leaves an entry that
  // nothing lists, never a listed one that is gone.
  std::vector<std::uint16_t> order = boot_order();
  if (std::erase(order, number)) set_boot_order(order);
  return remove(boot_variable_name(number), global_variable_guid());
}

std::uint16_t Store::free_boot_number() const {
  std::vector<bool> used(0x10000);
  for (const Variable& v : variables())
    if (v.vendor == global_variable_guid())
      if (auto n = boot_number_of(v.name)) used[*n] = true;
  for (std::size_t n = 0; n < used.size(); ++n)
    if (!used[n]) return std::uint16_t(n);
  throw UsageError("all 65536 Boot#### numbers are taken");
}

std::vector<std::uint16_t> Store::boot_order() const {
  const auto v = get(kBootOrder, global_variable_guid());
  return v ? decode_u16_list(v->data, "BootOrder") : std::vector<std::uint16_t>{};
}

void Store::set_boot_order(const std::vector<std::uint16_t>& order) {
  if (order.empty()) remove(kBootOrder, global_variable_guid());
  else set(kBootOrder, global_variable_guid(), encode_u16_list(order), kDefaultAttributes);
}

std::optional<std::uint16_t> Store::u16_variable(std::u16string_view name) const {
  const auto v = get(name, global_variable_guid());
  if (!v) return std::nullopt;
  if (v->data.size() != 2)
    throw FormatError(fmt::format("{}: {} bytes instead of one UINT16", utf16_to_wtf8(name), v->data.size()));
  return load_le<std::uint16_t>(v->data, 0);
}

void Store::set_u16_variable(std::u16string_view name, std::optional<std::uint16_t> value) {
  if (!value) {
    remove(name, global_variable_guid());
    return;
  }
  set(name, global_variable_guid(), encode_u16_list({*value}), kDefaultAttributes);
}

std::optional<std::uint16_t> Store::boot_next() const { return u16_variable(kBootNext); }
void Store::set_boot_next(std::optional<std::uint16_t> number) { set_u16_variable(kBootNext, number); }
std::optional<std::uint16_t> Store::boot_current() const { return u16_variable(kBootCurrent); }
std::optional<std::uint16_t> Store::timeout() const { return u16_variable(kTimeout); }
void Store::set_timeout(std::optional<std::uint16_t> seconds) { set_u16_variable(kTimeout, seconds); }

}  // namespace bootmirror::nvram

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

std::vector<std::uint16_t> decode_u16_list(ByteSpan bytes, std::string_view what, std::uint64_t offset) {
  if (bytes.size() % 2 != 0)
    throw FormatError(fmt::format("{}: {} bytes is not a whole number of UINT16 values", what, bytes.size()), offset);
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
  try {
    return WindowsOsOptions::find(option.optional_data, optional_data_offset);
  } catch (const FormatError& e) {
    throw e.within(utf16_to_wtf8(boot_variable_name(number)));
  }
}

namespace {

// Boot#### `number` from its live record; a FormatError names the store and the variable, with
// offsets in the store.
BootEntry decode_boot_entry(const Record& r, std::uint16_t number, const std::string& store) {
  try {
    BootEntry entry{number, r.variable.attributes, LoadOption::decode(r.variable.data, r.data_offset)};
    entry.optional_data_offset = r.data_offset + r.variable.data.size() - entry.option.optional_data.size();
    return entry;
  } catch (const FormatError& e) {
    throw e.within(fmt::format("{}: {}", store, r.variable.name_utf8()));
  }
}

}  // namespace

std::vector<BootEntry> Store::boot_entries() const {
  std::lock_guard lock(mutex_);
  std::vector<BootEntry> entries;
  for (const Record& r : records_) {
    if (!r.live || r.variable.vendor != global_variable_guid()) continue;
    if (const auto number = boot_number_of(r.variable.name))
      entries.push_back(decode_boot_entry(r, *number, device_->name()));
  }
  std::sort(entries.begin(), entries.end(), [](const BootEntry& a, const BootEntry& b) { return a.number < b.number; });
  return entries;
}

std::vector<std::uint16_t> Store::boot_numbers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::uint16_t> numbers;
  for (const Record& r : records_)
    if (r.live && r.variable.vendor == global_variable_guid())
      if (const auto number = boot_number_of(r.variable.name)) numbers.push_back(*number);
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

// This entry's record alone: a damaged Boot#### elsewhere in the store is not this one's error
// (firmware skips an invalid load option and tries the next).
std::optional<BootEntry> Store::boot_entry(std::uint16_t number) const {
  const auto r = global_record(boot_variable_name(number));
  if (!r) return std::nullopt;
  return decode_boot_entry(*r, number, device_->name());
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

std::optional<Record> Store::global_record(std::u16string_view name) const {
  std::lock_guard lock(mutex_);
  for (const Record& r : records_)
    if (r.live && r.variable.vendor == global_variable_guid() && r.variable.name == name) return r;
  return std::nullopt;
}

std::vector<std::uint16_t> Store::boot_order() const {
  const auto r = global_record(kBootOrder);
  if (!r) return {};
  try {
    return decode_u16_list(r->variable.data, "BootOrder", r->data_offset);
  } catch (const FormatError& e) {
    throw e.within(device_->name());
  }
}

void Store::set_boot_order(const std::vector<std::uint16_t>& order) {
  if (order.empty()) remove(kBootOrder, global_variable_guid());
  else set(kBootOrder, global_variable_guid(), encode_u16_list(order), kDefaultAttributes);
}

std::optional<std::uint16_t> Store::u16_variable(std::u16string_view name) const {
  const auto r = global_record(name);
  if (!r) return std::nullopt;
  if (r->variable.data.size() != 2)
    throw FormatError(fmt::format("{}: {}: {} bytes instead of one UINT16", device_->name(), utf16_to_wtf8(name),
                                  r->variable.data.size()), r->data_offset);
  return load_le<std::uint16_t>(r->variable.data, 0);
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

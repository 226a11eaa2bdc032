// The UEFI text form of device paths read back into nodes (UEFI 2.10, 10.6; EDK2's
// DevicePathFromText.c for the conventions): nodes split at '/' and instances at ',' outside
// parentheses; Name(arg,...) for the node kinds device_path_text.cpp prints and the generic
// Path(type,subtype,hex) with its per-type variants; any other text is a File Path node (as EDK2
// takes it). Numbers are 0x-hex or decimal. Bad arguments are a UsageError naming the node.
#include <cctype>

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"
#include "nvram/device_path_text.h"

namespace bootmirror::nvram::text {

namespace {

// Splits at `separators` outside parentheses; `kinds` receives which separator ended each piece.
std::vector<std::string_view> split_outside_parens(std::string_view text, std::string_view separators,
                                                   std::vector<char>* kinds = nullptr) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (depth == 0 && separators.find(c) != std::string_view::npos) {
      parts.push_back(text.substr(start, i - start));
      if (kinds) kinds->push_back(c);
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

class Args {
 public:
  Args(std::string_view node, std::string_view name, std::string_view inside)
      : node_(node), name_(name), args_(split_outside_parens(inside, ",")) {
    for (auto& a : args_) a = trim(a);
    if (args_.size() == 1 && args_[0].empty()) args_.clear();
  }
  std::size_t size() const { return args_.size(); }
  void expect(std::size_t low, std::size_t high) const {
    if (args_.size() < low || args_.size() > high)
      fail(low == high ? fmt::format("takes {} arguments", low) : fmt::format("takes {} to {} arguments", low, high));
  }
  std::string_view text(std::size_t i) const { return i < args_.size() ? args_[i] : std::string_view(); }
  std::uint64_t number(std::size_t i, std::uint64_t max, std::uint64_t fallback = 0) const {
    if (i >= args_.size() || args_[i].empty()) return fallback;
    std::string_view s = args_[i];
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16;
      s.remove_prefix(2);
    }
    std::uint64_t value = 0;
    for (char c : s) {
      const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                        : (base == 16 && std::isxdigit(static_cast<unsigned char>(c))) ? std::tolower(c) - 'a' + 10
                                                                                        : -1;
      if (digit < 0) fail(fmt::format("argument '{}' is not a number", args_[i]));
      if (value > (max - std::uint64_t(digit)) / std::uint64_t(base)) fail(fmt::format("argument '{}' is too large", args_[i]));
      value = value * std::uint64_t(base) + std::uint64_t(digit);
    }
    return value;
  }
  Guid guid(std::size_t i) const {
    if (!Guid::is_valid(text(i))) fail(fmt::format("argument '{}' is not a GUID", text(i)));
    return Guid::parse(text(i));
  }
  ByteVector hex(std::size_t i) const {
    std::string_view s = text(i);
    if (s.size() % 2 != 0) fail(fmt::format("hex data '{}' has an odd number of digits", s));
    ByteVector out;
    for (std::size_t k = 0; k < s.size(); k += 2) {
      if (!std::isxdigit(static_cast<unsigned char>(s[k])) || !std::isxdigit(static_cast<unsigned char>(s[k + 1])))
        fail(fmt::format("hex data '{}' holds a non-hex digit", s));
      out.push_back(std::byte(std::stoi(std::string(s.substr(k, 2)), nullptr, 16)));
    }
    return out;
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw UsageError(fmt::format("device path node '{}': {} {}", node_, name_, why));
  }

 private:
  std::string_view node_, name_;
  std::vector<std::string_view> args_;
};

void put_u16(ByteVector& d, std::uint64_t v) { d.push_back(std::byte(v & 0xFF)), d.push_back(std::byte(v >> 8)); }
void put_u32(ByteVector& d, std::uint64_t v) {
  for (int i = 0; i < 4; ++i) d.push_back(std::byte((v >> (8 * i)) & 0xFF));
}
void put_u64(ByteVector& d, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) d.push_back(std::byte((v >> (8 * i)) & 0xFF));
}
void put_guid(ByteVector& d, const Guid& g) {
  const std::size_t at = d.size();
  d.resize(at + 16);
  g.store_uefi_bytes(MutableByteSpan(d).subspan(at, 16));
}

DevicePathNode acpi_node(std::uint32_t hid, std::uint64_t uid) {
  DevicePathNode n{kAcpiPath, 0x01, {}};
  put_u32(n.data, hid);
  put_u32(n.data, uid);
  return n;
}

std::uint32_t eisa_id(const Args& a, std::string_view text) {
  // "PNP0A03": three letters packed in the low 16 bits (5 bits each, 'A' = 1), a hex product number above.
  if (text.size() == 7 && std::isalpha(static_cast<unsigned char>(text[0]))) {
    std::uint32_t letters = 0;
    for (int i = 0; i < 3; ++i) {
      const int c = std::toupper(static_cast<unsigned char>(text[i]));
      if (c < 'A' || c > 'Z') a.fail(fmt::format("'{}' is not an EISA id", text));
      letters = (letters << 5) | std::uint32_t(c - '@');
    }
    std::uint32_t product = 0;
    for (char c : text.substr(3)) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) a.fail(fmt::format("'{}' is not an EISA id", text));
      product = product * 16 + std::uint32_t(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
    }
    return (product << 16) | letters;
  }
  return std::uint32_t(a.number(0, 0xFFFFFFFF));
}

DevicePathNode vendor_node(std::uint8_t type, std::uint8_t subtype, const Args& a) {
  a.expect(1, 2);
  DevicePathNode n{type, subtype, {}};
  put_guid(n.data, a.guid(0));
  const ByteVector extra = a.hex(1);
  n.data.insert(n.data.end(), extra.begin(), extra.end());
  return n;
}

std::array<std::byte, 4> ipv4(const Args& a, std::size_t i) {
  const auto parts = split_outside_parens(a.text(i), ".");
  std::array<std::byte, 4> out{};
  if (a.text(i).empty()) return out;
  if (parts.size() != 4) a.fail(fmt::format("'{}' is not an IPv4 address", a.text(i)));
  for (std::size_t k = 0; k < 4; ++k) {
    unsigned v = 0;
    if (parts[k].empty() || parts[k].size() > 3) a.fail(fmt::format("'{}' is not an IPv4 address", a.text(i)));
    for (char c : parts[k]) {
      if (!std::isdigit(static_cast<unsigned char>(c))) a.fail(fmt::format("'{}' is not an IPv4 address", a.text(i)));
      v = v * 10 + unsigned(c - '0');
    }
    if (v > 255) a.fail(fmt::format("'{}' is not an IPv4 address", a.text(i)));
    out[k] = std::byte(v);
  }
  return out;
}

DevicePathNode ipv4_node(const Args& a) {
  a.expect(1, 6);
  DevicePathNode n{kMessagingPath, 0x0C, {}};
  const auto remote = ipv4(a, 0), local = ipv4(a, 3);
  n.data.insert(n.data.end(), local.begin(), local.end());
  n.data.insert(n.data.end(), remote.begin(), remote.end());
  put_u16(n.data, 0);
  put_u16(n.data, 0);
  const std::string_view protocol = a.text(1);
  put_u16(n.data, protocol == "TCP" ? 6 : protocol == "UDP" ? 17 : a.number(1, 0xFFFF));
  if (a.text(2) != "" && a.text(2) != "Static" && a.text(2) != "DHCP") a.fail("wants Static or DHCP");
  n.data.push_back(std::byte(a.text(2) == "Static" ? 1 : 0));
  // The gateway and mask fields came with UEFI 2.4; a node is written in the newer size.
  const auto gateway = ipv4(a, 4), mask = ipv4(a, 5);
  n.data.insert(n.data.end(), gateway.begin(), gateway.end());
  n.data.insert(n.data.end(), mask.begin(), mask.end());
  return n;
}

DevicePathNode hard_drive_node(const Args& a) {
  a.expect(5, 5);
  const auto number = std::uint32_t(a.number(0, 0xFFFFFFFF));
  const auto start = a.number(3, UINT64_MAX), size = a.number(4, UINT64_MAX);
  if (a.text(1) == "GPT") return HardDrive::gpt(number, start, size, a.guid(2)).node();
  if (a.text(1) == "MBR") return HardDrive::mbr(number, start, size, std::uint32_t(a.number(2, 0xFFFFFFFF))).node();
  HardDrive hd{number, start, size, {}, 0, std::uint8_t(a.number(1, 0xFF))};
  if (a.number(2, 0) != 0) a.fail("takes signature 0 with a numeric signature type");
  return hd.node();
}

DevicePathNode generic_node(std::optional<std::uint8_t> type, const Args& a) {
  const std::size_t first = type ? 0 : 1;
  a.expect(first + 1, first + 2);
  DevicePathNode n{type ? *type : std::uint8_t(a.number(0, 0xFF)), std::uint8_t(a.number(first, 0xFF)), a.hex(first + 1)};
  if (n.data.size() > 0xFFFF - 4) a.fail("holds more data than a node's Length can count");
  if (n.type == kEndPath && n.subtype == kEndEntire) a.fail("would end the path inside it (End Entire is implied)");
  return n;
}

DevicePathNode named_node(std::string_view node, std::string_view name, const Args& a) {
  auto u32s = [&](std::uint8_t type, std::uint8_t subtype, std::size_t count, std::size_t width) {
    a.expect(count, count);
    DevicePathNode n{type, subtype, {}};
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t v = a.number(i, width == 1 ? 0xFF : width == 2 ? 0xFFFF : width == 4 ? 0xFFFFFFFF : UINT64_MAX);
      if (width == 1) n.data.push_back(std::byte(v));
      else if (width == 2) put_u16(n.data, v);
      else if (width == 4) put_u32(n.data, v);
      else put_u64(n.data, v);
    }
    return n;
  };
  auto acpi_uid = [&](std::uint32_t product) {
    a.expect(0, 1);
    return acpi_node((product << 16) | 0x41D0, a.number(0, 0xFFFFFFFF));
  };
  if (name == "Pci") {
    DevicePathNode n = u32s(kHardwarePath, 0x01, 2, 1);
    std::swap(n.data[0], n.data[1]);  // text is (Device,Function); bytes are Function, Device
    return n;
  }
  if (name == "Ctrl") return u32s(kHardwarePath, 0x05, 1, 4);
  if (name == "VenHw") return vendor_node(kHardwarePath, 0x04, a);
  if (name == "PciRoot") return acpi_uid(0x0A03);
  if (name == "PcieRoot") return acpi_uid(0x0A08);
  if (name == "Floppy") return acpi_uid(0x0604);
  if (name == "Keyboard") return acpi_uid(0x0301);
  if (name == "Serial") return acpi_uid(0x0501);
  if (name == "ParallelPort") return acpi_uid(0x0401);
  if (name == "Acpi") {
    a.expect(1, 2);
    return acpi_node(eisa_id(a, a.text(0)), a.number(1, 0xFFFFFFFF));
  }
  if (name == "Scsi") return u32s(kMessagingPath, 0x02, 2, 2);
  if (name == "USB") return u32s(kMessagingPath, 0x05, 2, 1);
  if (name == "VenMsg") return vendor_node(kMessagingPath, 0x0A, a);
  if (name == "Sata") return u32s(kMessagingPath, 0x12, 3, 2);
  if (name == "IPv4") return ipv4_node(a);
  if (name == "MAC") {
    a.expect(1, 2);
    DevicePathNode n{kMessagingPath, 0x0B, a.hex(0)};
    if (n.data.size() > 32) a.fail("takes a MAC address of 32 bytes at most");
    n.data.resize(32);
    n.data.push_back(std::byte(a.number(1, 0xFF)));
    return n;
  }
  if (name == "NVMe") {
    a.expect(2, 2);
    DevicePathNode n{kMessagingPath, 0x17, {}};
    put_u32(n.data, a.number(0, 0xFFFFFFFF));
    std::string digits;
    for (char c : a.text(1))
      if (c != '-') digits.push_back(c);
    Args eui(node, name, digits);
    ByteVector bytes = eui.hex(0);
    if (bytes.size() != 8) a.fail("takes an EUI-64 of 8 bytes");
    n.data.insert(n.data.end(), bytes.rbegin(), bytes.rend());
    return n;
  }
  if (name == "Uri") {
    const auto inside = node.substr(name.size() + 1, node.size() - name.size() - 2);
    DevicePathNode n{kMessagingPath, 0x18, {}};
    for (char c : inside) n.data.push_back(std::byte(c));
    return n;
  }
  if (name == "HD") return hard_drive_node(a);
  if (name == "CDROM") {
    a.expect(3, 3);
    DevicePathNode n{kMediaPath, 0x02, {}};
    put_u32(n.data, a.number(0, 0xFFFFFFFF));
    put_u64(n.data, a.number(1, UINT64_MAX));
    put_u64(n.data, a.number(2, UINT64_MAX));
    return n;
  }
  if (name == "VenMedia") return vendor_node(kMediaPath, 0x03, a);
  if (name == "FvFile" || name == "Fv") {
    a.expect(1, 1);
    DevicePathNode n{kMediaPath, std::uint8_t(name == "Fv" ? 0x07 : 0x06), {}};
    put_guid(n.data, a.guid(0));
    return n;
  }
  if (name == "Path") return generic_node(std::nullopt, a);
  if (name == "HardwarePath") return generic_node(kHardwarePath, a);
  if (name == "AcpiPath") return generic_node(kAcpiPath, a);
  if (name == "Msg") return generic_node(kMessagingPath, a);
  if (name == "MediaPath") return generic_node(kMediaPath, a);
  if (name == "BbsPath") return generic_node(kBbsPath, a);
  return file_path_node(wtf8_to_utf16(node));
}

}  // namespace

DevicePathNode parse_node(std::string_view node) {
  const std::size_t open = node.find('(');
  if (open != std::string_view::npos && open > 0 && node.back() == ')') {
    const std::string_view name = node.substr(0, open);
    if (std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
      return named_node(node, name, Args(node, name, node.substr(open + 1, node.size() - open - 2)));
  }
  return file_path_node(wtf8_to_utf16(node));
}

}  // namespace bootmirror::nvram::text

namespace bootmirror::nvram {

DevicePath DevicePath::parse(std::string_view text_form) {
  DevicePath path;
  if (text_form.empty()) return path;
  std::vector<char> kinds;
  const auto pieces = text::split_outside_parens(text_form, "/,", &kinds);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    // An empty piece between separators (a leading '/', "a//b") names no node.
    if (!pieces[i].empty()) path.nodes.push_back(text::parse_node(pieces[i]));
    if (i < kinds.size() && kinds[i] == ',') path.nodes.push_back({kEndPath, kEndInstance, {}});
  }
  return path;
}

}  // namespace bootmirror::nvram

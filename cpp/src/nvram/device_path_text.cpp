// Device path nodes printed in the UEFI text form (UEFI 2.10, 10.6.1.x tables, with EDK2's
// DevicePathToText.c for the details the tables leave open: numbers as 0x-hex, partition numbers
// in decimal, NVMe's EUI-64 from its last byte). A node whose standard text would not parse back
// to the same bytes (a port an IPv4 form leaves out, a file name holding a '/') is printed in the
// generic Path(type,subtype,hexdata) form, which every reader takes, so text always round-trips.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"
#include "nvram/device_path_text.h"

namespace bootmirror::nvram::text {

namespace {

std::string hex_bytes(ByteSpan bytes) {
  std::string out;
  for (std::byte b : bytes) out += fmt::format("{:02X}", unsigned(b));
  return out;
}

std::string upper_guid(ByteSpan sixteen) {
  std::string text = Guid::from_uefi_bytes(sixteen).to_string();
  for (char& c : text) c = char(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string vendor(const char* name, const DevicePathNode& n) {
  if (n.data.size() < 16) return {};
  std::string out = fmt::format("{}({}", name, upper_guid(n.data));
  if (n.data.size() > 16) out += fmt::format(",{}", hex_bytes(ByteSpan(n.data).subspan(16)));
  return out + ")";
}

std::string ipv4_address(ByteSpan a) {
  return fmt::format("{}.{}.{}.{}", unsigned(a[0]), unsigned(a[1]), unsigned(a[2]), unsigned(a[3]));
}

std::optional<std::string> acpi(const DevicePathNode& n) {
  if (n.subtype != 0x01 || n.data.size() != 8) return std::nullopt;
  const auto hid = load_le<std::uint32_t>(n.data, 0), uid = load_le<std::uint32_t>(n.data, 4);
  if ((hid & 0xFFFF) != 0x41D0) return fmt::format("Acpi(0x{:08X},0x{:x})", hid, uid);
  switch (hid >> 16) {
    case 0x0A03: return fmt::format("PciRoot(0x{:x})", uid);
    case 0x0A08: return fmt::format("PcieRoot(0x{:x})", uid);
    case 0x0604: return fmt::format("Floppy(0x{:x})", uid);
    case 0x0301: return fmt::format("Keyboard(0x{:x})", uid);
    case 0x0501: return fmt::format("Serial(0x{:x})", uid);
    case 0x0401: return fmt::format("ParallelPort(0x{:x})", uid);
    default: return fmt::format("Acpi(PNP{:04X},0x{:x})", hid >> 16, uid);
  }
}

std::optional<std::string> hardware(const DevicePathNode& n) {
  if (n.subtype == 0x01 && n.data.size() == 2)
    return fmt::format("Pci(0x{:x},0x{:x})", unsigned(n.data[1]), unsigned(n.data[0]));
  if (n.subtype == 0x04 && n.data.size() >= 16) return vendor("VenHw", n);
  if (n.subtype == 0x05 && n.data.size() == 4) return fmt::format("Ctrl(0x{:x})", load_le<std::uint32_t>(n.data, 0));
  return std::nullopt;
}

std::optional<std::string> messaging(const DevicePathNode& n) {
  const ByteSpan d = n.data;
  switch (n.subtype) {
    case 0x02:
      if (d.size() == 4) return fmt::format("Scsi(0x{:x},0x{:x})", load_le<std::uint16_t>(d, 0), load_le<std::uint16_t>(d, 2));
      break;
    case 0x05:
      if (d.size() == 2) return fmt::format("USB(0x{:x},0x{:x})", unsigned(d[0]), unsigned(d[1]));
      break;
    case 0x0A:
      if (d.size() >= 16) return vendor("VenMsg", n);
      break;
    case 0x0B:
      if (d.size() == 33) {
        const unsigned if_type = unsigned(d[32]);
        const std::size_t address = (if_type == 0 || if_type == 1) ? 6 : 32;
        return fmt::format("MAC({},0x{:x})", hex_bytes(d.first(address)), if_type);
      }
      break;
    case 0x0C:
      // Local address, remote address, two ports, protocol, static flag (then gateway and mask).
      if (d.size() == 15 || d.size() == 23) {
        const auto protocol = load_le<std::uint16_t>(d, 12);
        const std::string name = protocol == 6 ? "TCP" : protocol == 17 ? "UDP" : fmt::format("0x{:x}", protocol);
        std::string out = fmt::format("IPv4({},{},{},{}", ipv4_address(d.subspan(4, 4)), name, d[14] != std::byte{0} ? "Static" : "DHCP",
                                      ipv4_address(d.subspan(0, 4)));
        if (d.size() == 23) out += fmt::format(",{},{}", ipv4_address(d.subspan(15, 4)), ipv4_address(d.subspan(19, 4)));
        return out + ")";
      }
      break;
    case 0x12:
      if (d.size() == 6)
        return fmt::format("Sata(0x{:x},0x{:x},0x{:x})", load_le<std::uint16_t>(d, 0), load_le<std::uint16_t>(d, 2),
                           load_le<std::uint16_t>(d, 4));
      break;
    case 0x17:
      if (d.size() == 12) {
        std::string eui;
        for (int i = 7; i >= 0; --i) eui += fmt::format("{}{:02X}", i == 7 ? "" : "-", unsigned(d[4 + i]));
        return fmt::format("NVMe(0x{:x},{})", load_le<std::uint32_t>(d, 0), eui);
      }
      break;
    case 0x18:
      // URIs are ASCII (RFC 3986); other bytes print generically, so the text stays UTF-8.
      if (std::all_of(d.begin(), d.end(), [](std::byte b) { return b > std::byte{0x20} && b < std::byte{0x7F}; }))
        return fmt::format("Uri({})", std::string(reinterpret_cast<const char*>(d.data()), d.size()));
      break;
    default: break;
  }
  return std::nullopt;
}

std::optional<std::string> media(const DevicePathNode& n) {
  const ByteSpan d = n.data;
  switch (n.subtype) {
    case kMediaHardDrive: {
      if (d.size() != 38) break;  // a node built by hand that is no Hard Drive node: printed generically
      const auto hd = as_hard_drive(n);
      const std::string place = fmt::format("0x{:x},0x{:x})", hd->start_lba, hd->size_lba);
      if (hd->signature_type == 1)
        return fmt::format("HD({},MBR,0x{:08x},{}", hd->partition_number, *hd->mbr_signature(), place);
      if (hd->signature_type == 2) return fmt::format("HD({},GPT,{},{}", hd->partition_number, upper_guid(hd->signature), place);
      return fmt::format("HD({},{},0,{}", hd->partition_number, hd->signature_type, place);
    }
    case 0x02:
      if (d.size() == 20)
        return fmt::format("CDROM(0x{:x},0x{:x},0x{:x})", load_le<std::uint32_t>(d, 0), load_le<std::uint64_t>(d, 4),
                           load_le<std::uint64_t>(d, 12));
      break;
    case 0x03:
      if (d.size() >= 16) return vendor("VenMedia", n);
      break;
    case kMediaFilePath:
      if (d.size() % 2 != 0) break;
      return utf16_to_wtf8(*as_file_path(n));
    case 0x06:
      if (d.size() == 16) return fmt::format("FvFile({})", upper_guid(d));
      break;
    case 0x07:
      if (d.size() == 16) return fmt::format("Fv({})", upper_guid(d));
      break;
    default: break;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> standard_node_text(const DevicePathNode& n) {
  switch (n.type) {
    case kHardwarePath: return hardware(n);
    case kAcpiPath: return acpi(n);
    case kMessagingPath: return messaging(n);
    case kMediaPath: return media(n);
    default: return std::nullopt;
  }
}

std::string generic_node_text(const DevicePathNode& n) {
  std::string out = fmt::format("Path({},{}", unsigned(n.type), unsigned(n.subtype));
  if (!n.data.empty()) out += fmt::format(",{}", hex_bytes(n.data));
  return out + ")";
}

}  // namespace bootmirror::nvram::text

namespace bootmirror::nvram {

namespace {

// Whether `text`'s parentheses nest: a path is split at the '/' outside them, so a node whose text
// leaves one open (a file named "\\old(") swallowed every node after it.
bool parentheses_nest(std::string_view text) {
  int depth = 0;
  for (char c : text) {
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth == 0;
}

}  // namespace

std::string node_to_text(const DevicePathNode& node) {
  if (auto standard = text::standard_node_text(node)) {
    try {
      if (!standard->empty() && parentheses_nest(*standard) &&
          DevicePath::parse(*standard).nodes == std::vector<DevicePathNode>{node})
        return *standard;
    } catch (const Error&) {
      // Not the same node back: the generic form below is.
    }
  }
  return text::generic_node_text(node);
}

std::string DevicePath::to_text() const {
  std::string out;
  bool node_before = false;
  for (const auto& node : nodes) {
    if (node.is_end_instance()) {
      out += ",";
      node_before = false;
      continue;
    }
    if (node_before) out += "/";
    out += node_to_text(node);
    node_before = true;
  }
  return out;
}

}  // namespace bootmirror::nvram

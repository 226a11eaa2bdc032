// Reading the serial console of a boot (see bootmirror/qemu.h). OVMF draws its screens with VT100
// sequences and ends lines with CR LF; GRUB does the same. What we look for is line-based:
// the marker loader's BOOTMIRROR-* lines and OVMF's BdsDxe lines, whose texts come from edk2's
// BdsDxe (2022.11, as Debian 12 ships it):
//   BdsDxe: loading Boot%04X "%s" from %s
//   BdsDxe: failed to load Boot%04X "%s" from %s: %r
//   BdsDxe: starting Boot%04X "%s" from %s
//   BdsDxe: failed to start Boot%04X "%s" from %s: %r
// (%r is the EFI_STATUS text, such as "Not Found"). Each may follow escape sequences on its line.
// They are printed through UefiLib's Print, whose buffer holds PcdUefiLibMaxPrintBufferSize (320)
// characters: a longer one (a long description or device path) is cut there, line end and all,
// and whatever is printed next follows on the same line.
#include <charconv>

#include <fmt/format.h>

#include "bootmirror/qemu.h"
#include "bootmirror/unicode.h"

namespace bootmirror::qemu {

namespace {

constexpr char kEscape = '\x1b';
constexpr std::string_view kBdsPrefix = "BdsDxe: ";
constexpr std::size_t kPrintBuffer = 320;  // characters of one Print (PcdUefiLibMaxPrintBufferSize)

// Each line of `text`, without its '\n'.
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    visit(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool parse_hex(std::string_view text, std::uint32_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return error == std::errc() && end == text.data() + text.size();
}

// GRUB's FAT "UUID": the serial number as two groups of four hex digits, high word first.
std::optional<std::uint32_t> parse_fat_serial(std::string_view text) {
  std::uint32_t high = 0, low = 0;
  if (text.size() != 9 || text[4] != '-' || !parse_hex(text.substr(0, 4), high) || !parse_hex(text.substr(5), low))
    return std::nullopt;
  return high << 16 | low;
}

std::optional<Guid> parse_guid(std::string_view text) {
  if (!Guid::is_valid(text)) return std::nullopt;
  return Guid::parse(text);
}

// One BdsDxe line: the verb, then Boot####, the quoted description and the device path, with
// ": status" after a failure.
struct BdsLine {
  std::string_view verb;
  std::uint16_t option = 0;
  std::string_view description, device_path, status;
};

// Each BdsDxe record of `console`: one that begins a line (after whatever escape sequences were
// cleaned away) or where a record that filled Print's buffer was cut. One inside other text (a
// description that quotes one) is not a record.
template <typename Visit>
void for_each_bds_record(std::string_view console, Visit visit) {
  for_each_line(console, [&](std::string_view line) {
    while (line.starts_with(kBdsPrefix)) {
      if (line.size() <= kPrintBuffer) {
        visit(line);
        return;
      }
      visit(line.substr(0, kPrintBuffer));
      line.remove_prefix(kPrintBuffer);
    }
  });
}

std::optional<BdsLine> parse_bds_line(std::string_view line) {
  std::string_view rest = line.substr(kBdsPrefix.size());
  BdsLine out;
  for (std::string_view verb : {"loading", "starting", "failed to load", "failed to start"}) {
    if (rest.starts_with(verb) && rest.substr(verb.size()).starts_with(" Boot")) {
      out.verb = verb;
      rest.remove_prefix(verb.size() + 5);
      break;
    }
  }
  std::uint32_t option = 0;
  if (out.verb.empty() || rest.size() < 4 || !parse_hex(rest.substr(0, 4), option)) return std::nullopt;
  out.option = std::uint16_t(option);
  rest.remove_prefix(4);
  if (!rest.starts_with(" \"")) return std::nullopt;
  rest.remove_prefix(2);
  const std::size_t quote = rest.find("\" from ");
  if (quote == std::string_view::npos) return std::nullopt;
  out.description = rest.substr(0, quote);
  out.device_path = trim(rest.substr(quote + 7));
  if (out.verb.starts_with("failed")) {
    const std::size_t colon = out.device_path.rfind(": ");
    if (colon != std::string_view::npos) {
      out.status = trim(out.device_path.substr(colon + 2));
      out.device_path = out.device_path.substr(0, colon);
    }
  }
  return out;
}

}  // namespace

std::string_view outcome_name(BootAttempt::Outcome outcome) {
  switch (outcome) {
    case BootAttempt::Outcome::loading: return "loading";
    case BootAttempt::Outcome::load_failed: return "load failed";
    case BootAttempt::Outcome::started: return "started";
    case BootAttempt::Outcome::start_failed: return "start failed";
  }
  return "?";
}

std::string clean_console(std::string_view raw) {
  std::string text;
  text.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == static_cast<unsigned char>(kEscape)) {
      // ECMA-48: ESC [ parameters (0x30-0x3F) intermediates (0x20-0x2F) final (0x40-0x7E), or
      // ESC intermediates final for the short forms.
      std::size_t j = i + 1;
      if (j < raw.size() && raw[j] == '[') {
        ++j;
        while (j < raw.size() && raw[j] >= 0x30 && raw[j] <= 0x3F) ++j;
      }
      while (j < raw.size() && raw[j] >= 0x20 && raw[j] <= 0x2F) ++j;
      i = j;  // the final byte, skipped by the loop
      continue;
    }
    if (c < 0x20 && c != '\n' && c != '\t') continue;  // CR, and controls that draw nothing
    if (c == 0x7F) continue;
    text.push_back(char(c));
  }
  return utf8_or_replacement(text);
}

std::vector<Marker> find_markers(std::string_view console) {
  std::vector<Marker> markers;
  bool open = false;  // the last marker has not printed BOOTMIRROR-END yet
  for_each_line(console, [&](std::string_view line) {
    const std::size_t at = line.find("BOOTMIRROR-");
    if (at == std::string_view::npos) return;
    line.remove_prefix(at + 11);
    const std::size_t space = line.find(' ');
    const std::string_view key = line.substr(0, space);
    const std::string_view value = space == std::string_view::npos ? std::string_view() : trim(line.substr(space + 1));
    if (key == "LOADED") {
      markers.push_back(Marker{std::string(value), {}, {}, {}});
      open = true;
      return;
    }
    if (!open) return;
    Marker& marker = markers.back();
    if (key == "PART") marker.partition = parse_guid(value);
    else if (key == "FS") marker.fat_serial = parse_fat_serial(value);
    else if (key == "PATH") marker.path = std::string(value);
    else if (key == "END") open = false;
  });
  return markers;
}

std::vector<BootAttempt> find_boot_attempts(std::string_view console) {
  using Outcome = BootAttempt::Outcome;
  std::vector<BootAttempt> attempts;
  for_each_bds_record(console, [&](std::string_view line) {
    const std::optional<BdsLine> bds = parse_bds_line(line);
    if (!bds) return;
    // A "starting" or "failed" line concludes the attempt its "loading" line opened; one without
    // it (OVMF prints no "loading" when it cannot find the device) is an attempt of its own.
    BootAttempt* last = attempts.empty() || attempts.back().option != bds->option ? nullptr : &attempts.back();
    Outcome outcome = Outcome::loading;
    bool concludes = false;
    if (bds->verb == "starting") {
      outcome = Outcome::started;
      concludes = last && last->outcome == Outcome::loading;
    } else if (bds->verb == "failed to load") {
      outcome = Outcome::load_failed;
      concludes = last && last->outcome == Outcome::loading;
    } else if (bds->verb == "failed to start") {
      outcome = Outcome::start_failed;
      concludes = last && (last->outcome == Outcome::loading || last->outcome == Outcome::started);
    }
    if (!concludes) {
      attempts.push_back(BootAttempt{bds->option, std::string(bds->description), std::string(bds->device_path)});
      last = &attempts.back();
    }
    last->outcome = outcome;
    last->status = std::string(bds->status);
  });
  return attempts;
}

}  // namespace bootmirror::qemu

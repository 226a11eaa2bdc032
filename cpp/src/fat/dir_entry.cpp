#include "fat/dir_entry.h"

#include <algorithm>

namespace bootmirror::fat {

namespace {

// Days since 1970-01-01 <-> civil date (Howard Hinnant's algorithms, proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + std::int64_t(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = std::int64_t(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

}  // namespace

ShortEntry ShortEntry::decode(ByteSpan s) {
  ShortEntry e;
  for (std::size_t i = 0; i < 11; ++i) e.name[i] = char(std::to_integer<unsigned char>(s[i]));
  e.attributes = std::to_integer<std::uint8_t>(s[11]);
  e.case_flags = std::to_integer<std::uint8_t>(s[12]);
  e.created_tenths = std::to_integer<std::uint8_t>(s[13]);
  e.created_time = load_le<std::uint16_t>(s, 14);
  e.created_date = load_le<std::uint16_t>(s, 16);
  e.accessed_date = load_le<std::uint16_t>(s, 18);
  e.first_cluster = (std::uint32_t(load_le<std::uint16_t>(s, 20)) << 16) | load_le<std::uint16_t>(s, 26);
  e.modified_time = load_le<std::uint16_t>(s, 22);
  e.modified_date = load_le<std::uint16_t>(s, 24);
  e.size = load_le<std::uint32_t>(s, 28);
  return e;
}

void ShortEntry::encode(MutableByteSpan s) const {
  for (std::size_t i = 0; i < 11; ++i) s[i] = std::byte(static_cast<unsigned char>(name[i]));
  s[11] = std::byte{attributes};
  s[12] = std::byte{case_flags};
  s[13] = std::byte{created_tenths};
  store_le<std::uint16_t>(s, 14, created_time);
  store_le<std::uint16_t>(s, 16, created_date);
  store_le<std::uint16_t>(s, 18, accessed_date);
  store_le<std::uint16_t>(s, 20, std::uint16_t(first_cluster >> 16));
  store_le<std::uint16_t>(s, 22, modified_time);
  store_le<std::uint16_t>(s, 24, modified_date);
  store_le<std::uint16_t>(s, 26, std::uint16_t(first_cluster & 0xFFFF));
  store_le<std::uint32_t>(s, 28, size);
}

void ShortEntry::stamp_created(const Timestamp& t) {
  FatTime f = to_fat_time(t);
  created_date = f.date;
  created_time = f.time;
  created_tenths = f.tenths;
  accessed_date = f.date;
}

void ShortEntry::stamp_modified(const Timestamp& t) {
  FatTime f = to_fat_time(t);
  modified_date = f.date;
  modified_time = f.time;
  accessed_date = f.date;
}

LongEntry LongEntry::decode(ByteSpan s) {
  LongEntry e;
  auto ord = std::to_integer<std::uint8_t>(s[0]);
  e.last = ord & 0x40;
  e.ordinal = ord & 0x3F;
  e.checksum = std::to_integer<std::uint8_t>(s[13]);
  static constexpr std::size_t offsets[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
  for (std::size_t i = 0; i < 13; ++i) e.chars[i] = char16_t(load_le<std::uint16_t>(s, offsets[i]));
  return e;
}

void LongEntry::encode(MutableByteSpan s) const {
  static constexpr std::size_t offsets[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
  s[0] = std::byte(std::uint8_t(ordinal | (last ? 0x40 : 0)));
  for (std::size_t i = 0; i < 13; ++i) store_le<std::uint16_t>(s, offsets[i], std::uint16_t(chars[i]));
  s[11] = std::byte{lfn_attributes};
  s[12] = std::byte{0};
  s[13] = std::byte{checksum};
  store_le<std::uint16_t>(s, 26, 0);
}

std::vector<LongEntry> long_entries_for(std::u16string_view name, std::uint8_t checksum) {
  std::size_t count = (name.size() + lfn_chars_per_entry - 1) / lfn_chars_per_entry;
  std::vector<LongEntry> out(count);
  for (std::size_t k = 0; k < count; ++k) {
    LongEntry& e = out[count - 1 - k];  // on disk the last part comes first
    e.ordinal = std::uint8_t(k + 1);
    e.last = k + 1 == count;
    e.checksum = checksum;
    for (std::size_t i = 0; i < lfn_chars_per_entry; ++i) {
      std::size_t at = k * lfn_chars_per_entry + i;
      e.chars[i] = at < name.size() ? name[at] : at == name.size() ? char16_t(0) : char16_t(0xFFFF);
    }
  }
  return out;
}

FatTime to_fat_time(const Timestamp& t) {
  // FAT dates run from 1980-01-01 to 2107-12-31; clamp outside.
  std::int64_t lo = days_from_civil(1980, 1, 1) * 86400, hi = days_from_civil(2107, 12, 31) * 86400 + 86399;
  std::int64_t secs = std::clamp<std::int64_t>(t.seconds, lo, hi);
  std::int64_t days = secs / 86400, rem = secs % 86400;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  FatTime f;
  f.date = std::uint16_t(((y - 1980) << 9) | (m << 5) | d);
  unsigned hh = unsigned(rem / 3600), mm = unsigned(rem / 60 % 60), ss = unsigned(rem % 60);
  f.time = std::uint16_t((hh << 11) | (mm << 5) | (ss / 2));
  f.tenths = std::uint8_t((ss % 2) * 100 + (secs == t.seconds ? t.nanoseconds / 10000000 : 0));
  return f;
}

Timestamp from_fat_time(std::uint16_t date, std::uint16_t time, std::uint8_t tenths) {
  if (date == 0) return {};
  unsigned y = 1980 + (date >> 9), m = (date >> 5) & 0xF, d = date & 0x1F;
  m = std::clamp(m, 1u, 12u);
  d = std::clamp(d, 1u, 31u);
  std::int64_t secs = days_from_civil(y, m, d) * 86400 + (time >> 11) * 3600 + ((time >> 5) & 0x3F) * 60 +
                      (time & 0x1F) * 2;
  Timestamp t;
  t.seconds = secs + std::min<std::uint8_t>(tenths, 199) / 100;
  t.nanoseconds = std::uint32_t(std::min<std::uint8_t>(tenths, 199) % 100) * 10000000u;
  return t;
}

}  // namespace bootmirror::fat

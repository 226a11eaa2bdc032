// The NTFS decoders on hand-made structures (cpp/src/ntfs/): the boot sector's checks, update
// sequences (applied, and torn strides refused), run lists (sparse runs, negative deltas, runs off
// the volume) and attribute bounds. Volumes mkntfs makes are read in tests/python/test_ntfs.py.
#include <gtest/gtest.h>

#include "ntfs/attributes.h"
#include "ntfs/boot_sector.h"
#include "ntfs/record.h"

using namespace bootmirror;
using namespace bootmirror::ntfs;

namespace {

ByteVector boot_sector() {
  ByteVector b(512);
  const char oem[] = "NTFS    ";
  for (int i = 0; i < 8; ++i) b[3 + i] = std::byte(oem[i]);
  store_le<std::uint16_t>(b, 11, 512);
  b[13] = std::byte{8};
  b[21] = std::byte{0xF8};
  store_le<std::uint32_t>(b, 28, 2048);
  store_le<std::uint64_t>(b, 40, 131071);  // 64 MiB less a sector
  store_le<std::uint64_t>(b, 48, 4);
  store_le<std::uint64_t>(b, 56, 8191);
  b[64] = std::byte{0xF6};  // -10: 1024-byte records
  b[68] = std::byte{1};     // one cluster: 4096-byte index blocks
  store_le<std::uint64_t>(b, 72, 0x1122334455667788ull);
  store_le<std::uint16_t>(b, 510, 0xAA55);
  return b;
}

// A 1024-byte FILE record with its update sequence applied (as on disk): USN 0x0007.
ByteVector file_record(ByteVector body) {
  ByteVector r(1024);
  const char magic[] = "FILE";
  for (int i = 0; i < 4; ++i) r[std::size_t(i)] = std::byte(magic[i]);
  store_le<std::uint16_t>(r, 4, 48);
  store_le<std::uint16_t>(r, 6, 3);
  store_le<std::uint16_t>(r, 20, 56);
  store_le<std::uint16_t>(r, 22, 1);
  store_le<std::uint32_t>(r, 28, 1024);
  std::copy(body.begin(), body.end(), r.begin() + 56);
  store_le<std::uint32_t>(r, 56 + body.size(), 0xFFFFFFFF);
  store_le<std::uint32_t>(r, 24, std::uint32_t(56 + body.size() + 8));
  store_le<std::uint16_t>(r, 48, 7);
  for (int i = 0; i < 2; ++i) {
    const std::size_t end = std::size_t(i + 1) * 512 - 2;
    store_le<std::uint16_t>(r, 50 + 2 * std::size_t(i), load_le<std::uint16_t>(r, end));
    store_le<std::uint16_t>(r, end, 7);
  }
  return r;
}

ByteVector runs(std::initializer_list<int> bytes) {
  ByteVector out;
  for (int b : bytes) out.push_back(std::byte(b));
  return out;
}

}  // namespace

TEST(NtfsBootSector, DecodesItsGeometry) {
  const BootSector b = BootSector::decode(boot_sector(), 64ull << 20);
  EXPECT_EQ(b.bytes_per_sector, 512u);
  EXPECT_EQ(b.cluster_bytes, 4096u);
  EXPECT_EQ(b.cluster_count(), 16383u);
  EXPECT_EQ(b.mft_cluster, 4u);
  EXPECT_EQ(b.mft_record_bytes, 1024u);
  EXPECT_EQ(b.index_record_bytes, 4096u);
  EXPECT_EQ(b.hidden_sectors, 2048u);
  EXPECT_EQ(b.serial, 0x1122334455667788ull);
}

TEST(NtfsBootSector, RefusesWhatNoVolumeHoldsNamingTheField) {
  auto refused_at = [](std::size_t offset, auto change, std::uint64_t volume = 64ull << 20) {
    ByteVector b = boot_sector();
    change(b);
    try {
      BootSector::decode(b, volume, 1000);
      return false;
    } catch (const FormatError& e) {
      return e.offset() == 1000 + offset;
    }
  };
  EXPECT_TRUE(refused_at(3, [](ByteVector& b) { b[3] = std::byte{'X'}; }));
  EXPECT_TRUE(refused_at(11, [](ByteVector& b) { store_le<std::uint16_t>(b, 11, 520); }));
  EXPECT_TRUE(refused_at(13, [](ByteVector& b) { b[13] = std::byte{3}; }));
  EXPECT_TRUE(refused_at(40, [](ByteVector& b) {}, 32ull << 20));  // more sectors than the volume
  EXPECT_TRUE(refused_at(48, [](ByteVector& b) { store_le<std::uint64_t>(b, 48, 16383); }));
  EXPECT_TRUE(refused_at(64, [](ByteVector& b) { b[64] = std::byte{0x80}; }));  // 2^128 bytes
  EXPECT_TRUE(refused_at(510, [](ByteVector& b) { b[511] = std::byte{0}; }));
  // Clusters above 64 KiB are encoded as 2^(256-v): 0xF0 is 2^16 sectors, 32 MiB: too large.
  EXPECT_TRUE(refused_at(13, [](ByteVector& b) { b[13] = std::byte{0xF0}; }));
}

TEST(NtfsRecord, UndoesTheUpdateSequenceAndRefusesATornStride) {
  ByteVector r = file_record({});
  store_le<std::uint16_t>(r, 50, 0xBEEF);  // what belongs at the end of stride 0
  ByteVector good = r;
  apply_fixups(good, "FILE", 0);
  EXPECT_EQ(load_le<std::uint16_t>(good, 510), 0xBEEF);
  const RecordHeader h = RecordHeader::decode(good, 0);
  EXPECT_TRUE(h.in_use);
  EXPECT_EQ(h.first_attribute, 56u);

  ByteVector torn = r;
  store_le<std::uint16_t>(torn, 1022, 6);  // stride 1 written before the USN moved on
  try {
    apply_fixups(torn, "FILE", 4096);
    FAIL() << "a torn record was accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.offset(), 4096u + 1022);
  }
  ByteVector wrong_count = r;
  store_le<std::uint16_t>(wrong_count, 6, 9);
  EXPECT_THROW(apply_fixups(wrong_count, "FILE", 0), FormatError);
  ByteVector not_file = r;
  EXPECT_THROW(apply_fixups(not_file, "INDX", 0), FormatError);
}

TEST(NtfsRuns, DecodesSparseRunsAndNegativeDeltas) {
  // 4 clusters at 100, 2 sparse, 3 at 100 - 90 = 10.
  const auto decoded = decode_runs(runs({0x11, 4, 100, 0x01, 2, 0x11, 3, 0xA6, 0}), 0, 8, 1000, 0);
  ASSERT_EQ(decoded.size(), 3u);
  EXPECT_EQ(decoded[0], (ntfs::Run{0, 4, 100}));
  EXPECT_EQ(decoded[1], (ntfs::Run{4, 2, std::nullopt}));
  EXPECT_EQ(decoded[2], (ntfs::Run{6, 3, 10}));
}

TEST(NtfsRuns, RefusesRunsOffTheVolumeOrPastTheAttribute) {
  EXPECT_THROW(decode_runs(runs({0x11, 4, 0x80, 0}), 0, 3, 1000, 0), FormatError);         // starts before cluster 0
  EXPECT_THROW(decode_runs(runs({0x21, 4, 0xE8, 0x03, 0}), 0, 3, 1000, 0), FormatError);   // starts at 1000 of 1000
  EXPECT_THROW(decode_runs(runs({0x21, 8, 0xE6, 0x03, 0}), 0, 7, 1000, 0), FormatError);   // 998+8 past the end
  EXPECT_THROW(decode_runs(runs({0x11, 9, 1, 0}), 0, 7, 1000, 0), FormatError);            // past the last VCN
  EXPECT_THROW(decode_runs(runs({0x11, 4, 1}), 0, 3, 1000, 0), FormatError);               // no end marker
  EXPECT_THROW(decode_runs(runs({0x19, 4, 1, 0}), 0, 3, 1000, 0), FormatError);            // 9-byte length
  EXPECT_THROW(decode_runs(runs({0x11, 2, 1, 0}), 0, 3, 1000, 0), FormatError);            // maps too little
  // A step back of INT64_MIN (8 bytes 00..00 80): -INT64_MIN overflows, and the check let the run
  // start at 2^63 + 100, which a byte offset wraps back to cluster 100 (another run's data).
  EXPECT_THROW(decode_runs(runs({0x11, 1, 100, 0x81, 1, 0, 0, 0, 0, 0, 0, 0, 0x80, 0}), 0, 1, 1000, 0), FormatError);
}

TEST(NtfsAttributes, ReadsResidentAndNonResidentAttributesWithinTheirRecord) {
  ByteVector body(24 + 8 + 72);
  // $STANDARD_INFORMATION-like resident attribute: 8 bytes of value at offset 24.
  store_le<std::uint32_t>(body, 0, 0x10);
  store_le<std::uint32_t>(body, 4, 32);
  store_le<std::uint32_t>(body, 16, 8);
  store_le<std::uint16_t>(body, 20, 24);
  body[24] = std::byte{0x5A};
  // $DATA, non-resident: clusters 0..3 at 100.
  store_le<std::uint32_t>(body, 32, 0x80);
  store_le<std::uint32_t>(body, 36, 72);
  body[40] = std::byte{1};
  store_le<std::uint64_t>(body, 32 + 24, 3);
  store_le<std::uint16_t>(body, 32 + 32, 64);
  store_le<std::uint64_t>(body, 32 + 40, 4 * 4096);
  store_le<std::uint64_t>(body, 32 + 48, 4 * 4096 - 10);
  store_le<std::uint64_t>(body, 32 + 56, 4 * 4096 - 10);
  body[32 + 64] = std::byte{0x11};
  body[32 + 65] = std::byte{4};
  body[32 + 66] = std::byte{100};
  ByteVector record = file_record(body);
  apply_fixups(record, "FILE", 0);
  const RecordHeader h = RecordHeader::decode(record, 0);
  const auto attributes = decode_attributes(record, h.first_attribute, h.bytes_in_use, 16383, 0);
  ASSERT_EQ(attributes.size(), 2u);
  EXPECT_TRUE(attributes[0].resident);
  EXPECT_EQ(attributes[0].value.size(), 8u);
  EXPECT_EQ(attributes[0].value[0], std::byte{0x5A});
  EXPECT_FALSE(attributes[1].resident);
  EXPECT_EQ(attributes[1].data_size, 4u * 4096 - 10);
  EXPECT_EQ(attributes[1].runs, (std::vector<ntfs::Run>{ntfs::Run{0, 4, 100}}));

  // A value that runs past its attribute, and an attribute longer than the record's bytes in use.
  ByteVector long_value = body;
  store_le<std::uint32_t>(long_value, 16, 9);
  ByteVector r1 = file_record(long_value);
  apply_fixups(r1, "FILE", 0);
  EXPECT_THROW(decode_attributes(r1, 56, RecordHeader::decode(r1, 0).bytes_in_use, 16383, 0), FormatError);
  ByteVector long_attribute = body;
  store_le<std::uint32_t>(long_attribute, 36, 4096);
  ByteVector r2 = file_record(long_attribute);
  apply_fixups(r2, "FILE", 0);
  EXPECT_THROW(decode_attributes(r2, 56, RecordHeader::decode(r2, 0).bytes_in_use, 16383, 0), FormatError);
}

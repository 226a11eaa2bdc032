#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bootmirror/bytes.h"
#include "bootmirror/crc32.h"
#include "bootmirror/error.h"
#include "bootmirror/guid.h"
#include "bootmirror/identity.h"
#include "bootmirror/progress.h"
#include "bootmirror/unicode.h"
#include "bootmirror/units.h"
#include "core/crc32_kernels.h"
#include "core/handoff.h"
#include "core/host_writers.h"
#include "core/program.h"

using namespace bootmirror;

TEST(Bytes, LittleAndBigEndianRoundTrip) {
  ByteVector buffer(16);
  store_le<std::uint32_t>(buffer, 0, 0x11223344u);
  store_be<std::uint32_t>(buffer, 4, 0x11223344u);
  store_le<std::uint64_t>(buffer, 8, 0x0102030405060708ull);
  EXPECT_EQ(buffer[0], std::byte{0x44});
  EXPECT_EQ(buffer[4], std::byte{0x11});
  EXPECT_EQ(load_le<std::uint32_t>(buffer, 0), 0x11223344u);
  EXPECT_EQ(load_be<std::uint32_t>(buffer, 4), 0x11223344u);
  EXPECT_EQ(load_le<std::uint64_t>(buffer, 8), 0x0102030405060708ull);
  EXPECT_EQ(load_be<std::uint16_t>(buffer, 8), 0x0807u);
}

TEST(Bytes, FieldsPastTheEndAreFormatErrors) {
  ByteVector buffer(6);
  EXPECT_THROW(load_le<std::uint32_t>(buffer, 3), FormatError);
  EXPECT_THROW(load_le<std::uint64_t>(buffer, 0), FormatError);
  EXPECT_THROW(store_be<std::uint16_t>(buffer, 5, 1), FormatError);
  EXPECT_THROW(subspan(ByteSpan(buffer), 4, 3), FormatError);
  EXPECT_THROW(load_le<std::uint8_t>(buffer, std::size_t(-1)), FormatError);
}

TEST(Bytes, AsciiFields) {
  ByteVector buffer(12);
  store_ascii(buffer, 2, 8, "EFI PART");
  EXPECT_TRUE(matches_ascii(buffer, 2, "EFI PART"));
  EXPECT_FALSE(matches_ascii(buffer, 6, "EFI PART"));
  store_ascii(buffer, 0, 12, "abc");
  EXPECT_EQ(load_ascii(buffer, 0, 12), "abc");
}

TEST(Guid, ParsesAndPrints) {
  Guid esp = Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  EXPECT_EQ(esp.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  EXPECT_EQ(Guid::parse("{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}"), esp);
  EXPECT_FALSE(Guid::is_valid("c12a7328-f81f-11d2-ba4b-00a0c93ec93"));
  EXPECT_FALSE(Guid::is_valid("c12a7328xf81f-11d2-ba4b-00a0c93ec93b"));
  EXPECT_FALSE(Guid::is_valid("g12a7328-f81f-11d2-ba4b-00a0c93ec93b"));
  EXPECT_FALSE(Guid::is_valid("c12a7328-f81f-11d2-ba4b0-0a0c93ec93b"));  // the last dash one place late
  EXPECT_FALSE(Guid::is_valid("c12a7328-f81f-11d2-ba4b-00a0c93ec93-"));  // a dash for the last digit
  EXPECT_FALSE(Guid::is_valid("{c12a7328-f81f-11d2-ba4b-00a0c93ec93b"));
  EXPECT_EQ(Guid::parse("00000000-0000-0000-0000-0000000000Ff").to_string(), "00000000-0000-0000-0000-0000000000ff");
  EXPECT_THROW(Guid::parse("nope"), UsageError);
}

TEST(Guid, UefiByteOrderMatchesTheSpecification) {
  // UEFI 2.10 section 5.3.3: the ESP type GUID is stored as 28 73 2A C1 1F F8 D2 11 BA 4B ...
  Guid esp = Guid::parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  ByteVector on_disk(16);
  esp.store_uefi_bytes(on_disk);
  const unsigned char expected[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                                      0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(on_disk[i], std::byte{expected[i]}) << i;
  EXPECT_EQ(Guid::from_uefi_bytes(on_disk), esp);
  ByteVector rfc(16);
  esp.store_rfc_bytes(rfc);
  EXPECT_EQ(rfc[0], std::byte{0xC1});
  EXPECT_EQ(Guid::from_rfc_bytes(rfc), esp);
}

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc32(as_bytes("")), 0u);
  EXPECT_EQ(crc32(as_bytes("123456789")), 0xCBF43926u);  // the standard check value
  std::string long_text(1000, 'x');
  std::uint32_t whole = crc32(as_bytes(long_text));
  std::uint32_t pieces = crc32(as_bytes(std::string_view(long_text).substr(300)),
                               crc32(as_bytes(std::string_view(long_text).substr(0, 300))));
  EXPECT_EQ(whole, pieces);
}

// The CRC register after `n` bytes, one bit at a time: the definition itself, sharing nothing with
// either kernel.
std::uint32_t crc_bitwise(const std::byte* p, std::size_t n, std::uint32_t reg) {
  while (n--) {
    reg ^= std::uint32_t(*p++);
    for (int k = 0; k < 8; ++k) reg = (reg & 1) ? 0xEDB88320u ^ (reg >> 1) : reg >> 1;
  }
  return reg;
}

TEST(Crc32, EveryKernelMatchesTheDefinitionAtEveryLengthAndAlignment) {
  std::mt19937 random(814070);
  ByteVector data(4096 + 64);
  for (auto& b : data) b = std::byte(random());
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (std::size_t n : {511, 512, 513, 1023, 1024, 4095, 4096}) lengths.push_back(n);
  for (std::size_t misalign = 0; misalign < 17; ++misalign) {
    for (std::size_t n : lengths) {
      const std::byte* p = data.data() + misalign;
      const std::uint32_t seed = std::uint32_t(random());
      const std::uint32_t want = crc_bitwise(p, n, seed);
      ASSERT_EQ(crc32_kernels::tables(p, n, seed), want) << n << " bytes at +" << misalign;
      if (crc32_kernels::folding_available() && n >= 64 && n % 16 == 0)
        ASSERT_EQ(crc32_kernels::folding(p, n, seed), want) << n << " bytes at +" << misalign;
      ASSERT_EQ(crc32(ByteSpan(p, n), ~seed), ~want) << n << " bytes at +" << misalign;
    }
  }
  // All zeros and all ones, where a wrong constant can cancel out on random data least.
  for (std::byte fill : {std::byte{0}, std::byte{0xFF}}) {
    ByteVector same(16384, fill);
    EXPECT_EQ(crc32(same), ~crc_bitwise(same.data(), same.size(), ~0u));
  }
}

TEST(Units, ParsesSizes) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("204 MiB"), 204ull << 20);
  EXPECT_EQ(parse_size("204MB"), 204ull << 20);
  EXPECT_EQ(parse_size("10 GB"), 10ull << 30);
  EXPECT_EQ(parse_size(" 1.5 gib "), 3ull << 29);
  EXPECT_EQ(parse_size("17 KB"), 17u * 1024);
  EXPECT_EQ(parse_size("2 TiB"), 2ull << 40);
  EXPECT_EQ(parse_size("512 B"), 512u);
}

TEST(Units, RejectsBadSizes) {
  for (const char* bad : {"", "MB", "-1", "12 XB", "1.0000001 KB", "0.5", "99999999999999999999",
                          "20000000 TB", "1..5 MB", "5 M B"})
    EXPECT_THROW(parse_size(bad), UsageError) << bad;
}

TEST(Units, DescribesSizes) {
  EXPECT_EQ(describe_size(512), "512 B");
  EXPECT_EQ(describe_size(204ull << 20), "204 MiB");
  EXPECT_EQ(describe_size(213680128), "203.8 MiB");
}

TEST(Identity, SeededIdentifiersRepeat) {
  IdentitySource::configure({std::uint64_t{42}, std::int64_t{1700000000}});
  Guid a = IdentitySource::new_guid();
  std::uint32_t serial = IdentitySource::next_u32();
  IdentitySource::configure({std::uint64_t{42}, std::int64_t{1700000000}});
  EXPECT_EQ(IdentitySource::new_guid(), a);
  EXPECT_EQ(IdentitySource::next_u32(), serial);
  EXPECT_EQ(IdentitySource::now().seconds, 1700000000);
  // RFC 4122 version 4, variant 10xx.
  EXPECT_EQ(a.to_string()[14], '4');
  EXPECT_NE(std::string("89ab").find(a.to_string()[19]), std::string::npos);
}

TEST(Identity, RandomByDefault) {
  IdentitySource::configure({});
  EXPECT_NE(IdentitySource::new_guid(), IdentitySource::new_guid());
  EXPECT_GT(IdentitySource::now().seconds, 1700000000);
}

TEST(Unicode, WellFormedUtf8OnlyTable3_7) {
  EXPECT_TRUE(bootmirror::is_valid_utf8("Volume1 \xc3\x84 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(bootmirror::is_valid_utf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(bootmirror::is_valid_utf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(bootmirror::is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(bootmirror::is_valid_utf8("ab\xe2\x82"));     // truncated
  EXPECT_THROW(bootmirror::utf8_to_utf16("\xc0\xaf"), bootmirror::UsageError);
  EXPECT_EQ(bootmirror::utf8_to_utf16("\xc3\x84\xf0\x9f\x98\x80"), std::u16string(u"\u00c4\U0001F600"));
}

TEST(Unicode, ReplacementAndEscapes) {
  EXPECT_EQ(bootmirror::utf8_or_replacement("Vol\xffume"), "Vol\xef\xbf\xbdume");
  EXPECT_EQ(bootmirror::utf8_or_replacement("\xc3\x84"), "\xc3\x84");
  EXPECT_EQ(bootmirror::escape_bytes(std::string("con\xfe\0g\\", 7)), "con\\xfe\\x00g\\\\");
}

// The QEMU boots rely on the timeout: a guest that never powers off is stopped, not waited for.
TEST(RunProgram, StopsAProgramAtItsTimeout) {
  const auto start = std::chrono::steady_clock::now();
  const ProgramResult result = run_program({"sleep", "30"}, "coreutils", RunLimits{std::chrono::milliseconds(200)});
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.exit_code, 128 + 15);  // SIGTERM
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RunProgram, AProgramWithinItsTimeoutEndsAsUsual) {
  const ProgramResult result = run_program({"echo", "done"}, "coreutils", RunLimits{std::chrono::seconds(30)});
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.output, "done\n");
  EXPECT_THROW(run_program({"false"}, "coreutils", RunLimits{std::chrono::seconds(30)}), Error);
}

TEST(Bytes, SaturatingArithmeticStaysAtTheTop) {
  constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(saturating_add(1, 2), 3u);
  EXPECT_EQ(saturating_add(top - 1, 2), top);
  EXPECT_EQ(saturating_mul(1u << 20, 1u << 20), 1ull << 40);
  EXPECT_EQ(saturating_mul(1ull << 40, 1ull << 40), top);
  EXPECT_EQ(saturating_mul(0, top), 0u);
}

TEST(ProgressMeter, ReportsTheStartFewStepsAndTheEnd) {
  std::vector<Progress> seen;
  ProgressCallback callback = [&](const Progress& p) {
    seen.push_back(p);
    return true;
  };
  ProgressMeter meter(callback, "the work");
  const std::uint64_t total = 1ull << 30;
  meter.start(total);
  for (std::uint64_t done = 0; done < total; done += 4096) meter.advance(4096);
  meter.finish();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_LE(seen.size(), ProgressMeter::kReports + 2);  // a call into Python per report: few of them
  EXPECT_EQ(seen.front().done, 0u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].total, total);
    EXPECT_LE(seen[i].done, total);
    if (i) EXPECT_GE(seen[i].done, seen[i - 1].done);
  }
  EXPECT_EQ(seen.back().done, total);
}

TEST(ProgressMeter, SmallWorkReportsItsStartAndEndOnly) {
  int calls = 0;
  ProgressCallback callback = [&](const Progress&) { return ++calls > 0; };
  ProgressMeter meter(callback, "the work");
  meter.start(1000);
  for (int i = 0; i < 1000; ++i) meter.advance(1);
  meter.finish();
  EXPECT_EQ(calls, 2);
}

TEST(ProgressMeter, AStopBecomesStoppedNamingTheWork) {
  ProgressCallback stop_at_half = [](const Progress& p) { return p.done < p.total / 2; };
  ProgressMeter meter(stop_at_half, "the copy of X");
  meter.start(100ull << 20);
  try {
    for (int i = 0; i < 100; ++i) meter.advance(1 << 20);
    FAIL() << "the meter did not stop";
  } catch (const Stopped& e) {
    EXPECT_STREQ(e.what(), "the copy of X was stopped");
    EXPECT_GE(meter.done(), 50ull << 20);
    EXPECT_LT(meter.done(), 60ull << 20);
  }
  static_assert(std::is_base_of_v<UsageError, Stopped>, "a stop is the caller's doing");
}

TEST(ProgressMeter, WithoutACallbackNothingIsReportedAndSizesSaturate) {
  ProgressCallback none;
  ProgressMeter meter(none, "the work");
  meter.start(10);
  meter.advance(std::numeric_limits<std::uint64_t>::max());
  meter.advance(5);  // a damaged size claims anything: the count stays at the top
  EXPECT_EQ(meter.done(), std::numeric_limits<std::uint64_t>::max());
  meter.finish();
}

TEST(Handoff, BatchesArriveInOrderAndAnErrorAfterTheLast) {
  Handoff<int> handoff;
  std::thread producer([&] {
    for (int b = 0; b < 100; ++b) {
      std::vector<int> batch{2 * b, 2 * b + 1};
      ASSERT_TRUE(handoff.put(batch));
      EXPECT_TRUE(batch.empty());  // handed over, and ready for the next
    }
    std::vector<int> none;
    ASSERT_TRUE(handoff.put(none));  // an empty batch is not handed over
    handoff.close(std::make_exception_ptr(std::runtime_error("the walk failed")));
  });
  std::vector<int> seen, batch;
  try {
    while (handoff.take(batch)) seen.insert(seen.end(), batch.begin(), batch.end());
    ADD_FAILURE() << "the producer's error was not rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the walk failed");
  }
  producer.join();
  ASSERT_EQ(seen.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(seen[std::size_t(i)], i);
}

TEST(Handoff, AStoppedConsumerEndsTheProducer) {
  Handoff<int> handoff;
  handoff.stop();
  std::vector<int> batch{1};
  EXPECT_FALSE(handoff.put(batch));
  handoff.close();
  EXPECT_FALSE(handoff.take(batch));  // nothing was queued, and no error
}

namespace {

std::shared_ptr<const HostFolder> host_folder(const std::filesystem::path& path) {
  return std::make_shared<const HostFolder>(HostFolder{open_export_root(path.string()), path.string()});
}

std::string host_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// File i's bytes: i + 7k at byte k.
void fill_file(int i, MutableByteSpan out) {
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = std::byte(std::uint8_t(i + 7 * k));
}

}  // namespace

TEST(HostWriters, EveryFileArrivesWithItsBytesAcrossBatchesAndFolders) {
  TemporaryFolder host("host-writers");
  std::vector<std::shared_ptr<const HostFolder>> folders;
  for (int f = 0; f < 3; ++f) folders.push_back(host_folder(host.path() / ("folder " + std::to_string(f))));
  // Empty files, small ones and some of the largest size: batches end at their file count and
  // when their buffer is full.
  auto size_of = [](int i) -> std::size_t {
    return i % 50 == 7 ? HostWriters::kMaxFileBytes : i % 10 == 0 ? 0 : std::size_t(i) * 37 % 9000;
  };
  std::uint64_t total = 0;
  {
    HostWriters writers(3);
    for (int i = 0; i < 500; ++i) {
      writers.write(folders[std::size_t(i % 3)], "file " + std::to_string(i), size_of(i),
                    [&](MutableByteSpan out) { fill_file(i, out); });
      total += size_of(i);
    }
    EXPECT_THROW(writers.write(folders[0], "too large", HostWriters::kMaxFileBytes + 1, [](MutableByteSpan) {}),
                 std::invalid_argument);
    // A fill that throws queues nothing.
    EXPECT_THROW(writers.write(folders[0], "unread", 10, [](MutableByteSpan) { throw FormatError("unreadable"); }),
                 FormatError);
    writers.finish();
    EXPECT_EQ(writers.written(), total);
  }
  for (int i = 0; i < 500; ++i) {
    const std::filesystem::path path = host.path() / ("folder " + std::to_string(i % 3)) / ("file " + std::to_string(i));
    ByteVector expected(size_of(i));
    fill_file(i, expected);
    const std::string got = host_file_bytes(path);
    ASSERT_EQ(got.size(), expected.size()) << path;
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), got.begin(),
                           [](std::byte e, char g) { return e == std::byte(static_cast<unsigned char>(g)); }))
        << path;  // not memcmp: an empty vector's data() may be null
  }
  EXPECT_FALSE(std::filesystem::exists(host.path() / "folder 0" / "too large"));
  EXPECT_FALSE(std::filesystem::exists(host.path() / "folder 0" / "unread"));
}

// Files 100 and 300 cannot be made (a folder of that name is in the way). Whatever the workers'
// timing, the error is file 100's and every file before it is written; the 1,000 files are
// queued faster than two workers create them, so later batches wait in the queue.
TEST(HostWriters, TheEarliestFailureIsReportedAndEveryFileBeforeItWritten) {
  for (int round = 0; round < 10; ++round) {
    TemporaryFolder host("host-writers-failing");
    auto folder = host_folder(host.path());
    std::filesystem::create_directory(host.path() / "file 100");
    std::filesystem::create_directory(host.path() / "file 300");
    try {
      HostWriters writers(2);
      for (int i = 0; i < 1000; ++i)
        writers.write(folder, "file " + std::to_string(i), 100, [&](MutableByteSpan out) { fill_file(i, out); });
      writers.finish();
      ADD_FAILURE() << "no error";
    } catch (const OsError& e) {
      EXPECT_NE(std::string(e.what()).find("/file 100"), std::string::npos) << e.what();
    }
    for (int i = 0; i < 100; ++i) ASSERT_EQ(host_file_bytes(host.path() / ("file " + std::to_string(i))).size(), 100u);
  }
}

TEST(HostWriters, LeftWithoutFinishingItEndsWithoutWaitingForTheQueue) {
  TemporaryFolder host("host-writers-left");
  auto folder = host_folder(host.path());
  {
    HostWriters writers(1);
    for (int i = 0; i < 2000; ++i)
      writers.write(folder, "file " + std::to_string(i), 10, [&](MutableByteSpan out) { fill_file(i, out); });
  }  // an export its caller stopped (a progress answer): the files not begun are dropped
  std::size_t made = 0;
  for (const auto& entry : std::filesystem::directory_iterator(host.path())) made += entry.is_regular_file();
  EXPECT_LT(made, 2000u);
}

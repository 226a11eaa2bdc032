// The one source of everything that makes up identifiers and times on disk: disk and partition
// GUIDs, volume serial numbers, LDM GUIDs, ids and timestamps, FAT dates, NVRAM times.
//
// By default it is random and reads the real clock. When SOURCE_DATE_EPOCH is set the clock
// stands still at that time; when BOOTMIRROR_SEED is set identifiers come from a seeded
// generator. With both, the same operations give byte-identical images.
#pragma once

#include <cstdint>
#include <optional>

#include "bootmirror/guid.h"

namespace bootmirror {

struct IdentitySettings {
  std::optional<std::uint64_t> seed;          // nullopt: random identifiers
  std::optional<std::int64_t> epoch_seconds;  // nullopt: the real clock
};

// Seconds and nanoseconds since 1970-01-01 UTC.
struct Timestamp {
  std::int64_t seconds = 0;
  std::uint32_t nanoseconds = 0;
};

class IdentitySource {
 public:
  // The settings in force (initially read from the environment).
  static IdentitySettings settings();
  static void configure(const IdentitySettings& settings);
  static void configure_from_environment();

  static Guid new_guid();  // a version-4 GUID
  static std::uint32_t next_u32();
  static std::uint64_t next_u64();
  static Timestamp now();
};

}  // namespace bootmirror

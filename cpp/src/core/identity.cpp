#include "bootmirror/identity.h"

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>

#include <fmt/format.h>

namespace bootmirror {

namespace {

// SplitMix64: tiny, fast, and fully determined by its seed, which is all reproducibility needs.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

struct State {
  std::mutex mutex;
  bool configured = false;
  IdentitySettings settings;
  SplitMix64 generator{0};
};

State& state() {
  static State s;
  return s;
}

std::optional<std::int64_t> parse_integer_variable(const char* name, bool allow_negative) {
  const char* raw = std::getenv(name);
  if (raw == nullptr || *raw == '\0') return std::nullopt;
  std::string text(raw);
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || (!allow_negative && value < 0))
    throw UsageError(fmt::format("environment variable {}='{}' is not a whole number", name, text));
  return value;
}

void reseed(State& s) {
  std::uint64_t seed = 0;
  if (s.settings.seed) {
    seed = *s.settings.seed;
  } else {
    std::random_device device;
    seed = (std::uint64_t(device()) << 32) ^ device();
  }
  s.generator = SplitMix64(seed);
}

void configure_locked(State& s, const IdentitySettings& settings) {
  s.settings = settings;
  s.configured = true;
  reseed(s);
}

IdentitySettings settings_from_environment() {
  IdentitySettings settings;
  if (auto seed = parse_integer_variable("BOOTMIRROR_SEED", false)) settings.seed = std::uint64_t(*seed);
  settings.epoch_seconds = parse_integer_variable("SOURCE_DATE_EPOCH", false);
  return settings;
}

State& configured_state(std::unique_lock<std::mutex>& lock) {
  State& s = state();
  lock = std::unique_lock(s.mutex);
  if (!s.configured) configure_locked(s, settings_from_environment());
  return s;
}

}  // namespace

IdentitySettings IdentitySource::settings() {
  std::unique_lock<std::mutex> lock;
  return configured_state(lock).settings;
}

void IdentitySource::configure(const IdentitySettings& settings) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  configure_locked(s, settings);
}

void IdentitySource::configure_from_environment() { configure(settings_from_environment()); }

std::uint64_t IdentitySource::next_u64() {
  std::unique_lock<std::mutex> lock;
  return configured_state(lock).generator.next();
}

std::uint32_t IdentitySource::next_u32() { return std::uint32_t(next_u64() >> 32); }

Guid IdentitySource::new_guid() {
  std::array<std::byte, 16> bytes{};
  std::uint64_t hi = next_u64(), lo = next_u64();
  for (int i = 0; i < 8; ++i) {
    bytes[i] = std::byte(hi >> (56 - 8 * i));
    bytes[8 + i] = std::byte(lo >> (56 - 8 * i));
  }
  // RFC 4122 section 4.4: version 4 (random), variant 10xx.
  bytes[6] = (bytes[6] & std::byte{0x0F}) | std::byte{0x40};
  bytes[8] = (bytes[8] & std::byte{0x3F}) | std::byte{0x80};
  return Guid(bytes);
}

Timestamp IdentitySource::now() {
  std::unique_lock<std::mutex> lock;
  State& s = configured_state(lock);
  if (s.settings.epoch_seconds) return Timestamp{*s.settings.epoch_seconds, 0};
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count();
  return Timestamp{ns / 1'000'000'000, std::uint32_t(ns % 1'000'000'000)};
}

}  // namespace bootmirror

// What every fuzz target shares: the libFuzzer entry point, the rule that separates answers to bad
// input from bugs, invariants that abort with a message, and a reader over the input bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bootmirror/bytes.h"
#include "bootmirror/error.h"

// Each tests/fuzz/<name>_fuzz.cpp defines it; libFuzzer or tests/fuzz/replay_main.cpp calls it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace bootmirror::fuzz {

// Runs one step of a target. A bootmirror::Error (FormatError, UsageError, OsError) is a proper
// answer to bad input: the bindings raise it as bootmirror.Error or OSError. Anything else
// (std::out_of_range, std::length_error, bad_alloc, filesystem_error) would reach Python as
// RuntimeError or MemoryError, so it escapes, and the fuzzer reports the abort as a crash.
template <typename Step>
bool attempt(Step&& step) {
  try {
    step();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A broken invariant: prints it and aborts, which the fuzzer records as a crash with this input.
[[noreturn]] void broken(std::string_view invariant);
inline void require(bool holds, std::string_view invariant) {
  if (!holds) broken(invariant);
}

// Byte-for-byte equality by memcmp: comparing std::byte ranges element by element would run one
// coverage callback per byte in the instrumented build.
bool same_bytes(ByteSpan a, ByteSpan b);
bool all_zero(ByteSpan bytes);

// Fixes identifiers and the clock, for every input anew: whatever a target writes (a repair, a
// commit, a format) is the same on every run, so a crash input replays exactly.
void deterministic();

// The input front to back; past its end every read gives zeros or a shorter span.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : bytes_(reinterpret_cast<const std::byte*>(data), size) {}
  explicit Input(ByteSpan bytes) : bytes_(bytes) {}

  std::uint8_t u8();
  std::uint16_t u16();  // little-endian
  std::uint32_t u32();  // little-endian
  ByteSpan take(std::size_t n);  // the next n bytes, or what is left
  ByteSpan rest() { return take(remaining()); }
  std::size_t remaining() const { return bytes_.size() - pos_; }

 private:
  ByteSpan bytes_;
  std::size_t pos_ = 0;
};

}  // namespace bootmirror::fuzz

// Setting and deleting a variable in place, in the order of EDK2's UpdateVariable
// (MdeModulePkg/Universal/Variable/RuntimeDxe/Variable.c), after a step of our own:
//   0. every copy the reading rule would fall back to once the live one changes (see Copies)
//      State &= DELETED;
//   1. the old copy's State &= IN_DELETED_TRANSITION (0x3F -> 0x3E);
//   2. the new header at the end of the records, State 0xFF;
//   3. its State = HEADER_VALID_ONLY (0x7F);
//   4. its name and data;
//   5. its State = ADDED (0x3F);
//   6. the old copy's State &= DELETED (-> 0x3C).
// With a flush after each step, a power cut leaves one live copy by EDK2's reading rule
// (decode_records): before 5 the old copy (added, or in transition with no other copy left to
// beat it; a new header in state 0xFF or 0x7F is never live, and a torn one ends the walk or is
// skipped by its sizes), from 5 on the new one (an added copy beats one in transition). Every
// state change clears bits of one byte, which a write cannot tear.
#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "nvram/codec.h"

namespace bootmirror::nvram {

namespace {

void check_attributes(std::uint32_t attributes) {
  if ((attributes & kNonVolatile) == 0)
    throw UsageError("the variable store holds non-volatile variables: the attributes must include NV (0x1)");
  if ((attributes & (kBootServiceAccess | kRuntimeAccess)) == 0)
    throw UsageError("a variable nothing can access is a deleted one: the attributes must include BS (0x2) or RT (0x4)");
  if ((attributes & (kAuthenticatedWriteAccess | kTimeBasedAuthenticatedWriteAccess | kAppendWrite)) != 0)
    throw UsageError(fmt::format("attributes {:#x}: authenticated and append writes need the firmware's checks, which an "
                                 "offline store cannot make", attributes));
  if (attributes > 0x7F) throw UsageError(fmt::format("attributes {:#x} hold bits UEFI does not define", attributes));
}

// The live copy of a variable, and every other copy EDK2's reading rule (mark_live) falls back to
// once the live one is no longer added: copies in deleted transition, and added copies after the
// first. EDK2's own writes leave at most one such copy (an old one in transition beside its added
// replacement, after a power cut), but a store another writer made may hold several. Each is
// deleted before the live copy changes; one left behind would surface as the variable's value
// after a set or a deletion. Indexes into `records`.
struct Copies {
  std::optional<std::size_t> live;
  std::vector<std::size_t> fallbacks;
};

Copies copies_of(const std::vector<Record>& records, std::u16string_view name, const Guid& vendor) {
  Copies c;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (r.variable.vendor != vendor || r.variable.name != name) continue;
    if (r.live) c.live = i;
    else if (r.kind == RecordState::added || r.kind == RecordState::in_deleted_transition) c.fallbacks.push_back(i);
  }
  return c;
}

}  // namespace

void Store::set(std::u16string_view name_arg, const Guid& vendor, ByteSpan data, std::uint32_t attributes) {
  const std::u16string name = codec::checked_name(name_arg, "a variable name");
  if (name.empty()) throw UsageError("a variable needs a name");
  if (data.empty()) throw UsageError("an empty value would delete the variable; delete it instead");
  check_attributes(attributes);
  std::lock_guard lock(mutex_);
  check_writable("set a variable");
  const Copies old = copies_of(records_, name, vendor);
  if (old.live) {
    const Variable& v = records_[*old.live].variable;
    // UEFI's SetVariable leaves a variable rewritten with other attributes untouched and returns
    // EFI_INVALID_PARAMETER (EDK2's VariableServiceSetVariable): its attributes change only by
    // deleting it first. A store we write must be one the firmware could have written.
    if (v.attributes != attributes)
      throw UsageError(fmt::format("{} exists with attributes {:#x}: UEFI refuses to rewrite it with {:#x} (delete it "
                                   "first)", utf16_to_wtf8(name), v.attributes, attributes));
    if (std::equal(v.data.begin(), v.data.end(), data.begin(), data.end())) return;
  }
  Variable fresh;
  fresh.name = name;
  fresh.vendor = vendor;
  fresh.attributes = attributes;
  fresh.data.assign(data.begin(), data.end());
  const ByteVector record = codec::encode_record(fresh, layout_.authenticated);
  const std::uint64_t at = layout_.variables_end;
  if (free_locked() < codec::align_header(record.size())) {
    std::vector<std::uint64_t> skip;
    if (old.live) skip.push_back(records_[*old.live].offset);
    for (std::size_t i : old.fallbacks) skip.push_back(records_[i].offset);
    auto image = codec::reclaimed_image(image_, layout_, records_, skip, record);
    if (!image)
      throw UsageError(fmt::format("variable {} ({} bytes) does not fit the variable store even after a reclaim",
                                   fresh.name_utf8(), record.size()));
    replace_image(std::move(*image));
    return;
  }
  const std::uint32_t header = layout_.header_size();
  for (std::size_t i : old.fallbacks) write_state(records_[i].offset, std::uint8_t(records_[i].state & kDeleted));
  if (old.live) write_state(records_[*old.live].offset, std::uint8_t(records_[*old.live].state & kInDeletedTransition));
  write_at(at, ByteSpan(record).first(header));
  device_->flush();
  write_state(at, kHeaderValidOnly);
  write_at(at + header, ByteSpan(record).subspan(header));
  device_->flush();
  write_state(at, kAdded);
  if (old.live) write_state(records_[*old.live].offset, std::uint8_t(records_[*old.live].state & kInDeletedTransition & kDeleted));
  load_image(image_);
}

bool Store::remove(std::u16string_view name, const Guid& vendor) {
  std::lock_guard lock(mutex_);
  return remove_locked(name, vendor);
}

bool Store::remove_locked(std::u16string_view name, const Guid& vendor) {
  const Copies old = copies_of(records_, name, vendor);
  if (!old.live) return false;
  check_writable("delete a variable");
  for (std::size_t i : old.fallbacks) write_state(records_[i].offset, std::uint8_t(records_[i].state & kDeleted));
  write_state(records_[*old.live].offset, std::uint8_t(records_[*old.live].state & kDeleted));
  load_image(image_);
  return true;
}

}  // namespace bootmirror::nvram

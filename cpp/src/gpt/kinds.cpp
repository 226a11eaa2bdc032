#include "bootmirror/gpt.h"

namespace bootmirror::gpt {

namespace {
struct KnownType {
  Kind kind;
  const char* guid;
  std::string_view name;
  std::string_view key;
};

// The types Windows Server 2003 itself creates on GPT disks (Windows' names in the names column).
const KnownType kKnown[] = {
    {Kind::efi_system, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System", "efi"},
    {Kind::microsoft_reserved, "e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft Reserved", "msr"},
    {Kind::ldm_metadata, "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3", "LDM metadata", "ldm_metadata"},
    {Kind::ldm_data, "af9b60a0-1431-4f62-bc68-3311714a69ad", "LDM data", "ldm_data"},
    {Kind::basic_data, "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "Microsoft basic data", "basic"},
};

const Guid& guid_of(const KnownType& known) {
  static const Guid parsed[] = {Guid::parse(kKnown[0].guid), Guid::parse(kKnown[1].guid), Guid::parse(kKnown[2].guid),
                                Guid::parse(kKnown[3].guid), Guid::parse(kKnown[4].guid)};
  return parsed[&known - kKnown];
}
}  // namespace

Kind kind_of(const Guid& type) {
  if (type.is_nil()) return Kind::unused;
  for (const KnownType& known : kKnown)
    if (guid_of(known) == type) return known.kind;
  return Kind::other;
}

Guid type_of(Kind kind) {
  for (const KnownType& known : kKnown)
    if (known.kind == kind) return guid_of(known);
  throw UsageError("an unused or unknown partition kind has no type GUID");
}

std::string_view kind_name(Kind kind) {
  for (const KnownType& known : kKnown)
    if (known.kind == kind) return known.name;
  return kind == Kind::unused ? "Unused" : "Unknown";
}

std::string_view kind_key(Kind kind) {
  for (const KnownType& known : kKnown)
    if (known.kind == kind) return known.key;
  return kind == Kind::unused ? "unused" : "other";
}

}  // namespace bootmirror::gpt

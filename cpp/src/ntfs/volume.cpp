// Opening an NTFS volume: the boot sector, then the $MFT's record 0, whose $DATA maps the whole
// $MFT (a fragmented $MFT is several runs; an $MFT too fragmented for one record keeps the rest of
// its runs in extension records, listed by an $ATTRIBUTE_LIST), then $Volume (record 3) for the
// label and version.
#include "bootmirror/ntfs.h"

#include <fmt/format.h>

#include "bootmirror/unicode.h"
#include "ntfs/volume_state.h"

namespace bootmirror::ntfs {

namespace {

constexpr std::uint64_t kMftRecord = 0;

}  // namespace

Volume::Volume(std::unique_ptr<State> state) : state_(std::move(state)) {}
Volume::~Volume() = default;

std::shared_ptr<Volume> Volume::open(DevicePtr device) {
  if (!device) throw UsageError("ntfs.open needs a device");
  auto s = std::make_unique<State>();
  s->device = device;
  const ByteVector sector = device->read(0, std::size_t(std::min<std::uint64_t>(device->size(), 4096)));
  s->boot = BootSector::decode(sector, device->size());
  if (s->boot.mft_cluster > device->size() / s->boot.cluster_bytes)
    throw FormatError("NTFS boot sector: $MFT past the device's end", 48);

  // The $MFT's own record, at the boot sector's cluster: its unnamed $DATA maps the $MFT.
  const ByteVector mft = s->record_at(kMftRecord, s->boot.mft_cluster * s->boot.cluster_bytes);
  const std::uint64_t mft_offset = s->boot.mft_cluster * s->boot.cluster_bytes;
  const RecordHeader header = RecordHeader::decode(mft, mft_offset);
  if (!header.in_use) throw FormatError("NTFS: the $MFT's record is not in use", mft_offset + 22);
  bool listed = false;
  for (const Attribute& a : decode_attributes(mft, header.first_attribute, header.bytes_in_use, s->boot.cluster_count(), mft_offset)) {
    listed |= a.type == AttributeType::attribute_list;
    if (a.type != AttributeType::data || !a.name.empty() || a.lowest_vcn != 0) continue;
    if (a.resident) throw FormatError("NTFS: the $MFT's $DATA is resident", a.offset);
    if (a.compressed || a.encrypted) throw FormatError("NTFS: the $MFT's $DATA is compressed or encrypted", a.offset);
    s->mft_runs = a.runs;
    s->mft_bytes = a.data_size;
  }
  // An $MFT fragmented past what its record holds keeps its other extents in extension records,
  // found through the first extent's runs (Windows keeps them there).
  if (listed && !s->mft_runs.empty())
    for (const Attribute& a : s->file_attributes(kMftRecord))
      if (a.type == AttributeType::data && a.name.empty()) s->mft_runs = a.runs;
  if (s->mft_runs.empty() || s->mft_bytes < (kVolumeRecord + 1) * s->boot.mft_record_bytes)
    throw FormatError("NTFS: the $MFT's record maps no $MFT", mft_offset);
  for (const Run& r : s->mft_runs)
    if (!r.lcn) throw FormatError("NTFS: the $MFT has a sparse run", mft_offset);
  // The runs must cover what $DATA says the $MFT holds.
  const std::uint64_t mapped = s->mft_runs.back().vcn + s->mft_runs.back().length;
  if (mapped < s->mft_bytes / s->boot.cluster_bytes + (s->mft_bytes % s->boot.cluster_bytes != 0))
    throw FormatError(fmt::format("NTFS: the $MFT's runs map {} clusters, short of its {} bytes", mapped, s->mft_bytes), mft_offset);

  const ByteVector volume_record = s->record_at(kVolumeRecord, std::nullopt);
  for (const Attribute& a : s->attributes_of(volume_record, kVolumeRecord)) {
    if (a.type == AttributeType::volume_name && a.resident) {
      std::u16string name;
      for (std::size_t i = 0; i + 1 < a.value.size(); i += 2) name.push_back(char16_t(load_le<std::uint16_t>(a.value, i)));
      s->label = utf16_to_utf8(name);
    }
    // $VOLUME_INFORMATION: 8 bytes reserved, then major and minor version, then flags.
    if (a.type == AttributeType::volume_information && a.resident && a.value.size() >= 12) {
      s->version = Version{std::to_integer<unsigned>(a.value[8]), std::to_integer<unsigned>(a.value[9])};
      s->volume_flags = load_le<std::uint16_t>(a.value, 10);
      // Where the flags lie in the record: the attribute's place, then its value's (offset 20).
      const std::uint64_t in_record = a.offset;  // attributes_of gives offsets in the record
      if (in_record + 22 <= volume_record.size())
        s->volume_flags_in_record = in_record + load_le<std::uint16_t>(volume_record, std::size_t(in_record) + 20) + 10;
    }
  }
  return std::shared_ptr<Volume>(new Volume(std::move(s)));
}

std::uint32_t Volume::bytes_per_sector() const { return state_->boot.bytes_per_sector; }
std::uint32_t Volume::cluster_bytes() const { return state_->boot.cluster_bytes; }
std::uint64_t Volume::cluster_count() const { return state_->boot.cluster_count(); }
std::uint32_t Volume::mft_record_bytes() const { return state_->boot.mft_record_bytes; }
std::uint64_t Volume::serial() const { return state_->boot.serial; }
std::uint32_t Volume::hidden_sectors() const { return state_->boot.hidden_sectors; }
std::uint64_t Volume::mft_record_count() const { return state_->mft_bytes / state_->boot.mft_record_bytes; }
std::string Volume::label() const { return state_->label; }
Version Volume::version() const { return state_->version; }
bool Volume::dirty() const { return state_->volume_flags & kVolumeIsDirty; }

Volume::VolumeRecordPlace Volume::volume_record_place() const {
  const State& s = *state_;
  const std::uint64_t record = s.boot.mft_record_bytes, in_mft = kVolumeRecord * record;
  const std::uint64_t in_stride = s.volume_flags_in_record % kFixupStride;
  if (s.volume_flags_in_record == 0 || in_stride >= kFixupStride - 2)
    throw FormatError("NTFS: $Volume's flags lie under its record's update sequence, or were not found");
  VolumeRecordPlace place;
  // The $MFT's copy a stride at a time: with clusters smaller than a record, it may span runs.
  for (std::uint64_t at = 0; at < record; at += kFixupStride) {
    const std::uint64_t where = s.volume_offset_of(s.mft_runs, in_mft + at);
    if (!place.ranges.empty() && place.ranges.back().offset + place.ranges.back().length == where)
      place.ranges.back().length += kFixupStride;
    else
      place.ranges.push_back({where, kFixupStride});
  }
  const std::uint64_t mirror = s.boot.mft_mirror_cluster * s.boot.cluster_bytes + in_mft;
  if (mirror > s.device->size() || s.device->size() - mirror < record)
    throw FormatError("NTFS: $MFTMirr lies past the volume's end", mirror);
  place.ranges.push_back({mirror, record});
  place.dirty_flag_bytes = {s.volume_offset_of(s.mft_runs, in_mft + s.volume_flags_in_record),
                            mirror + s.volume_flags_in_record};
  return place;
}

ByteVector Volume::read_record(std::uint64_t number) const { return state_->record_at(number, std::nullopt); }

}  // namespace bootmirror::ntfs

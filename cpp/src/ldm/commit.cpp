// Writing a group: whole databases for disks that are new to LDM (or missed commits), and
// crash-safe incremental commits for the others.
//
// An incremental commit on one disk, committed at C, going to N = C + 1 (Windows' scheme of new
// VBLKs under a higher sequence and the VMDB switched last):
//   1. every new or changed record is written, with commit id N, into slots the visible
//      configuration does not use; an object that goes away gets a blank (kind 0) record, commit
//      id N, beside it. Readers at C ignore records above C (group.cpp).
//   2. the VMDB sector is written with committed = pending = N and the new record counts: the
//      one write that switches from the old configuration to the new one.
//   3. slots holding superseded versions, blanks and leftovers are stamped empty again, so that
//      the database is once more exactly what Windows writes (one record per object) and libldm
//      and the kernel read it.
// A power cut before 2 leaves C; after it, N. Disks are committed one after another; the reader
// takes the newest disk (Windows does the same), and the next commit rewrites disks left behind.
#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include <fmt/format.h>

#include "bootmirror/identity.h"
#include "bootmirror/ldm.h"
#include "bootmirror/unicode.h"
#include "ldm/codec.h"
#include "ldm/fields.h"

namespace bootmirror::ldm {

using namespace detail;

namespace {

// Every record of a group, const or not.
template <typename G, typename F>
  requires std::is_same_v<std::remove_const_t<G>, Group>
void for_each_record(G& g, F f) {
  f(g.record);
  for (auto& d : g.disks) f(d.record);
  for (auto& v : g.volumes) f(v.record);
  for (auto& c : g.components) f(c);
  for (auto& p : g.partitions) f(p);
}

template <typename D, typename F>
  requires std::is_same_v<std::remove_const_t<D>, DiskDatabase>
void for_each_record(D& db, F f) {
  if (db.group) f(*db.group);
  for (auto& r : db.disks) f(r);
  for (auto& r : db.volumes) f(r);
  for (auto& r : db.components) f(r);
  for (auto& r : db.partitions) f(r);
  for (auto& r : db.raw) f(r);
}

// Bytes of a record for "did it change": the encoding, which holds no placement.
template <typename R>
ByteVector content(const R& r) {
  return encode_record(r);
}

PrivHead privhead_for(const Group& g, const GroupDisk& d, std::uint64_t N) {
  const ConfigLayout L = layout_for(d.sector_size);
  // The group's own PRIVHEAD (from its newest disk, or new_group's Windows 2003 defaults) with
  // this disk's fields: a 2008 R2 group keeps version 2.12.
  PrivHead ph = g.base.privhead;
  ph.sequence = std::uint32_t(N);
  ph.timestamp = filetime_now();
  ph.ph3_offset = L.ph3;
  ph.ph2_offset = L.ph2;
  ph.disk_guid = d.record.guid.to_string();
  ph.group_guid = g.record.guid;
  ph.group_name = g.record.name;
  if (ph.host_guid.empty()) ph.host_guid = IdentitySource::new_guid().to_string();
  ph.unknown1 = 2;
  ph.logical_disk_start = d.data_start;
  ph.logical_disk_size = d.data_size;
  ph.config_start = d.config_start;
  ph.config_size = L.config_size;
  ph.toc_count = 1;
  ph.toc_size = L.config_size - 2;
  ph.config_count = 1;
  ph.log_count = 1;
  ph.config_bitmap_size = L.config_bitmap;
  ph.log_bitmap_size = L.log_size;
  // Each disk keeps its own signature; a disk new to the group gets one.
  if (d.needs_init || d.disk_signature == 0) ph.disk_signature = IdentitySource::next_u32();
  else ph.disk_signature = d.disk_signature;
  return ph;
}

Vmdb vmdb_for(const Group& g, std::uint32_t ss, std::uint64_t N) {
  const ConfigLayout L = layout_for(ss);
  Vmdb v;
  v.vblk_size = 128;
  v.vblk_last = std::uint32_t(L.config_bitmap * ss / v.vblk_size);
  v.first_offset = ss;
  v.status = 1;
  v.version_major = 4;
  v.version_minor = 10;
  v.group_name = g.record.name;
  v.group_guid = g.record.guid;
  v.committed_seq = v.pending_seq = N;
  const std::uint32_t counts[4] = {std::uint32_t(g.volumes.size()), std::uint32_t(g.components.size()),
                                   std::uint32_t(g.partitions.size()), std::uint32_t(g.disks.size())};
  for (int i = 0; i < 4; ++i) v.committed[i] = v.pending[i] = counts[i];
  v.last_access = filetime_now();
  return v;
}

// Finds `count` free slots, consecutive if possible.
Placement allocate(std::vector<bool>& used, std::uint32_t first, std::uint32_t count, std::uint32_t record_id) {
  Placement p{record_id, {}};
  for (std::uint32_t s = first; s + count <= used.size(); ++s) {
    bool ok = true;
    for (std::uint32_t k = 0; k < count && ok; ++k) ok = !used[s + k];
    if (!ok) continue;
    for (std::uint32_t k = 0; k < count; ++k) used[s + k] = true, p.slots.push_back(s + k);
    return p;
  }
  for (std::uint32_t s = first; s < used.size() && p.slots.size() < count; ++s)
    if (!used[s]) used[s] = true, p.slots.push_back(s);
  if (p.slots.size() < count) throw UsageError("the LDM database is full");
  return p;
}

// The whole database of one disk, every record placed afresh from the first slot.
DiskDatabase fresh_database(const Group& g, const GroupDisk& d, std::uint64_t N) {
  const ConfigLayout L = layout_for(d.sector_size);
  DiskDatabase db;
  db.scheme = d.scheme;
  db.sector_size = d.sector_size;
  db.privhead = privhead_for(g, d, N);
  db.privhead_lba = d.scheme == Scheme::mbr ? 6 : d.config_start + L.ph3;
  TocBlock toc;
  toc.sequence1 = 1;
  toc.sequence2 = 1;
  toc.bitmaps[0] = {"config", 0, L.vmdb, L.config_bitmap, 0x0006000100000000ull};
  toc.bitmaps[1] = {"log", 0, L.log_start, L.log_size, 0x0006000100000000ull};
  db.tocs.assign(4, toc);
  db.vmdb = vmdb_for(g, d.sector_size, N);
  std::vector<bool> used(db.vmdb.vblk_last, false);
  const std::uint32_t first = db.vmdb.first_offset / db.vmdb.vblk_size;
  std::uint32_t record_id = 1;
  auto place = [&](auto r) {
    r.placement = allocate(used, first, slots_needed(encode_record(r).size(), db.vmdb.vblk_size), record_id++);
    return r;
  };
  db.group = place(g.record);
  for (auto& x : g.disks) db.disks.push_back(place(x.record));
  for (auto& x : g.volumes) db.volumes.push_back(place(x.record));
  for (auto& x : g.components) db.components.push_back(place(x));
  for (auto& x : g.partitions) db.partitions.push_back(place(x));
  db.log = new_klog(d.sector_size, L.log_size, N);
  return db;
}

// The writes of one disk's commit, computed in full before any disk is written (so that whatever
// refuses the commit, a full database or a GPT without a free entry, refuses it before the first
// write): runs of writes with a flush after each, then the partition table.
struct DiskWrites {
  BlockDevice* device = nullptr;
  std::vector<std::vector<std::pair<std::uint64_t, ByteVector>>> stages;
  std::optional<ByteVector> mbr;  // MBR sector 0 with slot 0 = 0x42: what makes the disk dynamic
  std::optional<gpt::Table> gpt;  // checked already; gpt::write writes one copy at a time

  void run() const {
    for (const auto& stage : stages) {
      if (stage.empty()) continue;
      for (const auto& [offset, bytes] : stage) device->write(offset, bytes);
      device->flush();
    }
    if (mbr) device->write(0, *mbr);
    if (gpt) gpt::write(*device, *gpt);
    device->flush();
  }
};

// One write per run of consecutive slots.
std::vector<std::pair<std::uint64_t, ByteVector>> slot_writes(std::uint64_t vmdb_offset, const Vmdb& v, ByteSpan area,
                                                              const std::vector<std::uint32_t>& slots) {
  std::vector<std::pair<std::uint64_t, ByteVector>> out;
  std::vector<std::uint32_t> s = slots;
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i + 1;
    while (j < s.size() && s[j] == s[j - 1] + 1) ++j;
    std::uint64_t at = std::uint64_t(s[i]) * v.vblk_size;
    ByteSpan run = area.subspan(at, (j - i) * v.vblk_size);
    out.emplace_back(vmdb_offset + at, ByteVector(run.begin(), run.end()));
    i = j;
  }
  return out;
}

// The disk's GPT with one LDM data partition per LDM partition (after `base`, the table a new
// dynamic disk gets, or the one on the disk); nullopt when nothing changes.
std::optional<gpt::Table> gpt_after(const Group& g, const GroupDisk& d, BlockDevice& dev, std::optional<gpt::Table> base) {
  bool changed = base.has_value();
  gpt::Table t = base ? std::move(*base) : gpt::read(dev);
  changed |= sync_gpt_data_partitions(t, d, g.partitions);
  if (!changed) return std::nullopt;
  t.check();
  return t;
}

DiskWrites prepare_fresh(const Group& g, const GroupDisk& d, BlockDevice& dev, std::uint64_t N) {
  DiskWrites w;
  w.device = &dev;
  std::optional<DiskPlan> plan;
  if (d.needs_init) plan = plan_disk(dev);
  DiskDatabase db = fresh_database(g, d, N);
  const std::uint32_t ss = d.sector_size;
  w.stages.push_back({{d.config_start * ss, encode_config(db)}});
  if (d.scheme == Scheme::mbr) {
    ByteVector ph(ss);
    encode_privhead(db.privhead, ph);
    w.stages.push_back({{6 * std::uint64_t(ss), std::move(ph)}});
    if (plan) w.mbr = dynamic_mbr(dev, *plan);
  } else {
    w.gpt = gpt_after(g, d, dev, plan ? std::optional<gpt::Table>(dynamic_gpt(dev, *plan)) : std::nullopt);
  }
  return w;
}

DiskWrites prepare_incremental(const Group& g, const GroupDisk& d, BlockDevice& dev, const DiskDatabase& cur, std::uint64_t N) {
  DiskWrites w;
  w.device = &dev;
  const std::uint32_t ss = cur.sector_size;
  const Vmdb& v = cur.vmdb;
  const std::uint64_t vmdb_offset = detail::vmdb_offset(cur);
  const std::uint64_t area_size = std::uint64_t(v.vblk_last) * v.vblk_size;
  ByteVector area = dev.read(vmdb_offset, area_size);
  Group before = assemble(cur);

  // What the disk shows now, by id: content and slots.
  std::map<std::uint32_t, std::pair<ByteVector, Placement>> shown;
  auto note = [&](auto& r) { shown[r.id] = {content(r), r.placement}; };
  note(before.record);
  for (auto& x : before.disks) note(x.record);
  for (auto& x : before.volumes) note(x.record);
  for (auto& x : before.components) note(x);
  for (auto& x : before.partitions) note(x);

  std::vector<bool> used(v.vblk_last, false);
  std::set<std::uint32_t> kept_slots;
  std::set<std::uint32_t> new_ids;
  std::uint32_t record_id = 0;
  for_each_record(cur, [&](auto& r) { record_id = std::max(record_id, r.placement.record_id); });
  struct Write {
    ByteVector bytes;
    Placement placement;
  };
  std::vector<Write> writes;
  // Every slot the committed configuration uses stays untouched until the switch; slots of records
  // that stay as they are stay in use after it too.
  for (auto& [id, shown_record] : shown)
    for (auto s : shown_record.second.slots) used[s] = true;
  for_each_record(g, [&](auto& r) {
    new_ids.insert(r.id);
    auto it = shown.find(r.id);
    if (it != shown.end() && it->second.first == content(r))
      for (auto s : it->second.second.slots) used[s] = true, kept_slots.insert(s);
  });
  const std::uint32_t first = v.first_offset / v.vblk_size;
  for_each_record(g, [&](auto& r) {
    auto it = shown.find(r.id);
    if (it != shown.end() && it->second.first == content(r)) return;
    ByteVector bytes = content(r);
    Placement p = allocate(used, first, slots_needed(bytes.size(), v.vblk_size), ++record_id);
    writes.push_back({std::move(bytes), p});
  });
  for (auto& [id, shown_record] : shown) {
    if (new_ids.count(id)) continue;
    RawRecord blank;
    blank.type = 0;
    blank.id = id;
    blank.commit_id = N;
    // kind 0 body: id var, commit id u64 (decoded by records.cpp)
    FieldWriter body;
    body.var_int(id);
    body.be64(N);
    blank.body = body.take();
    ByteVector bytes = encode_record(blank);
    Placement p = allocate(used, first, slots_needed(bytes.size(), v.vblk_size), ++record_id);
    writes.push_back({std::move(bytes), p});
  }

  // 1. new versions and blanks
  std::vector<std::uint32_t> written;
  for (auto& w : writes) {
    place_record(w.bytes, w.placement, v, area);
    written.insert(written.end(), w.placement.slots.begin(), w.placement.slots.end());
  }
  w.stages.push_back(slot_writes(vmdb_offset, v, area, written));
  // 2. the switch
  Vmdb next = vmdb_for(g, ss, N);
  next.vblk_last = v.vblk_last;
  next.vblk_size = v.vblk_size;
  next.first_offset = v.first_offset;
  ByteVector sector(ss);
  ByteSpan old_sector = ByteSpan(area).first(ss);
  std::copy(old_sector.begin(), old_sector.end(), sector.begin());
  encode_vmdb(next, MutableByteSpan(sector).first(std::min<std::size_t>(ss, v.first_offset)));
  sector.resize(std::min<std::size_t>(ss, v.first_offset));
  w.stages.push_back({{vmdb_offset, std::move(sector)}});
  // 3. clean up: every slot that is not free and is not part of the new visible configuration
  std::set<std::uint32_t> live = kept_slots;
  for (auto& w : writes)
    if ((std::uint8_t(w.bytes[3]) & 0x0F) != 0) live.insert(w.placement.slots.begin(), w.placement.slots.end());
  // The records a tombstone hides go before the tombstones themselves, a flush between: a crash
  // in between must not leave a deleted record visible again with nothing to hide it.
  std::vector<std::uint32_t> stale, tombstones;
  for (std::uint32_t s = first; s < v.vblk_last; ++s) {
    if (live.count(s)) continue;
    ByteSpan slot = ByteSpan(area).subspan(std::uint64_t(s) * v.vblk_size, v.vblk_size);
    if (load_be<std::uint16_t>(slot, 14) == 0) continue;
    const bool tombstone = load_be<std::uint16_t>(slot, 14) == 1 && (std::to_integer<std::uint8_t>(slot[0x13]) & 0x0F) == 0;
    (tombstone ? tombstones : stale).push_back(s);
  }
  for (std::uint32_t s : stale) stamp_empty_slot(s, v, area);
  w.stages.push_back(slot_writes(vmdb_offset, v, area, stale));
  for (std::uint32_t s : tombstones) stamp_empty_slot(s, v, area);
  w.stages.push_back(slot_writes(vmdb_offset, v, area, tombstones));
  if (d.scheme == Scheme::gpt) w.gpt = gpt_after(g, d, dev, std::nullopt);
  return w;
}

}  // namespace

void check_convertible(BlockDevice& device) { (void)plan_disk(device); }

void detail::refuse_member(const Group& g, int device_index) {
  for (const auto& d : g.disks)
    if (d.device == device_index)
      throw UsageError(fmt::format("device {} is already {} of the group", device_index, escape_bytes(d.record.name)));
}

void detail::place(GroupDisk& d, const DiskPlan& plan, int device_index) {
  d.device = device_index;
  d.data_start = plan.data_start;
  d.data_size = plan.data_size;
  d.config_start = plan.config_start;
  d.config_size = plan.config_size;
  d.scheme = plan.scheme;
  d.sector_size = plan.sector_size;
  d.reserved = plan.reserved;
  d.needs_init = true;
}

std::size_t add_disk(Group& group, const DevicePtr& dev, int device_index) {
  if (!dev) throw UsageError("add_disk: no disk");
  // On a copy: the disk's basic partitions become volumes, and any of them may be refused.
  Group g = group;
  refuse_member(g, device_index);
  DiskPlan plan = plan_disk(*dev);
  GroupDisk d;
  d.record.id = next_id(g);
  d.record.revision = 3;
  d.record.name = fmt::format("Disk{}", [&] {
    for (int n = 1;; ++n)
      if (!g.find_disk(fmt::format("Disk{}", n))) return n;
  }());
  d.record.guid = IdentitySource::new_guid();
  place(d, plan, device_index);
  g.disks.push_back(d);
  const std::size_t index = g.disks.size() - 1;
  for (const auto& b : plan.basic) {
    std::string name = fmt::format("Volume{}", [&] {
      for (int n = 1;; ++n)
        if (!g.find_volume(fmt::format("Volume{}", n))) return n;
    }());
    std::size_t vi = add_volume(g, name, Layout::simple, {{index, b.lba - plan.data_start, b.sectors}});
    g.volumes[vi].record.partition_type = b.mbr_type;
  }
  group = std::move(g);
  return index;
}

// Everything is checked and every disk's writes computed before the first write; the group takes
// the new state only when every disk has been written.
void commit(Group& group, const std::vector<DevicePtr>& devices) {
  Group g = group;
  resolve(g);
  bool any_present = false;
  for (auto& d : g.disks) {
    if (d.device < 0) continue;
    if (std::size_t(d.device) >= devices.size() || !devices[std::size_t(d.device)])
      throw UsageError(fmt::format("{} has no device to write to", escape_bytes(d.record.name)));
    if (!devices[std::size_t(d.device)]->writable()) throw UsageError(fmt::format("{} is read-only", devices[std::size_t(d.device)]->name()));
    any_present = true;
  }
  if (!any_present) throw UsageError("no disk of the group is present to commit to");
  // What each present disk holds now. The new sequence must be above every commit id on any of
  // them: an interrupted commit leaves records above the committed sequence, and they must never
  // become visible under a later switch.
  std::vector<std::optional<DiskDatabase>> current(g.disks.size());
  std::uint64_t highest = g.committed_seq;
  for (std::size_t i = 0; i < g.disks.size(); ++i) {
    const GroupDisk& d = g.disks[i];
    if (d.device < 0 || d.needs_init) continue;
    try {
      current[i] = read_database(*devices[std::size_t(d.device)]);
      (void)assemble(*current[i]);  // the incremental path needs a consistent configuration
    } catch (const FormatError&) {
      current[i].reset();
      continue;  // a disk whose database is unreadable gets a whole new one
    }
    highest = std::max({highest, current[i]->vmdb.committed_seq, current[i]->vmdb.pending_seq});
    for_each_record(*current[i], [&](auto& r) { highest = std::max(highest, r.commit_id); });
  }
  if (highest == std::numeric_limits<std::uint64_t>::max())
    throw FormatError("the LDM sequence numbers on the disks have reached their end; no later commit can follow");
  const std::uint64_t N = highest + 1;
  // Stamp commit ids: a record that differs from the committed version is written under N.
  Group before = g.committed_seq == 0 ? Group{} : assemble(g.base);
  std::map<std::uint32_t, ByteVector> old;
  auto note = [&](auto& r) { old[r.id] = content(r); };
  if (g.committed_seq != 0) {
    note(before.record);
    for (auto& x : before.disks) note(x.record);
    for (auto& x : before.volumes) note(x.record);
    for (auto& x : before.components) note(x);
    for (auto& x : before.partitions) note(x);
  }
  for (auto& v : g.volumes)
    if (v.record.id2 == 0) v.record.id2 = N;
  for_each_record(g, [&](auto& r) {
    auto it = old.find(r.id);
    if (it == old.end() || it->second != content(r)) r.commit_id = N;
  });
  std::vector<std::pair<std::size_t, DiskWrites>> plan;
  for (std::size_t i = 0; i < g.disks.size(); ++i) {
    const GroupDisk& d = g.disks[i];
    if (d.device < 0) continue;
    BlockDevice& dev = *devices[std::size_t(d.device)];
    const auto& cur = current[i];
    if (cur && !d.rewrite && cur->vmdb.committed_seq == g.committed_seq && cur->privhead.group_guid == g.record.guid &&
        g.committed_seq != 0)
      plan.emplace_back(i, prepare_incremental(g, d, dev, *cur, N));
    else
      plan.emplace_back(i, prepare_fresh(g, d, dev, N));
  }
  for (const auto& [i, writes] : plan) {
    try {
      writes.run();
    } catch (...) {
      // The disks written before this one hold the new database: say so, so that the next
      // commit does not plan them as new disks again.
      for (const auto& [j, done] : plan) {
        if (j == i) break;
        group.disks[j].needs_init = group.disks[j].rewrite = false;
        group.disks[j].committed_seq = N;
      }
      throw;
    }
    g.disks[i].needs_init = g.disks[i].rewrite = false;
    g.disks[i].committed_seq = N;
  }
  g.committed_seq = N;
  g.base = read_database(*plan.front().second.device);
  resolve(g);
  group = std::move(g);
}

}  // namespace bootmirror::ldm

// Sorting a machine's disks into its own disk group, basic disks and foreign groups. Windows
// Server 2003 keeps one disk group per machine; a disk of another group shows as "Foreign" until
// it is imported (out of scope), and nothing is written to it.
#include <map>

#include "bootmirror/ldm.h"
#include "ldm/codec.h"

namespace bootmirror::ldm {

Scan scan(const std::vector<DevicePtr>& devices, const std::string& preferred_guid) {
  Scan out;
  std::map<std::string, std::vector<std::size_t>> by_group;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (!devices[i]) continue;
    // Disks sort by their PRIVHEAD (any valid copy); a database damaged beyond it is read_group's
    // to read around, from the group's other disks.
    try {
      by_group[detail::find_privhead(*devices[i], detail::Copies::first_valid).usable().group_guid].push_back(i);
    } catch (const detail::NotDynamic&) {
      out.basic.push_back(i);
    } catch (const FormatError& e) {
      out.unreadable.emplace_back(i, e.what());
      out.unreadable_offsets.push_back(e.offset());
    }
  }
  if (by_group.empty()) return out;
  std::string chosen = by_group.count(preferred_guid) ? preferred_guid : by_group.begin()->first;
  if (!by_group.count(preferred_guid))
    for (const auto& [guid, members] : by_group)
      if (members.size() > by_group[chosen].size()) chosen = guid;
  for (const auto& [guid, members] : by_group)
    if (guid != chosen) out.foreign.insert(out.foreign.end(), members.begin(), members.end());
  std::vector<DevicePtr> members;
  for (std::size_t i : by_group[chosen]) members.push_back(devices[i]);
  Group g = read_group(members);
  for (auto& d : g.disks)
    if (d.device >= 0) d.device = int(by_group[chosen][std::size_t(d.device)]);
  out.group = std::move(g);
  return out;
}

}  // namespace bootmirror::ldm

// The machine's NVRAM store and the record of the running boot (bootmirror/firmware.h).
#include <filesystem>

#include <fmt/format.h>

#include "bootmirror/firmware.h"
#include "bootmirror/write_log.h"
#include "machine/running_record.h"

namespace bootmirror::firmware {

namespace {

namespace fs = std::filesystem;

constexpr const char* kSection = "firmware";
constexpr const char* kStoreFile = "nvram.fd";

const Json& section_value(Machine& machine, const char* key) {
  static const Json none;
  Json& section = machine.section(kSection);
  return section.is_object() ? section[key] : none;
}

// The boot options the runbook machine's firmware offers for its own devices, after Windows' entry
// (bootcfg lists them as IDs 2 to 4). Their device paths are those of a q35 machine like the one
// OVMF runs on: the floppy-style LS120 and the CD-ROM on the SATA controller, the shell in the
// firmware volume (OVMF's Shell.efi file GUID).
struct FirmwareEntry {
  const char16_t* description;
  const char* device_path;
};
constexpr FirmwareEntry kFirmwareEntries[] = {
    {u"LS120", "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x1,0xFFFF,0x0)"},
    {u"CDROM", "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)"},
    {u"EFI Shell", "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)"},
};
constexpr std::uint16_t kFirmwareTimeout = 30;

}  // namespace

std::shared_ptr<nvram::Store> store(Machine& machine) {
  auto hold = machine.hold();
  std::shared_ptr<nvram::Store>& open = machine.nvram_store();
  if (open) return open;
  const Json& file = section_value(machine, "nvram");
  if (!file.is_string() || !machine.folder()) return nullptr;
  const fs::path path = fs::path(*machine.folder()) / file.string("firmware nvram file");
  open = nvram::Store::open(path.string(), false, machine.write_log());
  return open;
}

std::shared_ptr<nvram::Store> writable_store(Machine& machine) {
  auto hold = machine.hold();
  std::shared_ptr<nvram::Store> current = store(machine);
  if (!current) throw UsageError("This machine has no NVRAM (create it with firmware.create_store / Machine.create_nvram).");
  if (current->writable()) return current;
  machine.prepare_write();
  machine.nvram_store() = nvram::Store::open(current->path(), true, machine.write_log());
  return machine.nvram_store();
}

std::shared_ptr<nvram::Store> create_store(Machine& machine, const std::string& template_path) {
  auto hold = machine.hold();
  if (store(machine)) throw UsageError("This machine has NVRAM already.");
  std::error_code ec;
  if (!fs::exists(template_path, ec))
    throw UsageError(fmt::format("The firmware's variable store template {} is missing (Debian package ovmf)", template_path));
  if (machine.folder()) {
    machine.prepare_write();
    machine.nvram_store() = nvram::Store::create((fs::path(*machine.folder()) / kStoreFile).string(), template_path);
    machine.nvram_store() = nvram::Store::open(machine.nvram_store()->path(), true, machine.write_log());
  } else {
    auto source = ImageFile::open(template_path, false);
    auto copy = std::make_shared<MemoryDisk>(source->size());
    copy->write(0, source->read(0, std::size_t(source->size())));
    machine.nvram_store() = nvram::Store::on_device(copy);
  }
  nvram::Store& nv = *machine.nvram_store();
  std::vector<std::uint16_t> order;
  for (const FirmwareEntry& e : kFirmwareEntries) {
    nvram::LoadOption option;
    option.description = e.description;
    option.file_paths.push_back(nvram::DevicePath::parse(e.device_path));
    const std::uint16_t number = nv.free_boot_number();
    nv.set_boot_entry(number, option);
    order.push_back(number);
  }
  nv.set_boot_order(order);
  nv.set_timeout(kFirmwareTimeout);
  if (machine.folder()) {
    machine.section(kSection).object_mut("the firmware section")["nvram"] = Json(kStoreFile);
    machine.save();
  }
  return machine.nvram_store();
}

std::optional<std::uint16_t> boot_current(Machine& machine) {
  auto hold = machine.hold();
  const Json& running = section_value(machine, "running");
  if (!running.is_object() || running["entry"].is_null()) return std::nullopt;
  const std::int64_t number = running["entry"].integer("firmware running entry (a Boot#### number)", 0, 0xFFFF);
  return std::uint16_t(number);
}

void record_running(Machine& machine, const std::optional<RunningRecord>& record) {
  auto hold = machine.hold();
  Json::Object& section = machine.section(kSection).object_mut("the firmware section");
  if (!record) {
    section.erase("running");
  } else {
    auto guid = [](const std::optional<Guid>& g) { return g ? Json(g->to_string()) : Json(); };
    section["running"] = Json(Json::Object{{"entry", int(record->entry)},
                                           {"system_partition", guid(record->system_partition)},
                                           {"boot_partition", guid(record->boot_partition)},
                                           {"boot_volume", guid(record->boot_volume)}});
  }
  machine.save();
}

std::optional<RunningRecord> running_record(Machine& machine) {
  auto hold = machine.hold();
  const Json& running = section_value(machine, "running");
  const auto entry = boot_current(machine);
  if (!entry) return std::nullopt;
  auto guid = [&](const char* key) -> std::optional<Guid> {
    const Json& value = running[key];
    if (value.is_null()) return std::nullopt;
    const std::string& text = value.string("firmware running GUID");
    if (!Guid::is_valid(text)) throw FormatError(fmt::format("machine.json: firmware running {} '{}' is no GUID", key, text));
    return Guid::parse(text);
  };
  return RunningRecord{*entry, guid("system_partition"), guid("boot_partition"), guid("boot_volume")};
}

}  // namespace bootmirror::firmware

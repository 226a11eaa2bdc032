"""The machine of Microsoft KB 814070, for rehearsing its runbook on image files.

KB 814070 mirrors the boot volume of a GPT system (disk 0) onto a shadow disk (disk 1). This
module builds that machine as the article finds it: disk 0 partitioned at the byte offsets its
``bootcfg /list 0`` shows, with a FAT EFI system partition holding the article's seven files
(the ones its ``xcopy p:\\*.* s: /s /h`` lists), and disk 1 a raw basic disk::

    m = bootmirror.kb814070.rehearsal_machine("lab")
    print(m.diskpart("select disk 1\\nconvert gpt\\nlist partition"))

The boot partition is drive C:, an NTFS volume labelled PRIMARY (as the article's ``list volume``
shows it) made by mkntfs and holding a small Windows tree laid down by wimlib-imagex, as setup
lays down a system volume (:data:`WINDOWS_FILES`); the files stand in for Windows' own.
"""

from __future__ import annotations

import os
from typing import Union

from . import _core, fat, gpt, windows_setup
from ._core import UsageError
from .disk import Disk, SizeLike
from .identity import new_guid
from .machine import Machine

MiB = 1 << 20

#: Disk 0 before its conversion to dynamic, from the article's ``bootcfg /list 0`` and ``list
#: partition``: (kind, type GUID, GPT name, first byte, length in bytes).
SYSTEM_DISK_LAYOUT = (
    ("efi", gpt.EFI_SYSTEM, "EFI system partition", 32_256, 213_825_024),
    ("basic", gpt.BASIC_DATA, "Basic data partition", 213_857_280, 4996 * MiB),
    ("msr", gpt.MICROSOFT_RESERVED, "Microsoft reserved partition", 9_153_031_680, 32 * MiB),
)

#: The EFI system partition's files, as the article's xcopy lists them, with Boot0003 hidden and
#: system as Windows keeps its NVRAM backup files. The contents stand in for the real binaries.
ESP_FILES = (
    ("EFI/Microsoft/WINNT50/Boot0003", fat.HIDDEN | fat.SYSTEM | fat.ARCHIVE),
    ("EFI/Microsoft/WINNT50/ia64ldr.efi", fat.ARCHIVE),
    ("EFI/Microsoft/EFIDrivers/fpswa.efi", fat.ARCHIVE),
    ("MSUtil/diskpart.efi", fat.ARCHIVE),
    ("MSUtil/fdisk.efi", fat.ARCHIVE),
    ("MSUtil/format.efi", fat.ARCHIVE),
    ("MSUtil/nvrboot.efi", fat.ARCHIVE),
)

#: The boot partition's number on disk 0 (list partition's numbering): Windows' C: drive.
BOOT_PARTITION = 2

#: The boot volume's label, as the article's ``list volume`` shows it.
BOOT_VOLUME_LABEL = "PRIMARY"

#: The small Windows tree on C: (:mod:`bootmirror.windows_setup` lays it down).
WINDOWS_FILES = windows_setup.WINDOWS_FILES
windows_file_contents = windows_setup.windows_file_contents

#: Windows' boot entry on the article's machine, as its first ``bootcfg`` lists it (ID 1).
WINDOWS_ENTRY = "Windows 2003 Server, Enterprise"
#: Where Windows Server 2003's EFI loader lives on the ESP.
LOADER_PATH = windows_setup.LOADER_PATH

def esp_file_contents(path: str, bootable: bool = True) -> bytes:
    """Contents for one of the ESP's files: Windows' loader is, when `bootable`, a marker loader
    that boots under QEMU with OVMF and says which ESP it came from (built with Debian's
    grub-mkstandalone); every other file is a stand-in, recognisable and different per file."""
    if path == LOADER_PATH.replace("\\", "/").lstrip("/"):
        return windows_setup.loader_contents(bootable)
    name = path.rsplit("/", 1)[-1]
    return (f"bootmirror stand-in for {path}\n".encode() * 64)[: 4096 + 512 * len(name)]


def system_disk_layout(scale: float = 1.0, boot_volume_size: SizeLike = 4996 * MiB) -> list:
    """:data:`SYSTEM_DISK_LAYOUT` with C: of `boot_volume_size`, every size and place but the
    ESP's first sector times `scale` (whole MiB for C: and the MSR's place, whole sectors for the
    ESP): the article's disk 0, smaller for quick runs. At scale 1 every place is the article's."""
    if not 0 < scale <= 1:
        raise UsageError(f"scale {scale} is not in (0, 1]")
    (_, esp_type, esp_name, esp_at, esp_len), (_, c_type, c_name, _, _), (_, msr_type, msr_name, msr_at, msr_len) = SYSTEM_DISK_LAYOUT
    c_len = _core.parse_size(boot_volume_size)
    if scale != 1:  # unscaled, every place stays the article's (its MSR is not MiB-aligned)
        esp_len = int(esp_len * scale) // 512 * 512
        c_len = int(c_len * scale) // MiB * MiB
        msr_at = int(msr_at * scale) // MiB * MiB
    layout = [["efi", esp_type, esp_name, esp_at, esp_len], ["basic", c_type, c_name, esp_at + esp_len, c_len],
              ["msr", msr_type, msr_name, msr_at, msr_len]]
    if layout[1][3] + layout[1][4] > msr_at:
        raise UsageError("the boot volume runs into the system disk's MSR")
    return layout


def build_system_disk(disk: Disk, bootable: bool = True, boot_volume_size: SizeLike = 4996 * MiB,
                      scale: float = 1.0) -> None:
    """Partition `disk` as the article's disk 0 (:func:`system_disk_layout`), fill its EFI system
    partition and install the Windows tree on its boot partition.

    The ESP is formatted FAT as Windows formats a 204 MB partition (FAT16, 4 KB clusters); the
    boot partition NTFS, by :func:`bootmirror.windows_setup.install_windows_volume`.
    """
    if disk.sector_size != 512:
        raise UsageError("the article's byte offsets (32,256 = sector 63) need 512-byte sectors")
    layout = system_disk_layout(scale, boot_volume_size)
    needed = layout[2][3] + layout[2][4] + 34 * 512
    if disk.size < needed:
        raise UsageError(f"the system disk needs at least {needed:,} bytes")
    table = gpt.Table.create(disk.sector_count, disk.sector_size)
    for slot, (_, type_guid, name, first, length) in enumerate(layout):
        entry = gpt.RawPartition()
        entry.type_guid = type_guid
        entry.unique_guid = new_guid()
        entry.name = name
        entry.first_lba = first // 512
        entry.last_lba = (first + length) // 512 - 1
        table.set_entry(slot, entry)
    gpt.write(disk, table)

    _, _, _, esp_offset, esp_length = layout[0]
    esp = disk.slice(esp_offset, esp_length)
    fat.format(esp, "FAT")
    with fat.open(esp) as volume:
        for path, attributes in ESP_FILES:
            volume.makedirs(path.rsplit("/", 1)[0])
            volume.write_bytes(path, esp_file_contents(path, bootable))
            volume.set_attributes(path, attributes)
    _, _, _, boot_offset, boot_length = layout[BOOT_PARTITION - 1]
    windows_setup.install_windows_volume(disk.slice(boot_offset, boot_length), BOOT_VOLUME_LABEL)
    disk.flush()


def rehearsal_machine(folder: Union[str, "os.PathLike[str]"], disk_size: SizeLike = "10 GiB",
                      bootable: bool = True, shadow_size: "SizeLike | None" = None,
                      boot_volume_size: SizeLike = 4996 * MiB, windows_entry: str = WINDOWS_ENTRY,
                      cdrom: "str | None" = "D", scale: float = 1.0) -> Machine:
    """The article's machine in a new machine folder: disk 0 built by :func:`build_system_disk`,
    disk 1 a raw disk of the same size unless `shadow_size` (both sparse images: a few MiB
    written), the CD-ROM drive `cdrom` (D:, as the article's list volume shows it), and the
    firmware's NVRAM (Debian's OVMF variable store) with the firmware's entries and Windows'
    (`windows_entry`, first in BootOrder). `scale` shrinks the disks and the system disk's layout
    (:func:`system_disk_layout`) for quick runs. Windows has been started from that entry: its
    ESP is the running system's, and its boot partition, drive C:, the boot volume. With
    `bootable` (the default) Windows' loader on the ESP is a marker loader, so the machine boots
    for real under QEMU (:meth:`Machine.boot_qemu`)."""
    system_disk_layout(scale, boot_volume_size)  # refuses a bad scale or C: before anything is made
    size = int(_core.parse_size(disk_size) * scale) // MiB * MiB

    def steps(machine: Machine) -> None:
        machine.create_disk(size)
        machine.create_disk(size if shadow_size is None else int(_core.parse_size(shadow_size) * scale) // MiB * MiB)
        build_system_disk(machine.disk(0), bootable, boot_volume_size, scale)
        machine.assign_letter(0, BOOT_PARTITION, "C")
        if cdrom:
            machine.add_cdrom(cdrom)
        machine.create_nvram()
        machine.add_windows_entry(windows_entry, esp=(0, 1), os=(0, BOOT_PARTITION), loader_path=LOADER_PATH)
        started = machine.boot()
        if not started.ok:
            raise UsageError("the rehearsal machine's Windows did not start: " + "; ".join(started.steps))

    # A refusal on the way (a disk too small for the layout) leaves nothing behind.
    return Machine.build(folder, steps)


#: "Prepare the Shadow Drive for Mirroring", steps 2 to 4, as the article types them.
PREPARE_SHADOW_PARTITIONS = """\
Select disk 1
Convert GPT
List partition
Select partition 1
Delete partition override
Select disk 0
List partition
select disk 1
create partition efi size=204
create partition msr size=32
list partition
"""


#: Steps 5 and 7: drive letters for the shadow and the primary EFI partitions.
ASSIGN_SHADOW_ESP = """\
Select disk 1
Select partition 1
Assign letter=S
"""
ASSIGN_PRIMARY_ESP = """\
Select disk 0
Select partition 1
Assign letter=P
"""
#: Step 6 and step 8, at the command prompt.
FORMAT_SHADOW_ESP = ("s:", "/fs:fat /q /y")
COPY_ESP = ("p:\\*.*", "s:", "/s /h")
#: Step 9: the letters go again.
REMOVE_ESP_LETTERS = """\
Select volume P
Remove
Select volume S
Remove
"""

#: "Convert the Primary and Shadow Drives to Dynamic", step 1: the shadow converts at once, the
#: system disk after a restart (``Machine.reboot``).
CONVERT_TO_DYNAMIC = """\
Select disk 1
Convert dynamic
Select disk 0
Convert dynamic
"""
#: "Establish a Mirror from the Boot Drive to the Shadow Drive", step 1.
MIRROR_BOOT_VOLUME = """\
Select volume C
add disk=1
"""

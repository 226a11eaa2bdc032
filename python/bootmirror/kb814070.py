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
import tempfile
from pathlib import Path
from typing import Union

from . import fat, gpt, ntfs
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

#: The small Windows tree on C: (the files a boot check looks for, and a few beside them). The
#: contents stand in for Windows' own, recognisable and different per file.
WINDOWS_FILES = (
    "WINDOWS/system32/ntoskrnl.exe",
    "WINDOWS/system32/hal.dll",
    "WINDOWS/system32/ntdll.dll",
    "WINDOWS/system32/drivers/disk.sys",
    "WINDOWS/system32/drivers/dmio.sys",
    "WINDOWS/system32/config/SYSTEM",
    "WINDOWS/system32/config/SOFTWARE",
    "WINDOWS/win.ini",
    "boot.ini",
)

#: The time every file of the Windows tree carries (2003-04-24, Windows Server 2003's release).
WINDOWS_FILE_TIME = 1_051_142_400

#: Windows' boot entry on the article's machine, as its first ``bootcfg`` lists it (ID 1).
WINDOWS_ENTRY = "Windows 2003 Server, Enterprise"
#: Where Windows Server 2003's EFI loader lives on the ESP.
LOADER_PATH = "\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi"

#: The smallest disk that holds the system disk's layout (its MSR ends just past 9 GB).
SYSTEM_DISK_MIN_SIZE = 9_153_031_680 + 32 * MiB + 34 * 512


#: The tag the rehearsal machine's loader prints (:func:`bootmirror.qemu.build_marker_loader`).
LOADER_TAG = "ia64ldr"


def esp_file_contents(path: str, bootable: bool = True) -> bytes:
    """Contents for one of the ESP's files: Windows' loader is, when `bootable`, a marker loader
    that boots under QEMU with OVMF and says which ESP it came from (built with Debian's
    grub-mkstandalone); every other file is a stand-in, recognisable and different per file."""
    if bootable and path == LOADER_PATH.replace("\\", "/").lstrip("/"):
        from . import qemu

        return qemu.build_marker_loader(LOADER_TAG)
    name = path.rsplit("/", 1)[-1]
    return (f"bootmirror stand-in for {path}\n".encode() * 64)[: 4096 + 512 * len(name)]


def windows_file_contents(path: str) -> bytes:
    """Stand-in contents for one of :data:`WINDOWS_FILES`: from a few hundred bytes (resident in
    its MFT record) to a few clusters, different per file."""
    line = f"bootmirror stand-in for C:\\{path.replace('/', chr(92))}\n".encode()
    return line * (len(path) ** 2 // 4)


def write_windows_tree(folder: Union[str, "os.PathLike[str]"]) -> None:
    """Write :data:`WINDOWS_FILES` under a host folder, each with :data:`WINDOWS_FILE_TIME`."""
    root = Path(folder)
    for path in WINDOWS_FILES:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(windows_file_contents(path))
    for target in sorted(root.rglob("*"), reverse=True):  # files before the folders holding them
        os.utime(target, (WINDOWS_FILE_TIME, WINDOWS_FILE_TIME))


def install_windows_volume(target: Disk) -> None:
    """Format `target` NTFS labelled :data:`BOOT_VOLUME_LABEL` and lay down the Windows tree
    (mkntfs and wimlib-imagex, run by the engine; see :mod:`bootmirror.ntfs`)."""
    ntfs.format(target, label=BOOT_VOLUME_LABEL)
    with tempfile.TemporaryDirectory(prefix="bootmirror-windows-") as folder:
        write_windows_tree(folder)
        ntfs.install_tree(target, folder)


def build_system_disk(disk: Disk, bootable: bool = True) -> None:
    """Partition `disk` as the article's disk 0, fill its EFI system partition and install the
    Windows tree on its boot partition.

    The ESP is formatted FAT as Windows formats a 204 MB partition (FAT16, 4 KB clusters); the
    boot partition NTFS, by :func:`install_windows_volume`.
    """
    if disk.sector_size != 512:
        raise UsageError("the article's byte offsets (32,256 = sector 63) need 512-byte sectors")
    if disk.size < SYSTEM_DISK_MIN_SIZE:
        raise UsageError(f"the system disk needs at least {SYSTEM_DISK_MIN_SIZE:,} bytes")
    table = gpt.Table.create(disk.sector_count, disk.sector_size)
    for slot, (_, type_guid, name, first, length) in enumerate(SYSTEM_DISK_LAYOUT):
        entry = gpt.RawPartition()
        entry.type_guid = type_guid
        entry.unique_guid = new_guid()
        entry.name = name
        entry.first_lba = first // 512
        entry.last_lba = (first + length) // 512 - 1
        table.set_entry(slot, entry)
    gpt.write(disk, table)

    _, _, _, esp_offset, esp_length = SYSTEM_DISK_LAYOUT[0]
    esp = disk.slice(esp_offset, esp_length)
    fat.format(esp, "FAT")
    with fat.open(esp) as volume:
        for path, attributes in ESP_FILES:
            volume.makedirs(path.rsplit("/", 1)[0])
            volume.write_bytes(path, esp_file_contents(path, bootable))
            volume.set_attributes(path, attributes)
    _, _, _, boot_offset, boot_length = SYSTEM_DISK_LAYOUT[BOOT_PARTITION - 1]
    install_windows_volume(disk.slice(boot_offset, boot_length))
    disk.flush()


def rehearsal_machine(folder: Union[str, "os.PathLike[str]"], disk_size: SizeLike = "10 GiB",
                      bootable: bool = True) -> Machine:
    """The article's machine in a new machine folder: disk 0 built by :func:`build_system_disk`,
    disk 1 a raw disk of the same size (both sparse images: a few MiB written), and the
    firmware's NVRAM (Debian's OVMF variable store) with the firmware's entries and Windows'
    (:data:`WINDOWS_ENTRY`, first in BootOrder). Windows has been started from that entry: its
    ESP is the running system's, and its boot partition, drive C:, the boot volume. With
    `bootable` (the default) Windows' loader on the ESP is a marker loader, so the machine boots
    for real under QEMU (:meth:`Machine.boot_qemu`)."""
    machine = Machine.create(folder)
    machine.create_disk(disk_size)
    machine.create_disk(disk_size)
    build_system_disk(machine.disk(0), bootable)
    machine.assign_letter(0, BOOT_PARTITION, "C")
    machine.create_nvram()
    machine.add_windows_entry(WINDOWS_ENTRY, esp=(0, 1), os=(0, BOOT_PARTITION), loader_path=LOADER_PATH)
    started = machine.boot()
    if not started.ok:
        raise UsageError("the rehearsal machine's Windows did not start: " + "; ".join(started.steps))
    return machine


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

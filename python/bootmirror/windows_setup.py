r"""Windows Server 2003's setup on a blank disk, as KB 814070's recovery section has it run on the
replacement disk 0 ("press ENTER to install and allow Setup to automatically create the new
system partition ... create a new partition large enough to install Windows"), so that the
recovery can be replayed without Windows:

    m.replace_disk(0, "new-disk0.img")
    m.install_windows(disk=0, size="2996 MB")

What setup does, in order: a GPT with its EFI system partition and Microsoft Reserved partition,
then the partition for Windows (NTFS, mkntfs), the Windows tree on it (wimlib-imagex), its loader
files on the ESP (FAT), a boot entry first in BootOrder and the Timeout it writes, and the restart
into the new Windows. The new Windows has no disk group of its own: the dynamic disks of the
Windows that was there before are Foreign to it until that one is started again.

The layout is the one the article's ``list partition`` shows after setup on its replacement disk
(System 102 MB at 32 KB, Reserved 31 MB at 102 MB, then Windows' partition). Inferred from it, not
from a specification: the ESP is 1% of the disk (at least 100 MiB and at most 1000 MiB) from
sector 63 (where the article's first ESP starts too), the MSR 31 MiB right after it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from . import _core, fat, gpt, ntfs
from .disk import Disk, SizeLike
from .identity import new_guid

if TYPE_CHECKING:
    from .machine import Machine

MiB = 1 << 20

#: The boot entry setup writes (the article's bootcfg after setup: ID 1).
SETUP_ENTRY = "Microsoft Windows Server 2003, Enterprise Edition"
#: The Timeout setup writes (the article's bootcfg after setup).
SETUP_TIMEOUT = 5
#: Where Windows Server 2003's EFI loader lives on the ESP.
LOADER_PATH = "\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi"
#: The tag the loader prints when it is a marker loader (:func:`bootmirror.qemu.build_marker_loader`).
LOADER_TAG = "ia64ldr"
#: Setup's MSR on the article's replacement disk (shown as 31 MB).
MSR_BYTES = 31 * MiB

#: The small Windows tree setup lays down (the files a boot check looks for, and a few beside
#: them); the contents stand in for Windows' own, recognisable and different per file.
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


def install_windows_volume(target: Disk, label: str = "") -> None:
    """Format `target` NTFS and lay down the Windows tree (mkntfs and wimlib-imagex, run by the
    engine; see :mod:`bootmirror.ntfs`)."""
    ntfs.format(target, label=label)
    with tempfile.TemporaryDirectory(prefix="bootmirror-windows-") as folder:
        write_windows_tree(folder)
        ntfs.install_tree(target, folder)


def loader_contents(bootable: bool = True) -> bytes:
    """Windows' loader file: a marker loader that boots under QEMU with OVMF and says which ESP it
    came from (Debian's grub-mkstandalone builds it) when `bootable`, else a stand-in."""
    if bootable:
        from . import qemu

        return qemu.build_marker_loader(LOADER_TAG)
    return b"bootmirror stand-in for Windows' EFI loader\n" * 128


def esp_size_for(disk_bytes: int) -> int:
    """The ESP setup makes on a disk of `disk_bytes` (see the module's docstring)."""
    return min(max(disk_bytes // 100, 100 * MiB), 1000 * MiB)


def install_windows(machine: "Machine", disk: int, size: Optional[SizeLike] = None, label: str = "",
                    description: str = SETUP_ENTRY, bootable: bool = True) -> "_core.BootResult":
    """Setup on blank disk `disk` of `machine` (see the module's docstring): Windows' partition of
    `size` (the rest of the disk when None), labelled `label`. Returns the restart's boot result.
    UsageError when the disk holds partitions (setup would ask first) or is too small."""
    d = machine.disk(disk)
    if gpt.partitions(d) or any(d.read(0, 512)):
        raise _core.UsageError(f"disk {disk} is not blank: setup installs Windows on a new disk")
    if not machine.has_nvram:  # checked before the disk is written: its boot entry goes there last
        raise _core.UsageError("This machine has no NVRAM (Machine.create_nvram makes it): setup adds its boot entry there.")
    sector = d.sector_size
    first = max(32_256 // sector, 1) if sector == 512 else 8  # sector 63, as the article's ESPs start
    table = gpt.Table.create(d.sector_count, sector)
    first = max(first, table.first_usable_lba)
    esp_sectors = esp_size_for(d.size) // sector
    msr_sectors = MSR_BYTES // sector
    windows_first = first + esp_sectors + msr_sectors
    windows_sectors = (table.last_usable_lba + 1 - windows_first) if size is None else _core.parse_size(size) // sector
    if windows_sectors <= 0 or windows_first + windows_sectors - 1 > table.last_usable_lba:
        raise _core.UsageError(f"disk {disk} is too small for setup's partitions and a Windows partition of that size")
    layout = ((gpt.EFI_SYSTEM, "EFI system partition", first, esp_sectors),
              (gpt.MICROSOFT_RESERVED, "Microsoft reserved partition", first + esp_sectors, msr_sectors),
              (gpt.BASIC_DATA, "Basic data partition", windows_first, windows_sectors))
    for slot, (type_guid, name, start, count) in enumerate(layout):
        entry = gpt.RawPartition()
        entry.type_guid = type_guid
        entry.unique_guid = new_guid()
        entry.name = name
        entry.first_lba = start
        entry.last_lba = start + count - 1
        table.set_entry(slot, entry)
    # Windows' volume first: what the engine refuses there (a label too long, a partition too
    # small for NTFS) is refused before the table and the ESP are written, and the disk stays
    # blank for another try. Its bytes lie where the table will put the partition.
    install_windows_volume(d.slice(windows_first * sector, windows_sectors * sector), label)
    gpt.write(d, table)
    esp = d.slice(first * sector, esp_sectors * sector)
    fat.format(esp, "FAT")
    with fat.open(esp) as volume:
        folder = LOADER_PATH.replace("\\", "/").strip("/").rsplit("/", 1)[0]
        volume.makedirs(folder)
        volume.write_bytes(LOADER_PATH.replace("\\", "/").strip("/"), loader_contents(bootable))
        volume.makedirs("EFI/Microsoft/EFIDrivers")
        volume.write_bytes("EFI/Microsoft/EFIDrivers/fpswa.efi", b"bootmirror stand-in for fpswa.efi\n" * 64)
    d.flush()
    windows = gpt.partitions(d)[2]
    machine.add_windows_entry(description, esp=(disk, 1), os=(disk, 3), loader_path=LOADER_PATH, first=True)
    machine.nvram.timeout = SETUP_TIMEOUT
    _core.firmware_record_installation(machine._m, windows.unique_guid)
    return machine.boot(description)

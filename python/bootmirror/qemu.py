r"""Real boots of disk images under QEMU and OVMF: which Boot#### entries firmware tried, and from
which ESP it loaded the program that ran.

    efi = bootmirror.qemu.build_marker_loader("disk0")       # an x86_64 EFI program (GRUB)
    esp.write_bytes(r"EFI\Microsoft\WINNT50\ia64ldr.efi", efi)
    shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", "vars.fd")   # then Boot#### entries into it
    result = bootmirror.qemu.boot_in_qemu([disk0, disk1], vars="vars.fd")
    result.markers      # [<QemuMarker disk0 part=<ESP's GUID> fs=1A2B-3C4D path=(hd0,gpt1)/EFI/...>]
    result.attempts     # [<QemuBootAttempt Boot0000 "..." started from HD(1,GPT,...)/\EFI\...>]

The marker loader probes the partition it was loaded from when it runs, so the same file copied to
another ESP names that ESP. The images are never written (QEMU attaches them with snapshot=on);
the variable store is, by OVMF, which is how its changes (BootOrder, the entries it adds) are read
back. QEMU runs with TCG (KVM does not work on the machines this was built on): a boot takes 4-5 s.
Everything here is the engine's (bootmirror._core's qemu_* functions); Debian's qemu-system-x86,
ovmf and grub-efi-amd64-bin must be installed, and a missing one is a UsageError naming it.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple, Union

from . import _core
from .disk import Disk

__all__ = [
    "QemuBootAttempt",
    "QemuBootResult",
    "QemuMarker",
    "boot_in_qemu",
    "build_marker_loader",
    "clean_console",
    "find_boot_attempts",
    "find_markers",
    "firmware_code_for",
]

QemuBootResult = _core.QemuBootResult
QemuMarker = _core.QemuMarker
QemuBootAttempt = _core.QemuBootAttempt

PathLike = Union[str, "os.PathLike[str]"]
#: A disk to attach: an image file's path (512-byte sectors), (path, sector size), or a Disk
#: backed by an image file (its path and sector size).
DiskSpec = Union[PathLike, Tuple[PathLike, int], Disk]


def build_marker_loader(tag: str) -> bytes:
    """The bytes of an x86_64 EFI program that prints, on the serial console, ``BOOTMIRROR-LOADED
    <tag>`` and the partition GUID, FAT serial and folder it was loaded from, then powers the
    machine off. `tag`: 1 to 40 of A-Z a-z 0-9 . _ -. Built once per tag in a process."""
    return _core.qemu_build_marker_loader(tag)


def _disk_arg(disk: DiskSpec) -> Tuple[PathLike, int]:
    if isinstance(disk, Disk):
        if disk.path is None:
            raise _core.UsageError(f"{disk.name} is not an image file; QEMU boots image files")
        return disk.path, disk.sector_size
    if isinstance(disk, tuple):
        return disk[0], disk[1]
    return disk, 512


def boot_in_qemu(
    disks: Sequence[DiskSpec],
    vars: PathLike,  # noqa: A002 - the variable store, as OVMF's file names call it
    timeout: float = 30.0,
    firmware_code: Optional[PathLike] = None,
) -> QemuBootResult:
    """Boot `disks` (virtio disks, in this order) under qemu-system-x86_64 with OVMF and the
    variable store file `vars`, until the guest powers off or `timeout` seconds pass (then QEMU
    is stopped and ``timed_out`` is True). OVMF writes `vars`; the images are never written.
    The OVMF code is the one matching the store's size unless `firmware_code` names one."""
    return _core.qemu_boot([_disk_arg(d) for d in disks], vars, timeout, firmware_code)


def firmware_code_for(vars: PathLike) -> str:  # noqa: A002
    """The OVMF code file that pairs with the variable store `vars`, chosen by its size."""
    return _core.qemu_firmware_code_for(vars)


def clean_console(raw: bytes) -> str:
    """Console bytes as text: escape sequences and CRs removed, non-UTF-8 bytes as U+FFFD."""
    return _core.qemu_clean_console(raw)


def find_markers(console: str) -> List[QemuMarker]:
    """The marker loaders' reports in a cleaned console, in order."""
    return _core.qemu_find_markers(console)


def find_boot_attempts(console: str) -> List[QemuBootAttempt]:
    """OVMF's BdsDxe lines in a cleaned console, one attempt per Boot#### tried, in order."""
    return _core.qemu_find_boot_attempts(console)

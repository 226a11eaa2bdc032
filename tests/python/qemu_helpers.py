r"""Disks and variable stores for the boots of tests/python/interop/test_qemu_boot.py.

Disks are made with bootmirror's own API (a GPT disk whose one partition is a FAT ESP). Boot
entries are written by virt-firmware, an outside writer that OVMF's own developers keep (until
bootmirror's NVRAM module writes them), run as a program as every GPL tool is: Boot#### with an
HD() node naming the ESP by partition number and unique GUID, then the loader's file path, as
Windows' bootcfg writes them; virt-fw-vars reads the store back."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from bootmirror import Disk, fat

#: Where Windows Server 2003's ia64ldr.efi lives on the ESP (what KB 814070 copies with xcopy).
LOADER_FOLDER = r"EFI\Microsoft\WINNT50"
LOADER_PATH = "\\" + LOADER_FOLDER + r"\ia64ldr.efi"

BOOT_ENTRY_WRITER = Path(__file__).resolve().parent / "interop" / "ovmf_boot_entries.py"

#: Debian's pristine variable stores (package ovmf): the 4M build and the older 2M one.
OVMF_VARS_4M = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
OVMF_VARS_2M = Path("/usr/share/OVMF/OVMF_VARS.fd")


@dataclass(frozen=True)
class EspDisk:
    """A disk image holding one ESP: its path, sector size, and the ESP's partition and serial."""

    path: Path
    sector_size: int
    number: int
    first_lba: int
    last_lba: int
    partition_guid: str
    fat_serial: int

    @property
    def spec(self) -> Tuple[Path, int]:
        return self.path, self.sector_size


def make_esp_disk(path: Path, sector_size: int = 512) -> EspDisk:
    """A 128 MiB GPT disk (the smallest convert_gpt makes) with a 40 MiB ESP, formatted FAT32 on
    512-byte sectors and FAT16 on 4096-byte ones (40 MiB of 4 KiB clusters is too few for FAT32)."""
    with Disk.create(path, "128 MiB", sector_size) as disk:
        disk.convert_gpt()
        disk.delete_partition(1, override=True)
        esp = disk.create_partition("efi", "40 MiB")
        volume = disk.slice(esp.offset, esp.size)
        made = fat.format(volume, "FAT32" if sector_size == 512 else "FAT", label="ESP")
        return EspDisk(Path(path), sector_size, esp.number, esp.first_lba, esp.last_lba, esp.unique_guid, made.serial)


def esp_volume(disk: Disk, esp: EspDisk) -> fat.Volume:
    return fat.open(disk.slice(esp.first_lba * esp.sector_size, (esp.last_lba - esp.first_lba + 1) * esp.sector_size))


def copy_store(template: Path, to: Path) -> Path:
    """A fresh copy of a pristine store (OVMF writes the copy each boot)."""
    if not template.is_file():
        pytest.fail(f"{template} is missing: install Debian's ovmf package (make test installs it)", pytrace=False)
    shutil.copyfile(template, to)
    return to


def write_boot_entries(store: Path, entries: Sequence[Tuple[str, EspDisk]], order: Optional[Sequence[int]] = None) -> List[int]:
    """Adds a Boot#### for each (title, disk): HD(number, GPT, GUID, start, size)/LOADER_PATH, and
    BootOrder `order` (default: the new entries in the order given), with virt-firmware run as a
    program (interop/ovmf_boot_entries.py). Returns the new entries' numbers."""
    spec = {
        "entries": [{"title": title, "number": esp.number, "start": esp.first_lba,
                     "size": esp.last_lba - esp.first_lba + 1, "guid": esp.partition_guid, "path": LOADER_PATH}
                    for title, esp in entries],
        "order": None if order is None else list(order),
    }
    out = subprocess.run([sys.executable, str(BOOT_ENTRY_WRITER), str(store), json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def virt_fw_vars_print(store: Path) -> str:
    """virt-fw-vars --print of a store (run as a program: the outside reader's own parse)."""
    out = subprocess.run([sys.executable, "-m", "virt.firmware.vars", "-i", str(store), "--print"],
                         capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

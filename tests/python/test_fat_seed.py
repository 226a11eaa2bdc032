"""The seed's steps 6 and 8 at the engine level: `format s: /fs:fat /q /y` on a 204 MB EFI
partition prints the seed's block, and `xcopy p:\\*.* s: /s /h` lists the seed's seven files."""

from __future__ import annotations

import re

import bootmirror
from bootmirror import fat
from conftest import runbook_text

MiB = 1024 * 1024


def _seed_block(start: str, end: str) -> str:
    text = runbook_text()
    block = text[text.index(start):]
    block = block[: block.index(end) + len(end)]
    lines = block.splitlines()
    # The seed indents its screen text by six spaces.
    return "\n".join(line[6:] if line.startswith("      ") else line.strip() for line in lines) + "\n"


def test_format_prints_the_seed_block():
    disk = bootmirror.Disk.memory("300 MiB")
    efi = disk.slice(17 * 1024, 204 * MiB)  # partition 1 of the shadow disk, at 17 KB
    text = fat.run_format(efi, "/fs:fat /q /y")
    expected = _seed_block("The type of the file system is RAW.", "Volume Serial Number is EA34-03C7")
    serial = fat.open(efi).serial_text
    assert text == expected.replace("EA34-03C7", serial)
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", serial)
    # Formatting again reports the old file system.
    assert fat.run_format(efi, "/fs:fat32 /q /y").startswith("The type of the file system is FAT.\n")


def _primary() -> fat.Volume:
    disk = bootmirror.Disk.memory("300 MiB")
    p = disk.slice(32 * 1024, 204 * MiB)
    fat.format(p, "FAT")
    v = fat.open(p)
    v.makedirs("EFI/Microsoft/WINNT50")
    v.makedirs("EFI/Microsoft/EFIDrivers")
    v.makedirs("MSUtil")
    v.write_bytes("EFI/Microsoft/WINNT50/Boot0003", b"\x01" * 512)
    v.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"ldr" * 10000)
    v.write_bytes("EFI/Microsoft/EFIDrivers/fpswa.efi", b"fpswa" * 1000)
    for name in ["diskpart.efi", "fdisk.efi", "format.efi", "nvrboot.efi"]:
        v.write_bytes(f"MSUtil/{name}", name.encode() * 100)
    v.set_attributes("EFI/Microsoft/WINNT50/Boot0003", fat.HIDDEN | fat.SYSTEM | fat.ARCHIVE)
    return v


def test_xcopy_prints_the_seed_listing():
    p = _primary()
    s_disk = bootmirror.Disk.memory("300 MiB")
    s_part = s_disk.slice(17 * 1024, 204 * MiB)
    fat.run_format(s_part, "/fs:fat /q /y")
    s = fat.open(s_part)
    text = fat.run_xcopy(p, "p:\\*.*", s, "s:", "/s /h")
    assert text == _seed_block("p:\\EFI\\Microsoft\\WINNT50\\Boot0003", "7 File(s) copied")
    for path, _, files in p.walk():
        for name in files:
            f = f"{path}/{name}"
            assert s.read_bytes(f) == p.read_bytes(f)
    assert s.stat("EFI/Microsoft/WINNT50/Boot0003").attributes & fat.HIDDEN
    assert s.check().clean


def test_xcopy_without_h_skips_hidden_and_system_files():
    p = _primary()
    d = bootmirror.Disk.memory("64 MiB")
    fat.format(d)
    text = fat.run_xcopy(p, "p:\\*.*", fat.open(d), "s:", "/s")
    assert "Boot0003" not in text and text.endswith("6 File(s) copied\n")
    d2 = bootmirror.Disk.memory("64 MiB")
    fat.format(d2)
    text = fat.run_xcopy(p, "P:\\MSUtil\\f*.efi", fat.open(d2), "s:\\tools", "")
    assert text == "P:\\MSUtil\\fdisk.efi\nP:\\MSUtil\\format.efi\n2 File(s) copied\n"

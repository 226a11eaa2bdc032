"""What the NTFS tests share: a device's bytes as a file for the outside tools, and those tools'
verdict (`ntfsfix -n`, `ntfs-3g.probe --readonly`)."""

from __future__ import annotations

from pathlib import Path

from bootmirror import Disk
from conftest import run_tool

MiB = 1 << 20


def image_of(disk: Disk, offset: int, length: int, path: Path) -> Path:
    """Bytes [offset, offset+length) of `disk` as a sparse file, for tools that read files."""
    with open(path, "wb") as out:
        out.truncate(length)
        for start, n in disk.allocated_extents():
            lo, hi = max(start, offset), min(start + n, offset + length)
            for at in range(lo, hi, 8 * MiB):
                out.seek(at - offset)
                out.write(disk.read(at, min(8 * MiB, hi - at)))
    return path


def device_image(device: Disk, path: Path) -> Path:
    return image_of(device, 0, device.size, path)


def assert_ntfs_tools_accept(image: Path) -> None:
    fix = run_tool(["ntfsfix", "-n", str(image)], check=False)
    assert fix.returncode == 0 and "processed successfully" in fix.stdout, fix.stdout + fix.stderr
    probe = run_tool(["ntfs-3g.probe", "--readonly", str(image)], check=False)
    assert probe.returncode == 0, probe.stdout + probe.stderr


def attribute_types(record: bytes) -> list:
    """The types of a FILE record's attributes, in order (its update sequence already undone)."""
    at, types = int.from_bytes(record[0x14:0x16], "little"), []
    while (kind := int.from_bytes(record[at:at + 4], "little")) != 0xFFFFFFFF:
        types.append(kind)
        at += int.from_bytes(record[at + 4:at + 8], "little")
    return types


def run_count(record: bytes, kind: int = 0x80) -> int:
    """How many runs the mapping pairs of a FILE record's non-resident `kind` attribute hold."""
    at = int.from_bytes(record[0x14:0x16], "little")
    while int.from_bytes(record[at:at + 4], "little") != kind or not record[at + 8]:
        at += int.from_bytes(record[at + 4:at + 8], "little")
    pair, runs = at + int.from_bytes(record[at + 32:at + 34], "little"), 0
    while header := record[pair]:
        pair += 1 + (header & 0xF) + (header >> 4)
        runs += 1
    return runs

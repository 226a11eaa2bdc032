#!/usr/bin/env python3
"""The sparse-image input format of the whole-disk fuzz targets (support/sparse_image.h), in Python.

make_corpus.py writes seeds with it; run as a script it unpacks an input (a seed, a crash) into
raw disk images, for a look with the outside tools (sgdisk -v, fsck.fat -n, ldmtool scan):

    tests/fuzz/sparse.py tests/fuzz/regressions/fat_dir/crash-... /tmp/crash
    # writes /tmp/crash-0.img (and -1, -2 for more disks)
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

MAX_DISK_BYTES = 256 << 20  # kMaxSparseDiskBytes

Runs = Sequence[Tuple[int, bytes]]  # (first sector, whole sectors of data)


def encode(sector_size: int, disks: Sequence[Tuple[int, Runs]]) -> bytes:
    """An input describing `disks`: (size in sectors, runs) each, one to three of them."""
    assert 1 <= len(disks) <= 3 and sector_size in (512, 4096)
    out = bytearray([(1 if sector_size == 4096 else 0) | (len(disks) - 1) << 1])
    for sectors, _ in disks:
        assert sectors * sector_size <= MAX_DISK_BYTES, "a sparse image describes disks of 256 MiB at most"
        out += struct.pack("<I", sectors)
    for index, (_, runs) in enumerate(disks):
        for first, data in runs:
            for at in range(0, len(data), 0xFFFF * sector_size):  # a run holds 65535 sectors at most
                chunk = data[at:at + 0xFFFF * sector_size]
                out += struct.pack("<BIH", index, first + at // sector_size, len(chunk) // sector_size) + chunk
    return bytes(out)


def decode(data: bytes) -> Tuple[int, List[bytearray]]:
    """(sector size, disk images) as the targets see them (support/sparse_image.cpp)."""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        out = data[pos:pos + n]
        pos += len(out)
        return out

    def number(fmt: str) -> int:
        raw = take(struct.calcsize(fmt))
        return struct.unpack(fmt, raw.ljust(struct.calcsize(fmt), b"\0"))[0]

    flags = number("<B")
    ss = 4096 if flags & 1 else 512
    count = ((flags >> 1) & 3) + 1
    count = min(count, 3)
    disks = [bytearray(min(max(number("<I"), 16), MAX_DISK_BYTES // ss) * ss) for _ in range(count)]
    while pos < len(data):
        disk = disks[number("<B") % count]
        first, sectors = number("<I"), number("<H")
        chunk = take(sectors * ss)
        if first * ss >= len(disk):
            continue
        chunk = chunk[:len(disk) - first * ss]
        disk[first * ss:first * ss + len(chunk)] = chunk
    return ss, disks


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ss, disks = decode(Path(sys.argv[1]).read_bytes())
    for i, disk in enumerate(disks):
        path = Path(f"{sys.argv[2]}-{i}.img")
        path.write_bytes(disk)
        print(f"{path}: {len(disk)} bytes, {ss}-byte sectors")


if __name__ == "__main__":
    main()

"""Random damage to a volume's metadata (boot sector, FATs, folders): opening, walking, reading,
checking and repairing must end in a result or a bootmirror error, never a crash or a hang."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bootmirror
from bootmirror import fat


def _base(fs: str, size: int) -> bytes:
    disk = bootmirror.Disk.memory(size)
    fat.format(disk, fs, serial=1)
    v = fat.open(disk)
    v.makedirs("EFI/Boot/deeper")
    for i in range(12):
        v.write_bytes(f"EFI/Boot/file with a long name {i}.bin", bytes([i]) * (i * 700))
    v.write_bytes("root.txt", b"r" * 3000)
    v.flush()
    meta_end = v.geometry.data_offset + 16 * v.geometry.cluster_size
    return disk.read(0, size), meta_end


BASES = {fs: _base(fs, size) for fs, size in [("FAT12", 1 << 20), ("FAT16", 17 << 20), ("FAT32", 34 << 20)]}


def _exercise(disk) -> None:
    try:
        v = fat.open(disk)
        for path, dirs, files in v.walk():
            for name in files:
                p = f"{path}/{name}" if path else name
                try:
                    v.read_bytes(p)
                except (bootmirror.Error, OSError):
                    pass
        v.check()
        v.check(repair=True)
        v.write_bytes("after repair.txt", b"x" * 5000)
        v.check()
    except (bootmirror.Error, OSError):
        pass


@settings(max_examples=150, deadline=None)
@given(fs=st.sampled_from(sorted(BASES)), damage=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=12))
def test_random_metadata_damage_never_crashes(fs, damage):
    image, meta_end = BASES[fs]
    disk = bootmirror.Disk.memory(len(image))
    disk.write(0, image)
    for where, value in damage:
        disk.write(int(where * meta_end), bytes([value]))
    _exercise(disk)

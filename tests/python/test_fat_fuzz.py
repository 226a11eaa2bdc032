"""Random damage to a volume's metadata (boot sector, FATs, folders): opening, walking, reading,
checking and repairing must end in a result or a bootmirror error (or OSError), never a crash, a
hang or another Python exception; and everything before the repair leaves the image unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bootmirror
from bootmirror import fat
from fat_helpers import fuzz_bases


BASES = fuzz_bases()


def _read_everything(v, out) -> None:
    v.label, v.free_bytes, repr(v), v._repr_html_()
    for path, dirs, files in v.walk():
        for e in v.scandir(path):
            e.name, e.short_name, e.raw_short_name, e.raw_long_name, e.modified, repr(e)
        for name in files:
            p = f"{path}/{name}" if path else name
            try:
                v.stat(p)
                v.read_bytes(p)
            except (bootmirror.Error, OSError):
                pass
    report = v.check()
    [(p.kind, p.path, p.message, repr(p)) for p in report.problems]
    try:
        v.export_tree("", out)
    except (bootmirror.Error, OSError):
        pass


def _exercise(disk, out) -> None:
    before = disk.read(0, disk.size)
    try:
        _read_everything(fat.open(disk), out)
    except (bootmirror.Error, OSError):
        pass
    assert disk.read(0, disk.size) == before, "opening, reading or checking wrote to the image"
    try:
        v = fat.open(disk)
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
    with tempfile.TemporaryDirectory() as out:
        _exercise(disk, Path(out) / "export")

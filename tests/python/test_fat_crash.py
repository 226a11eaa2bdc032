"""Power cuts at every write: the volume left behind opens, reads, and shows at worst lost
clusters or FAT copies that differ (what fsck.fat calls harmless); every file holds one of the
versions written to it, never a mix or someone else's clusters."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import fat

A1, A2 = b"a1" * 3000, b"A2" * 9000
B1 = b"b" * 5000
C1 = b"c" * 100
ALLOWED = {
    "EFI/Boot/a.bin": {A1, A2},
    "b.txt": {B1, B1[:10]},
    "c with a long name.txt": {C1},
}
HARMLESS = {"lost-clusters", "fat-copies-differ", "free-count"}


def _scenario(v: fat.Volume) -> None:
    v.makedirs("EFI/Boot")
    v.write_bytes("EFI/Boot/a.bin", A1)
    v.write_bytes("b.txt", B1)
    v.write_bytes("EFI/Boot/a.bin", A2)
    with v.open("b.txt", "r+b") as f:
        f.truncate(10)
    v.remove("b.txt")
    v.write_bytes("c with a long name.txt", C1)


@pytest.mark.parametrize("fs,size", [("FAT16", 16 << 20), ("FAT32", 40 << 20)])
def test_power_cut_at_every_write(fs, size):
    base = bootmirror.Disk.memory(size)
    fat.format(base, fs, serial=1)
    image = base.read(0, size)
    probe = bootmirror.FaultyDisk(bootmirror.Disk.memory(size))
    probe.write(0, image)
    seen = probe.writes_seen
    _scenario(fat.open(probe))
    total = probe.writes_seen - seen
    assert total > 10
    for cut in range(total + 1):
        disk = bootmirror.Disk.memory(size)
        disk.write(0, image)
        faulty = bootmirror.FaultyDisk(disk)
        faulty.cut_power_after(cut)
        try:
            _scenario(fat.open(faulty))
        except bootmirror.Error:
            pass  # reading back what never reached the disk may fail; the disk is what matters
        v = fat.open(disk)
        report = v.check()
        bad = [p for p in report.problems if p.kind not in HARMLESS]
        # A file shortened in place may keep its old clusters for a moment: leaked, not lost.
        bad = [p for p in bad if not (p.kind == "size-mismatch" and "b.txt" in p.path)]
        assert not bad, (cut, bad)
        for path, dirs, files in v.walk():
            for name in files:
                p = f"{path}/{name}" if path else name
                assert v.read_bytes(p) in ALLOWED[p] | {b""}, (cut, p)
        if report.problems:
            v.check(repair=True)
            assert v.check().clean, cut

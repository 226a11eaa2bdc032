"""Volumes we format and fill pass dosfstools' fsck.fat -n, and check(repair=True) leaves damaged
ones in a state fsck.fat accepts."""

from __future__ import annotations

import struct

import pytest

import bootmirror
from bootmirror import fat
from fat_helpers import assert_fsck_clean, fsck

MiB = 1024 * 1024

CASES = [
    ("FAT12", 4 * MiB, 512), ("FAT", 8 * MiB, 512), ("FAT", 33 * MiB, 512), ("FAT", 204 * MiB, 512),
    ("FAT", 300 * MiB, 512), ("FAT32", 64 * MiB, 512), ("FAT32", 600 * MiB, 512),
    ("FAT", 64 * MiB, 4096), ("FAT", 204 * MiB, 4096), ("FAT32", 300 * MiB, 4096),
]


def _fill(v: fat.Volume) -> None:
    v.makedirs("EFI/Microsoft/Boot")
    v.makedirs("deep/a/b/c/d/e/f/g")
    v.write_bytes("EFI/Microsoft/Boot/bootmgfw.efi", b"MZ" * 20000)
    v.write_bytes("README.TXT", b"short only")
    v.write_bytes("lower.txt", b"case flags")
    v.write_bytes("A rather long file name, with spaces & symbols.data", bytes(range(256)) * 40)
    v.write_bytes("ünïcödé ☃ snow.txt", "snow".encode())
    v.write_bytes("deep/a/b/c/d/e/f/g/leaf.bin", b"\0" * 3)
    for i in range(40):  # enough entries to grow a folder past its first cluster
        v.write_bytes(f"EFI/many files number {i:03}.txt", str(i).encode() * 100)
    v.set_attributes("README.TXT", fat.HIDDEN | fat.SYSTEM)


def _mutate(v: fat.Volume) -> None:
    v.write_bytes("EFI/many files number 001.txt", b"rewritten " * 5000)  # replaced, longer
    with v.open("A rather long file name, with spaces & symbols.data", "r+b") as f:
        f.seek(5000)
        f.write(b"x" * 100000)  # grows the file
    for i in range(0, 40, 2):
        v.remove(f"EFI/many files number {i:03}.txt")
    v.write_bytes("EFI/a replacement with a long name.bin", b"r" * 70000)  # reuses freed slots/clusters
    v.rename("lower.txt", "EFI/Microsoft/Moved And Renamed.txt")
    with v.open("EFI/Microsoft/Boot/bootmgfw.efi", "r+b") as f:
        f.truncate(100)
    v.remove("deep/a/b/c/d/e/f/g/leaf.bin")
    v.rmdir("deep/a/b/c/d/e/f/g")


@pytest.mark.parametrize("fs,size,sector", CASES, ids=[f"{f}-{s // MiB}M-{b}" for f, s, b in CASES])
def test_fsck_clean_after_format_fill_and_change(tmp_path, fs, size, sector):
    image = tmp_path / "vol.img"
    with bootmirror.Disk.create(image, size, sector_size=sector) as disk:
        result = fat.format(disk, fs, label="BOOTMIRROR")
    assert_fsck_clean(image)
    with bootmirror.Disk.open(image, writable=True, sector_size=sector) as disk:
        v = fat.open(disk)
        if fs in ("FAT12", "FAT16", "FAT32"):
            assert v.fat_type == fs
        assert v.geometry.bytes_per_sector == sector
        _fill(v)
        assert v.check().clean
    out = assert_fsck_clean(image)
    assert f"{result.geometry.cluster_count} data clusters" in out
    with bootmirror.Disk.open(image, writable=True, sector_size=sector) as disk:
        v = fat.open(disk)
        _mutate(v)
        assert v.check().clean
    assert_fsck_clean(image)


def test_fsck_clean_on_a_partition_slice(tmp_path):
    image = tmp_path / "disk.img"
    with bootmirror.Disk.create(image, 240 * MiB) as disk:
        part = disk.slice(17 * 1024, 204 * MiB)
        fat.format(part, "FAT")
        _fill(fat.open(part))
    assert_fsck_clean(image, offset=17 * 1024, tmp_path=tmp_path)


# -- damage that check() finds and repair fixes, as fsck.fat agrees ------------------------------------
def _damaged(tmp_path, damage, fsck_sees=True):
    image = tmp_path / "vol.img"
    with bootmirror.Disk.create(image, 32 * MiB) as disk:
        fat.format(disk)
        v = fat.open(disk)
        v.makedirs("dir")
        v.write_bytes("one.bin", b"1" * 10000)
        v.write_bytes("two.bin", b"2" * 10000)
        v.write_bytes("dir/A long name here.txt", b"3" * 100)
        v.flush()
        damage(disk, v)
    if fsck_sees:
        assert fsck(image).returncode != 0  # fsck.fat sees the damage too
    return image


def _fat_offsets(v, cluster):
    g = v.geometry
    return [(g.reserved_sectors + k * g.sectors_per_fat) * g.bytes_per_sector + 2 * cluster for k in range(g.fat_count)]


def _root_entry_offset(v, disk, short_name):
    g = v.geometry
    root = g.data_offset - 32 * g.root_entries
    block = disk.read(root, 32 * g.root_entries)
    return root + block.index(short_name.encode())


def _lost(disk, v):
    for off in _fat_offsets(v, 4000):
        disk.write(off, struct.pack("<H", 0xFFFF))


def _cross_link(disk, v):
    first = v.stat("one.bin").first_cluster
    at = _root_entry_offset(v, disk, "TWO     BIN")
    disk.write(at + 26, struct.pack("<H", first))
    # Two different files: their creation times differ (were they equal to the tenth of a second,
    # as after a move that did not finish, check would take the pair for one file's two entries).
    disk.write(at + 13, bytes([(disk.read(at + 13, 1)[0] + 1) % 200]))


def _size_mismatch(disk, v):
    disk.write(_root_entry_offset(v, disk, "ONE     BIN") + 28, struct.pack("<I", 100))


def _fat_copies_differ(disk, v):
    disk.write(_fat_offsets(v, 4001)[1], struct.pack("<H", 0xFFFF))


def _bad_long_name(disk, v):
    g = v.geometry
    d = g.data_offset + (v.stat("dir").first_cluster - 2) * g.cluster_size
    block = bytearray(disk.read(d, 512))
    for i in range(64, 512, 32):
        if block[i + 11] == 0x0F:
            block[i + 13] ^= 0x55  # checksum no longer matches the short name
    disk.write(d, bytes(block))


@pytest.mark.parametrize(
    "damage,kind",
    [(_lost, "lost-clusters"), (_cross_link, "cross-link"), (_size_mismatch, "size-mismatch"),
     (_fat_copies_differ, "fat-copies-differ"), (_bad_long_name, "bad-entry")],
)
def test_check_finds_and_repair_fixes(tmp_path, damage, kind):
    # fsck.fat -n does not report long-name entries whose checksum fails (it ignores them).
    image = _damaged(tmp_path, damage, fsck_sees=kind != "bad-entry")
    before = image.read_bytes()
    with bootmirror.Disk.open(image, writable=True) as disk:
        report = fat.open(disk).check()
    assert image.read_bytes() == before  # check without repair writes nothing
    assert kind in {p.kind for p in report.problems}, report.problems
    with bootmirror.Disk.open(image, writable=True) as disk:
        report = fat.open(disk).check(repair=True)
        assert all(p.repaired for p in report.problems if p.kind == kind)
    assert_fsck_clean(image)
    with bootmirror.Disk.open(image) as disk:
        assert fat.open(disk).check().clean


def test_check_on_a_cycle(tmp_path):
    def loop(disk, v):
        first = v.stat("one.bin").first_cluster
        last = first + 10000 // v.geometry.cluster_size
        for off in _fat_offsets(v, last):
            disk.write(off, struct.pack("<H", first))

    image = _damaged(tmp_path, loop)
    with bootmirror.Disk.open(image, writable=True) as disk:
        report = fat.open(disk).check(repair=True)
    assert "cycle" in {p.kind for p in report.problems}
    assert_fsck_clean(image)

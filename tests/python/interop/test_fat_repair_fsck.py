"""check(repair=True) repairs what fsck.fat -a repairs: each kind of damage is made on an image,
repaired by bootmirror, and then fsck.fat -n must find the volume clean. The same image repaired
by fsck.fat -a is the reference: both leave the same files (fsck.fat -a also saves lost chains as
FSCKnnnn.REC files, which bootmirror frees instead, as fsck.fat does without -a's -f)."""

from __future__ import annotations

import shutil
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bootmirror
from bootmirror import fat
from conftest import run_tool
from fat_helpers import assert_fsck_clean, entry_offset, folder_region, fuzz_bases, mtools_tree, set_fat_entry

MiB = 1024 * 1024


def _make(image, fs):
    with bootmirror.Disk.create(image, (40 if fs == "FAT32" else 16) * MiB) as disk:
        fat.format(disk, fs, label="VOL", serial=1)
        v = fat.open(disk)
        v.makedirs("DIR/SUB")
        v.write_bytes("DIR/FILE.TXT", b"f" * 3000)
        v.write_bytes("DIR/A long name.txt", b"l" * 10)
        v.write_bytes("ROOT.TXT", b"r" * 100)
        v.write_bytes("Other long name.bin", b"o" * 5000)
        v.flush()


def _slot(disk, v, folder, raw):
    return entry_offset(disk, v, folder, raw)


def _copy_entry(disk, v, folder, raw, new_raw, into_slot_of=None):
    """Writes a copy of entry `raw` named `new_raw` into the first free slot of `folder`."""
    at = _slot(disk, v, folder, raw)
    entry = bytearray(disk.read(at, 32))
    entry[0:11] = new_raw
    offset, length = folder_region(v, folder)
    block = disk.read(offset, length)
    for i in range(0, length, 32):
        if block[i] in (0x00, 0xE5):
            disk.write(offset + i, bytes(entry))
            return
    raise AssertionError("no free slot")


def _damage(case, disk, v):
    g = v.geometry
    cs = g.cluster_size
    dir_off, _ = folder_region(v, "DIR")
    if case == "missing-dot":
        disk.write(dir_off, b"\xe5")
    elif case == "missing-dots":
        disk.write(dir_off, b"\xe5")
        disk.write(dir_off + 32, b"\xe5")
    elif case == "dot-points-elsewhere":
        disk.write(dir_off + 26, struct.pack("<H", v.stat("DIR/SUB").first_cluster))
    elif case == "dotdot-points-elsewhere":
        sub_off, _ = folder_region(v, "DIR/SUB")
        disk.write(sub_off + 32 + 26, struct.pack("<H", v.stat("DIR/SUB").first_cluster))
    elif case == "dot-slot-taken":
        entry = bytearray(disk.read(_slot(disk, v, "DIR", b"FILE    TXT"), 32))
        entry[0:11] = b"MOVED   TXT"
        entry[20:22] = entry[26:28] = b"\0\0"
        entry[28:32] = b"\0\0\0\0"
        disk.write(dir_off, bytes(entry))  # a file where '.' belongs
    elif case == "label-outside-root":
        at = _slot(disk, v, "DIR", b"FILE    TXT")
        disk.write(at, b"SUBLABEL   \x08" + bytes(20))
    elif case == "bad-characters":
        disk.write(_slot(disk, v, "", b"ROOT    TXT"), b"RO*T")
    elif case == "control-character":
        disk.write(_slot(disk, v, "", b"ROOT    TXT"), b"R\x01OT")
    elif case == "start-outside":
        disk.write(_slot(disk, v, "", b"ROOT    TXT") + 26, struct.pack("<H", 0xFFF0))
        disk.write(_slot(disk, v, "", b"ROOT    TXT") + 20, struct.pack("<H", 0x0FFF if g.type == "FAT32" else 0))
    elif case == "folder-with-size":
        disk.write(_slot(disk, v, "DIR", b"SUB        ") + 28, struct.pack("<I", 1234))
    elif case == "chain-shorter-than-size":
        disk.write(_slot(disk, v, "DIR", b"FILE    TXT") + 28, struct.pack("<I", 30000))
    elif case == "chain-longer-than-size":
        disk.write(_slot(disk, v, "DIR", b"FILE    TXT") + 28, struct.pack("<I", 10))
    elif case == "duplicate-names":
        _copy_entry(disk, v, "", b"ROOT    TXT", b"ROOT    TXT")
    elif case == "dot-in-root":
        _copy_entry(disk, v, "", b"ROOT    TXT", b".          ")
        at = _slot(disk, v, "", b".          ")
        disk.write(at + 11, b"\x10")  # a folder '.' in the root folder
        disk.write(at + 20, bytes(12))
    elif case == "invalid-label":
        disk.write(_slot(disk, v, "", b"VOL        "), b"V*L")
    elif case == "labels-differ":
        disk.write(_slot(disk, v, "", b"VOL        "), b"ABC")
    elif case == "boot-label-only":
        disk.write(_slot(disk, v, "", b"VOL        "), b"\xe5")
    elif case == "cross-link":
        first = v.stat("Other long name.bin").first_cluster
        set_fat_entry(disk, v, first, v.stat("DIR/FILE.TXT").first_cluster)
    elif case == "loop":
        first = v.stat("Other long name.bin").first_cluster
        last = first + (5000 + cs - 1) // cs - 1
        set_fat_entry(disk, v, last, first)
    elif case == "lost-clusters":
        set_fat_entry(disk, v, g.cluster_count, 0x0FFFFFFF if g.type == "FAT32" else 0xFFFF)
    elif case == "fat-copies-differ":
        base = (g.reserved_sectors + g.sectors_per_fat) * g.bytes_per_sector
        disk.write(base + 4 * 50 if g.type == "FAT32" else base + 2 * 50, b"\x07\x00")
    elif case == "orphan-long-name":
        # A long-name entry with no short entry after it (a deleted one follows), which
        # fsck.fat reports but does not correct ("Not auto-correcting this"); bootmirror erases it.
        v.write_bytes("EMPTY.TXT", b"")
        v.flush()
        long_entry = disk.read(_slot(disk, v, "", b"OTHERL~1BIN") - 32, 32)
        at = _slot(disk, v, "", b"EMPTY   TXT")
        empty = disk.read(at, 32)
        disk.write(at, long_entry)
        disk.write(at + 32, b"\xe5" + empty[1:])
        disk.write(at + 64, empty)
    elif case == "free-count":
        disk.write(g.bytes_per_sector + 488, struct.pack("<I", 7))
    else:
        raise AssertionError(case)


# case -> the problem kinds bootmirror reports (all repaired)
CASES = {
    "missing-dot": {"dot-entry"},
    "missing-dots": {"dot-entry"},
    "dot-points-elsewhere": {"dot-entry"},
    "dotdot-points-elsewhere": {"dot-entry"},
    "dot-slot-taken": {"dot-entry"},
    "label-outside-root": {"bad-entry", "lost-clusters"},
    "bad-characters": {"bad-name"},
    "control-character": {"bad-name"},
    "start-outside": {"bad-entry", "lost-clusters"},
    "folder-with-size": {"bad-entry"},
    "chain-shorter-than-size": {"size-mismatch"},
    "chain-longer-than-size": {"size-mismatch"},
    # An entry copied whole, its name too: one file's two entries (as a move cut in two leaves
    # them), not two files sharing clusters.
    "duplicate-names": {"duplicate-name", "duplicate-entry"},
    "dot-in-root": {"bad-entry"},
    "invalid-label": {"label"},
    "labels-differ": {"label"},
    "boot-label-only": {"label"},
    "cross-link": {"cross-link", "size-mismatch", "lost-clusters"},
    "loop": {"cycle"},
    "lost-clusters": {"lost-clusters"},
    "fat-copies-differ": {"fat-copies-differ"},
    "orphan-long-name": {"bad-entry"},
}
FAT32_ONLY = {"free-count": {"free-count"}}
# On FAT32 a change to the number of free clusters also makes FSInfo's count wrong.
FAT32_ALSO = {"lost-clusters": {"free-count"}}


def _fsck_says(image) -> list:
    """What fsck.fat -n reports beyond its banner and summary lines (it exits 0 for what it
    would not correct)."""
    r = run_tool(["fsck.fat", "-n", str(image)], check=False)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return lines[1:-1] + ([f"exit {r.returncode}"] if r.returncode else [])


def _tree_without_recovered(tmp_path, image):
    return [p for p in mtools_tree(tmp_path, image) if not p.startswith("FSCK") or not p.endswith(".REC")]


PARAMS = [(fs, case) for fs in ("FAT16", "FAT32") for case in sorted(CASES) + sorted(FAT32_ONLY)
          if fs == "FAT32" or case not in FAT32_ONLY]  # FSInfo is FAT32's alone


@pytest.mark.parametrize("fs,case", PARAMS, ids=[f"{fs}-{case}" for fs, case in PARAMS])
def test_repair_leaves_what_fsck_accepts(tmp_path, fs, case):
    image = tmp_path / "damaged.img"
    _make(image, fs)
    with bootmirror.Disk.open(image, writable=True) as disk:
        _damage(case, disk, fat.open(disk))
    assert _fsck_says(image), "the damage must be something fsck.fat sees"
    reference = tmp_path / "fsck-a.img"
    shutil.copy(image, reference)
    run_tool(["fsck.fat", "-a", str(reference)], check=False)

    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        found = v.check()
        expected = {**CASES, **FAT32_ONLY}[case] | (FAT32_ALSO.get(case, set()) if fs == "FAT32" else set())
        assert {p.kind for p in found.problems} == expected, found.problems
        assert not any(p.repaired for p in found.problems)  # a check alone repairs nothing
        report = v.check(repair=True)
        assert {p.kind for p in report.problems} == expected
        assert all(p.repaired for p in report.problems), [p for p in report.problems if not p.repaired]
        assert v.check().clean, v.check().problems
        for path, dirs, files in v.walk():
            for name in files:
                v.read_bytes(f"{path}/{name}" if path else name)
    assert_fsck_clean(image)
    assert _fsck_says(image) == []
    # The same files as fsck.fat -a leaves (its FSCKnnnn.REC files aside). Of one file's two
    # entries fsck.fat keeps the second, renamed and emptied (FSCK0000.000); check drops it.
    ours, theirs = _tree_without_recovered(tmp_path, image), _tree_without_recovered(tmp_path, reference)
    if case == "duplicate-names":
        theirs = [p for p in theirs if p != "FSCK0000.000"]
    assert ours == theirs


def test_renamed_entries_follow_fsck_names_and_keep_their_long_names(tmp_path):
    image = tmp_path / "names.img"
    _make(image, "FAT16")
    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        disk.write(_slot(disk, v, "", b"OTHERL~1BIN"), b"OTHER*~1")  # a bad short name under a long one
        disk.write(_slot(disk, v, "", b"ROOT    TXT"), b"R\x01OT")
        # The long name's checksum no longer matches the changed short name: give its two
        # entries the new one.
        at = _slot(disk, v, "", b"OTHER*~1BIN")
        raw = disk.read(at, 11)
        s = 0
        for c in raw:
            s = (((s & 1) << 7) + (s >> 1) + c) & 0xFF
        for k in (1, 2):
            disk.write(at - 32 * k + 13, bytes([s]))
    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        assert "Other long name.bin" in v.listdir("")
        report = v.check(repair=True)
        assert sorted(p.kind for p in report.problems) == ["bad-name", "bad-name"]
        names = {e.name: e.short_name for e in v.scandir("")}
        assert names["FSCK0000.000"] == "FSCK0000.000"                # was R\x01OT.TXT
        assert names["Other long name.bin"] == "FSCK0000.001"         # the long name stays
        assert v.read_bytes("Other long name.bin") == b"o" * 5000
    assert_fsck_clean(image)
    assert _fsck_says(image) == []


def test_a_folder_whose_start_cluster_is_invalid_is_removed(tmp_path):
    """fsck.fat -a empties such a folder and needs a second run to remove it; bootmirror removes it
    at once, and fsck.fat -n then finds the volume clean."""
    image = tmp_path / "dir.img"
    _make(image, "FAT16")
    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        disk.write(_slot(disk, v, "", b"DIR        ") + 26, struct.pack("<H", 0xFFF0))
    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        report = v.check(repair=True)
        assert {p.kind for p in report.problems} == {"bad-entry", "lost-clusters"}
        assert all(p.repaired for p in report.problems)
        assert "DIR" not in v.listdir("")
    assert_fsck_clean(image)


# -- random damage: whatever repair reports repaired, fsck.fat -n finds clean --------------------------
BASES = fuzz_bases()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fs=st.sampled_from(sorted(BASES)), damage=st.lists(
    st.tuples(st.floats(1 / 3, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8))
# Found by this test: a '..' entry with dosfstools' no-8.3-name flag (byte 12, 0x20) was left as it was.
@example(fs="FAT12", damage=[(0.44640204666808325, 32)])
def test_random_damage_repaired_is_clean_for_fsck(tmp_path, fs, damage):
    image, meta_end = BASES[fs]
    disk = bootmirror.Disk.memory(len(image))
    disk.write(0, image)
    for where, value in damage:  # the FATs and folders, not the boot sector
        disk.write(int(where * meta_end), bytes([value]))
    report = fat.open(disk).check(repair=True)
    unrepaired = [p for p in report.problems if not p.repaired]
    if unrepaired:  # said so, with the reason; the rest of the volume is left for the user
        assert all("(" in p.message for p in unrepaired)
        return
    assert fat.open(disk).check().clean
    path = tmp_path / "repaired.img"
    path.write_bytes(disk.read(0, disk.size))
    assert _fsck_says(path) == []

"""A failed operation leaves every image byte for byte as it was, and opening, listing, reading and
checking never write: one test per writer, each hashing the image before and after a call that
must fail. Nothing from a damaged disk reaches Python but bootmirror errors, OSError or values."""

from __future__ import annotations

import os
import shutil
import struct

import pytest

import bootmirror
from bootmirror import fat
from fat_helpers import entry_offset, folder_region, image_digest, set_fat_entry

MiB = 1024 * 1024


def _volume(fs="FAT16", size=16 * MiB):
    disk = bootmirror.Disk.memory(size)
    fat.format(disk, fs, label="KEEP", serial=7)
    v = fat.open(disk)
    v.makedirs("EFI/Boot")
    v.write_bytes("EFI/Boot/bootx64.efi", b"MZ" * 3000)
    v.write_bytes("a file with a long name.txt", b"long")
    v.write_bytes("README.TXT", b"readme")
    v.set_attributes("README.TXT", fat.READ_ONLY)
    v.flush()
    return disk, v


def _fill(v, keep_clusters=0):
    """Leaves `keep_clusters` free clusters."""
    cs = v.geometry.cluster_size
    v.write_bytes("filler.bin", b"\0" * (v.free_bytes - keep_clusters * cs))
    assert v.free_bytes == keep_clusters * cs


def _refused(disk, call, error=(bootmirror.Error, OSError)):
    before = image_digest(disk)
    with pytest.raises(error):
        call()
    assert image_digest(disk) == before, "a failed call changed the image"


# -- writers -------------------------------------------------------------------------------------------
def test_format_that_fails_writes_nothing(tmp_path):
    disk, v = _volume()
    for options in [dict(fs="FAT32"), dict(fs="NTFS"), dict(cluster_size=3000), dict(label="a.b"),
                    dict(label="much too long"), dict(label="Õ"), dict(codepage="cp1252"),
                    dict(fat_count=0), dict(root_entries=0)]:
        opts = dict(options)
        fs = opts.pop("fs", "FAT")
        _refused(disk, lambda: fat.format(disk, fs, **opts), bootmirror.UsageError)
    tiny = bootmirror.Disk.memory(64 * 1024)
    tiny.write(0, b"\xaa" * 65536)
    _refused(tiny, lambda: fat.format(tiny, "FAT32"), bootmirror.UsageError)  # too small for FAT32
    image = tmp_path / "ro.img"
    with bootmirror.Disk.create(image, 8 * MiB) as d:
        fat.format(d)
    before = image.read_bytes()
    with bootmirror.Disk.open(image) as ro:
        with pytest.raises(bootmirror.UsageError):
            fat.format(ro)
        with pytest.raises(bootmirror.UsageError):
            fat.run_format(ro, "/fs:fat /q /y")
    assert image.read_bytes() == before
    assert fat.open(disk).listdir("") == ["EFI", "a file with a long name.txt", "README.TXT"]


def test_write_bytes_that_fails_writes_nothing():
    disk, v = _volume()
    _refused(disk, lambda: v.write_bytes("bad:name.txt", b"x"), bootmirror.UsageError)
    _refused(disk, lambda: v.write_bytes("missing/folder/file.txt", b"x"), FileNotFoundError)
    _refused(disk, lambda: v.write_bytes("EFI", b"x"), IsADirectoryError)
    _refused(disk, lambda: v.write_bytes("readme.txt", b"x"), PermissionError)
    _refused(disk, lambda: v.write_bytes("CON.txt", b"x"), bootmirror.UsageError)
    _refused(disk, lambda: v.write_bytes("huge.bin", b"\0" * (v.free_bytes + 1)), OSError)
    # Replacing a file with more than the free space and the old file's clusters together.
    _refused(disk, lambda: v.write_bytes("EFI/Boot/bootx64.efi", b"\0" * (v.free_bytes + 8 * 4096)), OSError)
    assert v.read_bytes("EFI/Boot/bootx64.efi") == b"MZ" * 3000
    assert v.check().clean


def test_a_full_fixed_root_folder_refuses_the_next_entry_and_writes_nothing():
    disk = bootmirror.Disk.memory(16 * MiB)
    fat.format(disk, "FAT16", root_entries=16)
    v = fat.open(disk)
    for i in range(16):
        v.write_bytes(f"F{i}.TXT", b"")
    _refused(disk, lambda: v.write_bytes("F16.TXT", b"data"), OSError)
    _refused(disk, lambda: v.mkdir("DIR"), OSError)
    _refused(disk, lambda: v.rename("F0.TXT", "a name long enough for a long entry.txt"), OSError)
    _refused(disk, lambda: setattr(v, "label", "LABEL"), OSError)
    assert len(v.listdir("")) == 16 and v.check().clean


def test_a_full_volume_refuses_a_folder_that_must_grow(tmp_path):
    disk, v = _volume("FAT12", 2 * MiB)
    v.makedirs("D")
    per_cluster = v.geometry.cluster_size // 32
    for i in range(per_cluster - 2):  # "." and ".." take two slots
        v.write_bytes(f"D/F{i}", b"")
    _fill(v, 0)
    _refused(disk, lambda: v.write_bytes("D/one more", b""), OSError)
    _refused(disk, lambda: v.mkdir("D/sub"), OSError)
    _refused(disk, lambda: v.write_bytes("D/F0", b"x"), OSError)  # replacing needs a cluster too
    assert v.check().clean


def test_opening_a_file_for_writing_that_fails_writes_nothing():
    disk, v = _volume()
    _refused(disk, lambda: v.open("README.TXT", "wb"), PermissionError)
    _refused(disk, lambda: v.open("README.TXT", "xb"), FileExistsError)
    _refused(disk, lambda: v.open("missing.txt", "r+b"), FileNotFoundError)
    _refused(disk, lambda: v.open("bad|name", "wb"), bootmirror.UsageError)
    _refused(disk, lambda: v.open("EFI", "ab"), IsADirectoryError)
    with v.open("grow.bin", "wb") as f:
        f.write(b"start")
        f.flush()
        before = image_digest(disk)
        with pytest.raises(OSError):
            f.write(b"\0" * (v.free_bytes + 5000))
        with pytest.raises(OSError):
            f.truncate(v.free_bytes + 100000)
        assert image_digest(disk) == before
        f.write(b" and more")  # the file still works after the refusal
    assert v.read_bytes("grow.bin") == b"start and more" and v.check().clean


def test_folder_changes_that_fail_write_nothing():
    disk, v = _volume()
    with v.open("a file with a long name.txt", "rb"):
        _refused(disk, lambda: v.remove("a file with a long name.txt"), OSError)  # open: EBUSY
        _refused(disk, lambda: v.rename("a file with a long name.txt", "x.txt"), OSError)
    _refused(disk, lambda: v.mkdir("EFI"), FileExistsError)
    _refused(disk, lambda: v.mkdir("README.TXT/x"), NotADirectoryError)
    _refused(disk, lambda: v.mkdir("bad?name"), bootmirror.UsageError)
    _refused(disk, lambda: v.makedirs("EFI/Boot/bootx64.efi/deeper"), OSError)
    _refused(disk, lambda: v.makedirs("new/bad*part"), bootmirror.UsageError)  # "new" is not made either
    _refused(disk, lambda: v.remove("missing"), FileNotFoundError)
    _refused(disk, lambda: v.remove("EFI"), IsADirectoryError)
    _refused(disk, lambda: v.rmdir("EFI"), OSError)  # not empty
    _refused(disk, lambda: v.rmdir("README.TXT"), NotADirectoryError)
    _refused(disk, lambda: v.rmdir(""), OSError)
    _refused(disk, lambda: v.rename("EFI", "EFI/Boot/inside"), OSError)  # into itself
    _refused(disk, lambda: v.rename("README.TXT", "a file with a long name.txt"), FileExistsError)
    _refused(disk, lambda: v.rename("README.TXT", "bad<name"), bootmirror.UsageError)
    _refused(disk, lambda: v.rename("missing", "other"), FileNotFoundError)
    _refused(disk, lambda: v.set_attributes("missing", fat.HIDDEN), FileNotFoundError)
    _refused(disk, lambda: v.set_times("missing", modified=0.0), FileNotFoundError)
    _refused(disk, lambda: v.set_times("", modified=0.0), bootmirror.UsageError)
    _refused(disk, lambda: setattr(v, "label", "bad*label"), bootmirror.UsageError)
    _fill(v, 0)
    _refused(disk, lambda: v.makedirs("a/b/c"), OSError)  # no cluster for "a"
    assert v.check().clean


def test_import_tree_that_fails_writes_nothing(tmp_path):
    disk, v = _volume()
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(20):
        (src / f"file {i:02}.bin").write_bytes(bytes([i]) * 3000)
    (src / "sub" / "z-last.txt").write_bytes(b"last")
    def sparse(path):
        path.write_bytes(b"")
        os.truncate(path, 1 << 32)  # a 4 GiB file: one byte more than FAT holds

    cases = {
        "colon": lambda d: (d / "sub" / "a:b.txt").write_bytes(b"x"),
        "not-utf8": lambda d: (d / "sub" / os.fsdecode(b"\xff\xfe.txt")).write_bytes(b"x"),
        "over-4-gib": lambda d: sparse(d / "sub" / "sparse.bin"),
        "folder-over-file": lambda d: (d / "README.TXT").mkdir(),
        "file-over-folder": lambda d: (d / "EFI").write_bytes(b"x"),
    }
    for name, damage in cases.items():
        case = tmp_path / name
        shutil.copytree(src, case)
        damage(case)
        _refused(disk, lambda: v.import_tree(case, ""))
        if "over" not in name or name == "over-4-gib":  # the collisions are with the root's entries
            _refused(disk, lambda: v.import_tree(case, "new/dest"))
    big = tmp_path / "too-big"
    big.mkdir()
    (big / "a.bin").write_bytes(b"\1" * (v.free_bytes // 2))
    (big / "b.bin").write_bytes(b"\2" * (v.free_bytes // 2 + 4096))
    _refused(disk, lambda: v.import_tree(big, ""), OSError)  # the volume fills up at the second file
    # Errors of the host walk, which runs ahead on a worker thread, arrive as the same errors.
    _refused(disk, lambda: v.import_tree(tmp_path / "no such folder", "new/dest"), FileNotFoundError)
    _refused(disk, lambda: v.import_tree(src / "file 00.bin", "new/dest"), NotADirectoryError)
    assert v.listdir("") == ["EFI", "a file with a long name.txt", "README.TXT"] and v.check().clean
    v.import_tree(src, "dest")  # and the same volume still imports
    assert len(v.listdir("dest")) == 21


def test_copy_tree_and_xcopy_that_fail_write_nothing():
    disk, v = _volume()
    target_disk, target = _volume()
    target.makedirs("EFI/Boot/bootx64.efi.d")
    # A folder in the target where a file would land.
    target.makedirs("EFI/Boot/x")
    v.write_bytes("EFI/Boot/x", b"file")
    _refused(target_disk, lambda: fat.copy_tree(v, "", target, "", recurse=True), PermissionError)  # README.TXT
    _refused(target_disk, lambda: fat.copy_tree(v, "EFI", target, "EFI", recurse=True), IsADirectoryError)
    _refused(target_disk, lambda: fat.run_xcopy(v, "p:\\EFI\\*.*", target, "s:\\EFI", "/s /h"), IsADirectoryError)
    v.remove("EFI/Boot/x")
    # A damaged source file: its chain ends early.
    first = v.stat("EFI/Boot/bootx64.efi").first_cluster
    set_fat_entry(disk, v, first, 0xFFFF)
    damaged = fat.open(disk)
    _refused(target_disk, lambda: fat.copy_tree(damaged, "", target, "copy", recurse=True), bootmirror.FormatError)
    # A full target.
    _fill(target, 1)
    _refused(target_disk, lambda: fat.copy_tree(v, "", target, "copy", recurse=True), OSError)
    # xcopy's own refusals on one volume.
    _refused(disk, lambda: fat.run_xcopy(v, "p:\\*.*", v, "p:\\EFI", "/s"), bootmirror.UsageError)
    _refused(disk, lambda: fat.run_xcopy(v, "p:\\EFI\\*.*", v, "p:\\EFI", ""), bootmirror.UsageError)


def test_check_repair_that_cannot_repair_writes_nothing(tmp_path):
    disk, v = _volume("FAT16", 16 * MiB)
    # A folder chain longer than the 65,536 entries FAT allows: it cannot be read, and repair
    # leaves it (and so writes nothing) rather than guess.
    g = v.geometry
    v.makedirs("BIG")
    first = v.stat("BIG").first_cluster
    limit = 65536 * 32 // g.cluster_size
    start = g.cluster_count - limit - 10
    assert start > first
    set_fat_entry(disk, v, first, start)
    for c in range(start, start + limit):
        set_fat_entry(disk, v, c, c + 1)
    set_fat_entry(disk, v, start + limit, 0xFFFF)
    damaged = fat.open(disk)
    report = damaged.check()
    assert [p.kind for p in report.problems] == ["bad-chain"]
    before = image_digest(disk)
    report = damaged.check(repair=True)
    assert [(p.kind, p.repaired) for p in report.problems] == [("bad-chain", False)]
    assert "cannot be read" in report.problems[0].message
    assert image_digest(disk) == before
    # A read-only device refuses repair outright.
    image = tmp_path / "ro.img"
    with bootmirror.Disk.create(image, 8 * MiB) as d:
        fat.format(d)
    with bootmirror.Disk.open(image) as ro:
        with pytest.raises(bootmirror.UsageError):
            fat.open(ro).check(repair=True)


def test_a_clean_volume_is_not_written_by_check_repair():
    disk, v = _volume("FAT32", 40 * MiB)
    before = image_digest(disk)
    assert v.check(repair=True).clean
    assert image_digest(disk) == before


# -- opening, listing, reading and checking never write ---------------------------------------------
def _damaged_fat32_with_stale_fsinfo():
    disk, v = _volume("FAT32", 40 * MiB)
    g = v.geometry
    fsinfo = g.bytes_per_sector  # sector 1
    disk.write(fsinfo + 488, struct.pack("<I", 12345))  # a stale free count, as after a crash
    return disk, v


def test_opening_a_damaged_writable_volume_never_writes():
    disk, v = _damaged_fat32_with_stale_fsinfo()
    g = v.geometry
    set_fat_entry(disk, v, g.root_cluster, 0)  # the root folder's chain meets a free cluster
    before = image_digest(disk)
    for _ in range(3):
        with pytest.raises(bootmirror.FormatError) as info:
            fat.open(disk)
        assert info.value.offset is not None
    assert image_digest(disk) == before


def test_listing_reading_and_checking_never_write_even_with_a_stale_fsinfo(tmp_path):
    disk, v = _damaged_fat32_with_stale_fsinfo()
    first = v.stat("EFI/Boot/bootx64.efi").first_cluster
    set_fat_entry(disk, v, first + 1, 0)  # the file's chain meets a free cluster
    before = image_digest(disk)
    v = fat.open(disk)
    v.listdir(""), v.scandir("EFI"), list(v.walk()), v.stat("README.TXT"), v.label, v.free_bytes
    v.read_bytes("README.TXT")
    with pytest.raises(bootmirror.FormatError):
        v.read_bytes("EFI/Boot/bootx64.efi")
    report = v.check()
    assert {p.kind for p in report.problems} >= {"bad-chain", "free-count"}
    with pytest.raises(bootmirror.FormatError):
        v.export_tree("", tmp_path / "out")  # reads the image; writes only on the host
    v.flush()
    del v
    assert image_digest(disk) == before


# -- nothing but bootmirror errors, OSError or values ------------------------------------------------
def _every_read(v, out):
    """Every read path of the Python API; returns nothing, raises only what it may."""
    v.label, v.free_bytes, repr(v), v._repr_html_()
    for path, dirs, files in v.walk():
        for e in v.scandir(path):
            e.name, e.short_name, e.raw_short_name, e.raw_long_name, e.created, e.modified, repr(e)
        for name in dirs + files:
            p = f"{path}/{name}" if path else name
            try:  # a name holding '/' or '\\' cannot be reached by a path (as on Windows): OSError
                e = v.stat(p)
                if not e.is_dir:
                    v.read_bytes(p)
                    with v.open(p, "rb") as f:
                        f.read()
            except (bootmirror.Error, OSError):
                pass
        v.listdir(path)
    report = v.check()
    repr(report), [repr(p) for p in report.problems], [p.path for p in report.problems]
    try:
        v.export_tree("", out)
    except (bootmirror.Error, OSError):
        pass


@pytest.mark.parametrize("damage", ["label-bytes", "short-name-bytes", "lone-surrogates", "lfn-garbage",
                                    "boot-label-bytes", "dot-entries"])
def test_undecodable_and_odd_bytes_become_values_not_python_errors(tmp_path, damage):
    disk, v = _volume("FAT16")
    root, length = folder_region(v)
    if damage == "label-bytes":
        disk.write(entry_offset(disk, v, "", b"KEEP       "), bytes(range(0x80, 0x8B)))
    elif damage == "boot-label-bytes":
        disk.write(entry_offset(disk, v, "", b"KEEP       "), b"\xe5")
        disk.write(43, bytes([0xFF, 0x80, 0x01, 0x7F, 0x9F, 0xA0, 0xC8, 0xD5, 0xE5, 0xF0, 0xFE]))
    elif damage == "short-name-bytes":
        disk.write(entry_offset(disk, v, "", b"README  TXT"), bytes([0x81, 0x01, 0xFF, 0x7F, 0x2A, 0x2F, 0x5C, 0x00, 0x80, 0xE5, 0x3F]))
    elif damage == "lone-surrogates":
        block = bytearray(disk.read(root, length))
        for i in range(0, length, 32):
            if block[i + 11] == 0x0F:
                for o in (1, 3, 5, 7):
                    struct.pack_into("<H", block, i + o, 0xDC00 + o)
        disk.write(root, bytes(block))
    elif damage == "lfn-garbage":
        block = bytearray(disk.read(root, length))
        for i in range(0, length, 32):
            if block[i + 11] == 0x0F:
                block[i + 1:i + 11] = bytes(range(0xF6, 0x100))
                block[i] = 0x7F  # an ordinal out of range
        disk.write(root, bytes(block))
    elif damage == "dot-entries":
        at = entry_offset(disk, v, "", b"README  TXT")
        disk.write(at, b"..         ")
    _every_read(fat.open(disk), tmp_path / "out")
    for codepage in fat.code_pages():
        w = fat.open(disk, codepage=codepage)
        w.label, w.listdir(""), [e.short_name for e in w.scandir("")]


def test_a_damaged_backup_boot_sector_field_is_never_a_write_target():
    disk = bootmirror.Disk.memory(40 * MiB)
    fat.format(disk, "FAT32", label="OLD")
    v = fat.open(disk)
    disk.write(50, struct.pack("<H", 0x7FFF))  # BPB_BkBootSec far past the reserved sectors
    v = fat.open(disk)
    before = disk.read(0, disk.size)
    v.label = "NEW"
    after = disk.read(0, disk.size)
    changed = {s for s in range(len(before) // 512) if before[s * 512:(s + 1) * 512] != after[s * 512:(s + 1) * 512]}
    root = v.geometry.data_offset // 512
    assert changed <= {0, root}, changed  # the boot sector and the root folder's label entry only
    assert fat.open(disk).label == "NEW"

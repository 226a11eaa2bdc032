"""The FAT engine through the Python API: geometry as Windows chooses it, the seed's numbers,
files and folders, names, attributes, modes, errors, and bad input that must not crash or write."""

from __future__ import annotations

import errno
import io
import shutil
import struct

import pytest

import bootmirror
from bootmirror import fat
from fat_helpers import assert_fsck_clean

MiB = 1024 * 1024
GiB = 1024 * MiB


# -- geometry -------------------------------------------------------------------------------------
# Microsoft's default allocation units (KB140365) for `format /fs:fat` and `/fs:fat32`.
WINDOWS_FAT = [
    (8 * MiB, 2048), (16 * MiB, 2048), (20 * MiB, 512), (32 * MiB, 512), (50 * MiB, 1024), (64 * MiB, 1024),
    (100 * MiB, 2048), (128 * MiB, 2048), (204 * MiB, 4096), (256 * MiB, 4096), (300 * MiB, 8192),
    (512 * MiB, 8192), (1000 * MiB, 16384), (1024 * MiB, 16384), (2000 * MiB, 32768), (4095 * MiB, 65536),
]
WINDOWS_FAT32 = [
    (40 * MiB, 512), (64 * MiB, 512), (100 * MiB, 1024), (200 * MiB, 2048), (300 * MiB, 4096), (8 * GiB, 4096),
    (10 * GiB, 8192), (16 * GiB, 8192), (20 * GiB, 16384), (32 * GiB, 16384), (40 * GiB, 32768),
]


@pytest.mark.parametrize("size,cluster", WINDOWS_FAT)
def test_fat_geometry_follows_windows_table(size, cluster):
    g = fat.plan(size, 512, "FAT")
    assert g.cluster_size == cluster
    assert g.type == ("FAT12" if g.cluster_count < 4085 else "FAT16")
    assert g.reserved_sectors == 1 and g.fat_count == 2 and g.root_entries == 512
    # The FAT maps every cluster, and the layout fits the volume.
    assert g.sectors_per_fat * 512 * 8 >= (g.cluster_count + 2) * g.bits_per_entry
    assert g.data_offset + g.data_bytes <= size


@pytest.mark.parametrize("size,cluster", WINDOWS_FAT32)
def test_fat32_geometry_follows_windows_table(size, cluster):
    g = fat.plan(size, 512, "FAT32")
    assert (g.type, g.cluster_size) == ("FAT32", cluster)
    assert g.reserved_sectors == 32 and g.root_entries == 0 and g.root_cluster == 2
    assert g.cluster_count >= 65525
    assert g.sectors_per_fat * 512 >= (g.cluster_count + 2) * 4


def test_seed_204_mib_numbers():
    g = fat.plan("204 MiB", 512, "FAT")
    assert (g.type, g.cluster_size, g.cluster_count, g.bits_per_entry) == ("FAT16", 4096, 52168, 16)
    assert g.data_bytes == 213_680_128


def test_seed_format_summary_text():
    disk = bootmirror.Disk.memory("204 MiB")
    result = fat.format(disk, "FAT", serial=0xEA3403C7)
    assert fat.format_summary(result, disk.size, "RAW", quick=True) == (
        "The type of the file system is RAW.\n"
        "The new file system is FAT.\n"
        "QuickFormatting 204M\n"
        "Initializing the File Allocation Table (FAT)...\n"
        "Format complete.\n"
        "\n"
        "  213,680,128 bytes total disk space.\n"
        "  213,680,128 bytes available on disk.\n"
        "\n"
        "        4,096 bytes in each allocation unit.\n"
        "       52,168 allocation units available on disk.\n"
        "\n"
        "           16 bits in each FAT entry.\n"
        "\n"
        "Volume Serial Number is EA34-03C7\n"
    )


def test_4096_byte_sectors_and_overrides():
    g = fat.plan("204 MiB", 4096, "FAT")
    assert (g.type, g.bytes_per_sector, g.sectors_per_cluster, g.cluster_size) == ("FAT16", 4096, 1, 4096)
    g = fat.plan("204 MiB", 512, "FAT", cluster_size=16384, fat_count=1, root_entries=1024)
    assert (g.cluster_size, g.fat_count, g.root_entries) == (16384, 1, 1024)
    assert fat.plan("2 MiB", 512, "FAT12").type == "FAT12"
    with pytest.raises(bootmirror.UsageError):
        fat.plan("20 MiB", 512, "FAT32")  # too small for 65,525 clusters
    with pytest.raises(bootmirror.UsageError):
        fat.plan("5 GiB", 512, "FAT")  # FAT16 ends at 4 GB


def test_the_type_planned_is_the_one_its_cluster_count_says(tmp_path):
    """Readers tell FAT12, FAT16 and FAT32 apart by the cluster count alone (fatgen103 3.5). Near
    the line a FAT12 FAT, smaller than the formula's FAT16 one, left room for a 4,085th cluster,
    and a forced FAT16 with small clusters went past 65,524: volumes that fsck.fat, mtools and
    bootmirror itself refused. No plan may name one type and count another's clusters."""
    def kind(clusters):
        return "FAT12" if clusters < 4085 else "FAT16" if clusters < 65525 else "FAT32"
    cases = [(fs, cluster, range(4000, 20000)) for fs in ("FAT", "FAT12", "FAT16") for cluster in (None, 512)]
    cases += [("FAT16", cluster, range(60000 * cluster // 512, 70000 * cluster // 512, 37)) for cluster in (512, 1024)]
    for fs, cluster, sectors in cases:
        for n in sectors:
            try:
                g = fat.plan(n * 512, 512, fs, cluster_size=cluster)
            except bootmirror.UsageError:
                continue
            assert g.type == kind(g.cluster_count), (fs, cluster, n, g)
    # The first size the old plan got wrong, formatted and judged by fsck.fat.
    image = tmp_path / "boundary.img"
    with bootmirror.Disk.create(image, 16397 * 512) as disk:
        assert fat.format(disk).geometry.cluster_count == 4084
        fat.open(disk)
    assert_fsck_clean(image)


def test_serial_and_times_come_from_the_identity_source():
    with bootmirror.deterministic(seed=7, epoch=1_700_000_000):
        a = bootmirror.Disk.memory("16 MiB")
        fat.format(a, label="ESP")
        fat.open(a).write_bytes("x.txt", b"1")
    with bootmirror.deterministic(seed=7, epoch=1_700_000_000):
        b = bootmirror.Disk.memory("16 MiB")
        fat.format(b, label="ESP")
        fat.open(b).write_bytes("x.txt", b"1")
    assert a.read(0, a.size) == b.read(0, b.size)
    assert int(fat.open(a).stat("x.txt").modified) == 1_700_000_000


# -- files and folders ------------------------------------------------------------------------------
@pytest.fixture(params=["FAT12", "FAT16", "FAT32"])
def vol(request):
    size = {"FAT12": 4 * MiB, "FAT16": 32 * MiB, "FAT32": 48 * MiB}[request.param]
    disk = bootmirror.Disk.memory(size)
    fat.format(disk, request.param, label="TEST")
    v = fat.open(disk)
    assert v.fat_type == request.param
    return v


def test_files_and_folders(vol):
    vol.makedirs("EFI/Microsoft/Boot")
    vol.write_bytes("EFI\\Microsoft\\Boot\\BCD", b"bcd" * 1000)
    assert vol.read_bytes("efi/microsoft/boot/bcd") == b"bcd" * 1000
    assert vol.listdir("/EFI/") == ["Microsoft"]
    assert vol.isdir("efi") and vol.isfile("EFI/MICROSOFT/BOOT/bcd")
    with pytest.raises(FileExistsError):
        vol.mkdir("efi")
    with pytest.raises(FileNotFoundError):
        vol.read_bytes("nope")
    with pytest.raises(OSError):
        vol.rmdir("EFI")  # not empty
    vol.rename("EFI/Microsoft/Boot/BCD", "EFI/bcd.bak")
    assert vol.listdir("EFI") == ["Microsoft", "bcd.bak"]
    vol.remove("EFI/bcd.bak")
    vol.rmdir("EFI/Microsoft/Boot")
    assert vol.listdir("EFI/Microsoft") == []
    assert list(vol.walk()) == [("", ["EFI"], []), ("EFI", ["Microsoft"], []), ("EFI/Microsoft", [], [])]
    assert vol.label == "TEST"
    assert vol.check().clean


def test_free_space_is_accounted(vol):
    free = vol.free_bytes
    cs = vol.geometry.cluster_size
    vol.write_bytes("a.bin", b"\1" * (cs * 3 + 1))
    assert vol.free_bytes == free - 4 * cs
    vol.remove("a.bin")
    assert vol.free_bytes == free


def test_file_objects_modes(vol):
    with vol.open("f.bin", "wb") as f:
        assert isinstance(f, io.RawIOBase)
        shutil.copyfileobj(io.BytesIO(b"abc" * 50000), f)
    with vol.open("f.bin", "ab") as f:
        f.write(b"END")
    with vol.open("f.bin", "r+b") as f:
        f.seek(3)
        f.write(b"XYZ")
        f.seek(0, io.SEEK_END)
        assert f.tell() == 150003
    data = vol.read_bytes("f.bin")
    assert data[:6] == b"abcXYZ" and data.endswith(b"abcEND") and len(data) == 150003
    with vol.open("f.bin", "r+b") as f:
        f.truncate(10)
        f.seek(20)
        f.write(b"!")  # a gap reads back as zeros
    assert vol.read_bytes("f.bin") == b"abcXYZabca" + bytes(10) + b"!"
    out = io.BytesIO()
    with vol.open("F.BIN", "rb") as f:
        shutil.copyfileobj(f, out)
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"no")
    assert out.getvalue() == vol.read_bytes("f.bin")
    with vol.open("f.bin", "wb") as f:
        pass
    assert vol.stat("f.bin").size == 0
    assert vol.check().clean


def test_a_writable_file_dropped_without_close_is_closed():
    disk = bootmirror.Disk.memory("16 MiB")
    fat.format(disk)
    v = fat.open(disk)
    handle = v.engine.open_file("dropped.bin", True, True, True)
    handle.write(0, b"w" * 10000)
    del handle  # never closed: the entry is written when the file goes away
    assert v.check().clean
    assert fat.open(disk).read_bytes("dropped.bin") == b"w" * 10000


def test_open_file_cannot_be_removed(vol):
    f = vol.open("busy.txt", "wb")
    with pytest.raises(OSError):
        vol.remove("busy.txt")
    f.close()
    vol.remove("busy.txt")


@pytest.mark.parametrize("position", [2**32, 2**64 - 1, 2**64, 2**70])
def test_a_position_past_4_gib_reads_nothing_and_refuses_writes(position):
    """Near 2^64 the write's end wrapped: it zero-filled the file's slack and raised FormatError;
    past 2^64 pybind11 raised TypeError. FAT files end at 4 GiB: EFBIG, nothing changed."""
    disk = bootmirror.Disk.memory(4 * MiB)
    fat.format(disk)
    vol = fat.open(disk)
    vol.write_bytes("f.bin", b"A" * 100)
    vol.flush()
    before = disk.read(0, disk.size)
    with vol.open("f.bin", "r+b") as f:
        f.seek(position)
        assert f.read() == b"" and f.readinto(bytearray(4)) == 0
        with pytest.raises(OSError) as error:
            f.write(b"xy")
        assert error.value.errno == errno.EFBIG
        with pytest.raises(OSError):
            f.truncate(position + 1)
    assert disk.read(0, disk.size) == before and vol.read_bytes("f.bin") == b"A" * 100


def test_a_file_has_one_writer_or_any_number_of_readers(vol):
    """Each handle keeps the file's size and clusters: two writers each stored their own entry on
    close, so a truncate through one and a write through the other cross-linked two files, which
    fsck.fat and check() then reported. A second writer, or a reader beside a writer, is EBUSY."""
    vol.write_bytes("f.bin", b"A" * 10000)
    first = vol.open("f.bin", "r+b")
    for mode in ("r+b", "wb", "rb"):
        with pytest.raises(OSError) as error:
            vol.open("f.bin", mode)
        assert error.value.errno == errno.EBUSY
    first.truncate(0)
    vol.write_bytes("other.bin", b"O" * 12)  # may take the clusters the truncate freed
    first.close()
    readers = [vol.open("f.bin", "rb") for _ in range(2)]
    with pytest.raises(OSError):
        vol.open("f.bin", "ab")
    for r in readers:
        r.close()
    with vol.open("f.bin", "ab") as f:
        f.write(b"B" * 10)
    assert (vol.read_bytes("f.bin"), vol.read_bytes("other.bin")) == (b"B" * 10, b"O" * 12)
    assert vol.check().clean


def test_names_follow_windows_rules(vol):
    vol.write_bytes("README.TXT", b"1")  # 8.3 upper: short entry only
    vol.write_bytes("notes.txt", b"2")  # 8.3 lower: case flags, no long name
    vol.write_bytes("Mixed.Txt", b"3")  # mixed case: long name, short MIXED.TXT
    vol.write_bytes("A much longer name.html", b"4")
    vol.write_bytes("A much longer name2.html", b"5")
    vol.write_bytes("ünïcödé ñame.txt", b"6")
    entries = {e.name: e for e in vol.scandir()}
    assert entries["README.TXT"].short_name == "README.TXT"
    assert entries["notes.txt"].short_name == "NOTES.TXT"
    assert entries["Mixed.Txt"].short_name == "MIXED.TXT"
    assert entries["A much longer name.html"].short_name == "AMUCHL~1.HTM"
    assert entries["A much longer name2.html"].short_name == "AMUCHL~2.HTM"
    # Case-insensitive lookups by long or short name.
    assert vol.read_bytes("readme.txt") == b"1"
    assert vol.read_bytes("AMUCHL~2.HTM") == b"5"
    assert vol.read_bytes("ÜNÏCÖDÉ ÑAME.TXT") == b"6"
    for bad in ["a*b", "con", "LPT1.txt", "x<y", 'q"', "a|b"]:
        with pytest.raises(bootmirror.UsageError):
            vol.write_bytes(bad, b"")
    long_name = "n" * 255
    vol.write_bytes(long_name, b"7")
    assert vol.read_bytes(long_name.upper()) == b"7"
    with pytest.raises(bootmirror.UsageError):
        vol.write_bytes("n" * 256, b"")
    assert vol.check().clean


def test_rename_changes_case_and_moves_folders(vol):
    vol.makedirs("a/b")
    vol.write_bytes("a/b/file.txt", b"x")
    vol.rename("a/b/file.txt", "a/b/FILE.txt")
    assert vol.listdir("a/b") == ["FILE.txt"]
    vol.rename("a/b", "moved")
    assert vol.read_bytes("moved/file.txt") == b"x"
    with pytest.raises(OSError):
        vol.rename("a", "a/inside")
    assert vol.check().clean


def test_attributes_and_times(vol):
    vol.write_bytes("sys.bin", b"x")
    vol.set_attributes("sys.bin", fat.HIDDEN | fat.SYSTEM | fat.READ_ONLY)
    st = vol.stat("sys.bin")
    assert st.attributes == fat.HIDDEN | fat.SYSTEM | fat.READ_ONLY
    with pytest.raises(PermissionError):
        vol.open("sys.bin", "wb")
    vol.set_times("sys.bin", modified=1_000_000_000)  # 2001-09-09 01:46:40 UTC
    assert vol.stat("sys.bin").modified == 1_000_000_000


def test_root_directory_full_on_fat16():
    disk = bootmirror.Disk.memory("20 MiB")
    fat.format(disk, root_entries=16)
    v = fat.open(disk)
    for i in range(16):
        v.write_bytes(f"F{i}", b"")
    with pytest.raises(OSError):
        v.write_bytes("F16", b"")


def test_disk_full():
    disk = bootmirror.Disk.memory("2 MiB")
    fat.format(disk)
    v = fat.open(disk)
    with pytest.raises(OSError):
        v.write_bytes("big", bytes(3 * MiB))
    assert v.check().clean


def test_import_export_roundtrip(vol, tmp_path):
    src = tmp_path / "src"
    (src / "EFI" / "Boot").mkdir(parents=True)
    (src / "EFI" / "Boot" / "bootx64.efi").write_bytes(b"MZ" * 3000)
    (src / "empty").mkdir()
    (src / "Long file name.txt").write_bytes(b"hello")
    stats = vol.import_tree(src, "dest")
    assert (stats.files, stats.directories) == (2, 3)
    out = tmp_path / "out"
    vol.export_tree("dest", out)
    assert (out / "EFI" / "Boot" / "bootx64.efi").read_bytes() == b"MZ" * 3000
    assert (out / "Long file name.txt").read_bytes() == b"hello"
    assert (out / "empty").is_dir()


def test_xcopy_semantics():
    p_disk, s_disk = bootmirror.Disk.memory("64 MiB"), bootmirror.Disk.memory("64 MiB")
    fat.format(p_disk)
    fat.format(s_disk)
    p, s = fat.open(p_disk), fat.open(s_disk)
    p.makedirs("EFI/Microsoft/WINNT50")
    p.makedirs("EFI/Microsoft/EFIDrivers")
    p.makedirs("Empty")
    p.makedirs("MSUtil")
    p.write_bytes("EFI/Microsoft/WINNT50/Boot0003", b"b" * 100)
    p.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"l" * 5000)
    p.write_bytes("EFI/Microsoft/EFIDrivers/fpswa.efi", b"f" * 300)
    for name in ["diskpart.efi", "fdisk.efi", "format.efi", "nvrboot.efi"]:
        p.write_bytes(f"MSUtil/{name}", name.encode())
    p.set_attributes("EFI/Microsoft/WINNT50/Boot0003", fat.HIDDEN)
    copied = fat.copy_tree(p, "", s, "", "*.*", recurse=True, hidden=True)
    assert fat.xcopy_listing("p:\\", copied) == (
        "p:\\EFI\\Microsoft\\WINNT50\\Boot0003\n"
        "p:\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi\n"
        "p:\\EFI\\Microsoft\\EFIDrivers\\fpswa.efi\n"
        "p:\\MSUtil\\diskpart.efi\n"
        "p:\\MSUtil\\fdisk.efi\n"
        "p:\\MSUtil\\format.efi\n"
        "p:\\MSUtil\\nvrboot.efi\n"
        "7 File(s) copied\n"
    )
    assert not s.exists("Empty")  # /s skips empty folders
    assert s.read_bytes("efi/microsoft/winnt50/ia64ldr.efi") == b"l" * 5000
    assert s.stat("EFI/Microsoft/WINNT50/Boot0003").attributes & fat.HIDDEN
    # Without /h hidden files stay behind; /e keeps empty folders.
    t_disk = bootmirror.Disk.memory("64 MiB")
    fat.format(t_disk)
    t = fat.open(t_disk)
    copied = fat.copy_tree(p, "", t, "", "*.*", recurse=True, empty_dirs=True)
    assert "EFI\\Microsoft\\WINNT50\\Boot0003" not in copied and len(copied) == 6
    assert t.isdir("Empty")
    assert _core_switches("/s /h") == {"recurse": True, "empty_dirs": False, "hidden": True}


def _core_switches(text):
    return bootmirror._core.parse_xcopy_switches(text)


def test_format_switches():
    parsed = bootmirror._core.parse_format_switches("/fs:fat /q /y")
    assert parsed["file_system"] == "FAT" and parsed["quick"] and parsed["yes"]
    assert bootmirror._core.parse_format_switches("/fs:NTFS /q")["file_system"] == "NTFS"
    with pytest.raises(bootmirror.UsageError):
        bootmirror._core.parse_format_switches("/fs:exfat")


def test_format_a_slice_records_hidden_sectors():
    disk = bootmirror.Disk.memory("40 MiB")
    part = disk.slice(1 * MiB, 32 * MiB)
    fat.format(part)
    assert struct.unpack_from("<I", disk.read(1 * MiB, 512), 28)[0] == 2048
    fat.open(part).write_bytes("x", b"y")
    assert fat.open(disk.slice(1 * MiB, 32 * MiB)).read_bytes("X") == b"y"


# -- bad input: a clear FormatError, no crash, no hang, nothing written -------------------------------
def _fat16_with_file():
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk, serial=1)
    v = fat.open(disk)
    v.makedirs("A/B")
    v.write_bytes("A/file.bin", b"z" * 5000)
    v.flush()
    return disk, v


def _fat_entry_offsets(v, cluster):
    g = v.geometry
    return [(g.reserved_sectors + k * g.sectors_per_fat) * g.bytes_per_sector + 2 * cluster for k in range(g.fat_count)]


def _unchanged(disk, action):
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.FormatError) as info:
        action()
    assert disk.read(0, disk.size) == before
    return info.value


def test_looping_chain_is_a_format_error():
    disk, v = _fat16_with_file()
    first = v.stat("A/file.bin").first_cluster
    g = v.geometry
    last = first + (5000 + g.cluster_size - 1) // g.cluster_size - 1
    for off in _fat_entry_offsets(v, last):
        disk.write(off, struct.pack("<H", first))
    err = _unchanged(disk, lambda: fat.open(disk).read_bytes("A/file.bin"))
    assert "loop" in str(err)


def test_chain_leaving_the_volume_is_a_format_error():
    disk, v = _fat16_with_file()
    first = v.stat("A/file.bin").first_cluster
    for off in _fat_entry_offsets(v, first):
        disk.write(off, struct.pack("<H", 0xFFF0))
    err = _unchanged(disk, lambda: fat.open(disk).read_bytes("A/file.bin"))
    assert "outside" in str(err)


def test_directory_cycle_is_a_format_error(tmp_path):
    disk, v = _fat16_with_file()
    a = v.stat("A").first_cluster
    b = v.stat("A/B").first_cluster
    # Make A\B's entry point back at A.
    g = v.geometry
    a_dir = g.data_offset + (a - 2) * g.cluster_size
    block = bytearray(disk.read(a_dir, g.cluster_size))
    for i in range(0, len(block), 32):
        if block[i:i + 11] == b"B          ":
            struct.pack_into("<H", block, i + 26, a)
    disk.write(a_dir, bytes(block))
    assert b != a
    _unchanged(disk, lambda: list(fat.open(disk).walk()))
    _unchanged(disk, lambda: fat.open(disk).export_tree("", tmp_path / "out"))
    report = fat.open(disk).check()
    assert any(p.kind == "directory-cycle" for p in report.problems)


@pytest.mark.parametrize(
    "offset,value,fmt",
    [(11, 0x1234, "<H"), (13, 3, "<B"), (14, 0, "<H"), (16, 0, "<B"), (19, 0, "<H"), (32, 0xFFFFFFF0, "<I"),
     (17, 0, "<H"), (510, 0, "<H"), (22, 1, "<H")],
    ids=["bytes-per-sector", "sectors-per-cluster", "reserved", "fat-count", "tiny-total", "huge-total",
         "no-root", "signature", "fat-too-small"],
)
def test_absurd_boot_sector_is_a_format_error(offset, value, fmt):
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    if offset == 19:
        disk.write(32, struct.pack("<I", 0))
    disk.write(offset, struct.pack(fmt, value))
    _unchanged(disk, lambda: fat.open(disk))


def test_not_a_fat_volume():
    disk = bootmirror.Disk.memory("1 MiB")
    _unchanged(disk, lambda: fat.open(disk))


def test_check_lists_a_folders_problems_in_slot_order_duplicates_among_them():
    # Names are indexed on first lookup, not while a folder is parsed; the duplicates found then
    # must still come in their slots' order among the problems the parse found.
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    g = fat.open(disk).geometry
    root = g.data_offset - 32 * g.root_entries

    def short(name: bytes) -> bytes:
        return name + b"\x20" + bytes(20)  # a file, no clusters, empty

    # A long-name entry (last, ordinal 1) with no short entry after it: "x", NUL, 0xFFFF padding.
    name1 = "x".encode("utf-16-le") + bytes(2) + b"\xff" * 6
    stray = bytes([0x41]) + name1 + bytes([0x0F, 0, 0x12]) + b"\xff" * 12 + bytes(2) + b"\xff" * 4
    assert len(stray) == 32
    entries = [short(b"A       TXT"), short(b"A       TXT"), stray, short(b"B       TXT"), short(b"B       TXT")]
    disk.write(root, b"".join(entries))
    report = fat.open(disk).check()
    found = [(p.kind, p.message) for p in report.problems]
    kinds = [k for k, _ in found]
    assert kinds == ["duplicate-name", "bad-entry", "duplicate-name"], found
    assert "slot 1:" in found[0][1] and "slots 2..2:" in found[1][1] and "slot 4:" in found[2][1]
    fixed = fat.open(disk).check(repair=True)
    assert [p.kind for p in fixed.problems] == kinds
    v = fat.open(disk)
    assert v.check().clean
    assert sorted(v.listdir()) == sorted(["A.TXT", "B.TXT", "FSCK0000.000", "FSCK0000.001"]), v.listdir()


def test_a_root_entry_count_that_is_not_whole_sectors_is_refused():
    """fatgen103 makes the fixed root whole sectors; the kernel and fsck.fat refuse a BPB whose
    count is not (mtools then listed 496 of 512 files bootmirror wrote into a root of 500)."""
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    disk.write(17, struct.pack("<H", 500))
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.FormatError, match="500 root directory entries") as error:
        fat.open(disk)
    assert error.value.offset == 17 and disk.read(0, disk.size) == before


def _deep_tree(levels):
    """A FAT32 volume whose root holds `levels` folders each inside the last, written sector by
    sector as a FAT driver without a path limit could leave them: bootmirror makes no tree deeper
    than a path reaches (makedirs refuses), but the checks and copies must survive one."""
    disk = bootmirror.Disk.memory("64 MiB")
    fat.format(disk, "FAT32", cluster_size=512)
    g = fat.open(disk).geometry

    def entry(name, cluster):
        return name.ljust(11).encode() + bytes([0x10]) + bytes(8) + struct.pack("<H", cluster >> 16) + bytes(4) + \
            struct.pack("<HI", cluster & 0xFFFF, 0)

    root = g.root_cluster  # folder i (1-based) lies in cluster root + i
    assert disk.read(g.data_offset, 32) == bytes(32)
    disk.write(g.data_offset, entry("D", root + 1))
    folders = bytearray(levels * 512)
    for i in range(1, levels + 1):
        c, parent = root + i, (root + i - 1 if i > 1 else 0)
        at = (i - 1) * 512
        folders[at:at + 64] = entry(".", c) + entry("..", parent)
        if i < levels:
            folders[at + 64:at + 96] = entry("D", c + 1)
    disk.write(g.data_offset + 512, bytes(folders))
    chain_ends = struct.pack("<I", 0x0FFFFFFF) * levels
    for k in range(g.fat_count):
        disk.write((g.reserved_sectors + k * g.sectors_per_fat) * g.bytes_per_sector + 4 * (root + 1), chain_ends)
    return disk


def test_a_tree_deeper_than_any_path_is_checked_and_refused_by_copies_not_a_crash():
    """A recursive walk took a stack frame a level: 25,000 levels overflowed it (SIGSEGV) in
    check() and copy_tree(). check() now walks any depth; a copy and walk() refuse a tree deeper
    than a path can name (OSError ENAMETOOLONG), as makedirs does, before anything is written."""
    disk = _deep_tree(25000)
    report = fat.open(disk).check()
    assert report.directories == 25001  # and the root
    assert [p.kind for p in report.problems] == ["free-count"]  # FSInfo's predates the folders
    target = bootmirror.Disk.memory("64 MiB")
    fat.format(target, "FAT32", cluster_size=512)
    before = target.read(0, target.size)
    with pytest.raises(OSError, match="too long") as error:
        fat.copy_tree(fat.open(disk), "", fat.open(target), "", recurse=True, empty_dirs=True)
    assert error.value.errno == errno.ENAMETOOLONG
    assert target.read(0, target.size) == before
    with pytest.raises(OSError) as error:
        fat.open(target).makedirs("/".join(["d"] * 201))
    assert error.value.errno == errno.ENAMETOOLONG
    fat.open(target).makedirs("/".join(["d"] * 200))
    assert len(list(fat.open(target).walk())) == 201
    with pytest.raises(OSError) as error:  # each step held its whole path: gigabytes on such a tree
        list(fat.open(disk).walk())
    assert error.value.errno == errno.ENAMETOOLONG


@pytest.mark.parametrize("separator", ["/", "\\"])
def test_a_long_name_holding_a_path_separator_goes_by_its_short_name(separator):
    """A long name "ab/cd" on disk (no FAT driver writes one) listed in the root, and reading that
    listed name gave another file, ab's cd; check() said clean and a sync never converged. The
    entry now goes by its short name, and check(repair=True) erases the long one."""
    disk = bootmirror.Disk.memory("16 MiB")
    fat.format(disk, serial=1)
    v = fat.open(disk)
    v.makedirs("ab")
    v.write_bytes("ab/cd", b"OTHER FILE")
    v.write_bytes("ab+cd", b"ROOT FILE")  # long name "ab+cd", short AB_CD~1
    v.flush()
    root_at = fat.open(disk).geometry.data_offset - 512 * 32  # the root folder's 512 entries
    root = bytearray(disk.read(root_at, 512))
    patched = 0
    for i in range(0, 512, 32):
        if root[i + 11] == 0x0F and struct.unpack_from("<H", root, i + 5)[0] == ord("+"):
            struct.pack_into("<H", root, i + 5, ord(separator))
            patched += 1
    assert patched == 1
    disk.write(root_at, bytes(root))
    v = fat.open(disk)
    assert sorted(v.listdir()) == ["AB_CD~1", "ab"]
    assert v.read_bytes("AB_CD~1") == b"ROOT FILE" and v.read_bytes("ab/cd") == b"OTHER FILE"
    assert "path separator" in v.check().problems[0].message
    fat.open(disk).check(repair=True)
    assert fat.open(disk).check().clean


# -- export_tree never writes outside its target, whatever the names in the image ----------------------
_LFN_CHARS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]


def _rename_raw(disk, vol, original: str, hostile: str) -> None:
    """Rewrite a one-entry long name in the root folder in place (the checksum still matches)."""
    assert len(original) == len(hostile) <= 13
    g = vol.geometry
    root = g.data_offset - 32 * g.root_entries
    block = bytearray(disk.read(root, 32 * g.root_entries))
    for i in range(0, len(block), 32):
        if block[i + 11] == 0x0F:
            chars = "".join(chr(struct.unpack_from("<H", block, i + o)[0]) for o in _LFN_CHARS[: len(original)])
            if chars == original:
                for o, c in zip(_LFN_CHARS, hostile):
                    struct.pack_into("<H", block, i + o, ord(c))
                disk.write(root, bytes(block))
                return
    raise AssertionError(f"no long name {original!r}")


HOSTILE = ["../../evil", "/etc/passwd", "C:\\x.txt", "CON", "..", "dUP.txt", "a/../../b"]


def test_export_tree_stays_inside_the_target(tmp_path):
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    v = fat.open(disk)
    v.write_bytes("Dup.txt", b"first")
    for name in HOSTILE:
        v.write_bytes("q+" + "q" * (len(name) - 2), name.encode())
    v.flush()
    for name in HOSTILE:
        _rename_raw(disk, v, "q+" + "q" * (len(name) - 2), name)
    v = fat.open(disk)
    names = v.listdir("")
    # The engine shows what is there, but a long name holding a path separator would name another
    # file's path: those entries go by their short names.
    assert "dUP.txt" in names and ".." in names and not any("/" in n or "\\" in n for n in names)
    target = tmp_path / "deep" / "out"
    stats = v.export_tree("", target)
    assert stats.files == len(HOSTILE) + 1
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all(p.startswith("deep/out/") and "/" not in p[len("deep/out/"):] for p in written), written
    assert len(written) == len(HOSTILE) + 1
    contents = sorted(p.read_bytes() for p in target.iterdir())
    assert contents == sorted([b"first", *(n.encode() for n in HOSTILE)])


def test_export_tree_does_not_follow_symlinks_in_the_target(tmp_path):
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    v = fat.open(disk)
    v.makedirs("link")
    v.write_bytes("link/payload.txt", b"x")
    v.write_bytes("file.txt", b"y")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "link").symlink_to(elsewhere)
    (target / "file.txt").symlink_to(elsewhere / "planted.txt")
    with pytest.raises(OSError):
        v.export_tree("", target)
    assert list(elsewhere.iterdir()) == []


def test_an_export_that_fails_part_way_names_the_file_and_writes_every_one_before_it(tmp_path):
    # Small files are written by worker threads (HostWriters); the error must still be the first
    # file's in tree order, every earlier file complete, and nothing written through the link.
    disk = bootmirror.Disk.memory("64 MiB")
    fat.format(disk)
    v = fat.open(disk)
    v.mkdir("d")
    names = [f"f{i:04}.txt" for i in range(600)]
    for name in names:
        v.write_bytes(f"d/{name}", name.encode() * 10)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "out" / "d"
    target.mkdir(parents=True)
    (target / "f0300.txt").symlink_to(elsewhere / "planted.txt")
    (target / "f0450.txt").symlink_to(elsewhere / "planted2.txt")
    with pytest.raises(OSError, match="f0300.txt"):
        v.export_tree("", tmp_path / "out")
    assert list(elsewhere.iterdir()) == []
    for name in names[:300]:
        assert (target / name).read_bytes() == name.encode() * 10


def test_an_export_that_meets_damage_writes_every_file_before_it(tmp_path):
    # The files queued for the workers before a damaged entry are written before the error is
    # raised, as an export on one thread would have left them.
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk)
    v = fat.open(disk)
    names = [f"f{i:04}.txt" for i in range(300)]
    for name in names:
        v.write_bytes(name, name.encode() * 3)
    g = v.geometry
    root = g.data_offset - 32 * g.root_entries
    table = disk.read(root, 32 * g.root_entries)
    at = next(i for i in range(0, len(table), 32) if table[i:i + 11] == b"F0250   TXT")
    disk.write(root + at + 28, struct.pack("<I", 1 << 20))  # longer than its one cluster
    with pytest.raises(bootmirror.FormatError, match="f0250.txt"):
        fat.open(disk).export_tree("", tmp_path / "out")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == names[:250]
    assert all((tmp_path / "out" / n).read_bytes() == n.encode() * 3 for n in written)


def test_an_export_stopped_by_its_progress_callable_ends_and_says_so(tmp_path):
    disk = bootmirror.Disk.memory("64 MiB")
    fat.format(disk)
    v = fat.open(disk)
    v.mkdir("d")
    for i in range(4000):  # far more than the workers' queue holds
        v.write_bytes(f"d/f{i:04}.bin", bytes(2000))
    with pytest.raises(bootmirror.UsageError, match="was stopped"):
        v.export_tree("d", tmp_path / "out", progress=lambda done, total: done < 100_000)
    written = list((tmp_path / "out").iterdir())
    assert 0 < len(written) < 4000
    assert all(p.stat().st_size == 2000 for p in written)  # no file is left part written


def test_read_only_device_refuses_changes_and_keeps_reading(tmp_path):
    image = tmp_path / "ro.img"
    with bootmirror.Disk.create(image, "16 MiB") as disk:
        fat.format(disk, label="RO")
        fat.open(disk).write_bytes("a.txt", b"a")
    before = image.read_bytes()
    with bootmirror.Disk.open(image) as disk:
        v = fat.open(disk)
        for change in (lambda: v.mkdir("x"), lambda: v.write_bytes("b", b""), lambda: v.remove("a.txt"),
                       lambda: v.rename("a.txt", "c.txt"), lambda: v.set_attributes("a.txt", fat.HIDDEN),
                       lambda: v.import_tree(tmp_path, ""), lambda: v.check(repair=True)):
            with pytest.raises(bootmirror.UsageError):
                change()
        assert v.read_bytes("A.TXT") == b"a" and v.listdir() == ["a.txt"]
        assert "<table>" in v._repr_html_() and "RO" in repr(v)
    assert image.read_bytes() == before


def test_result_objects_have_readable_reprs(tmp_path):
    disk = bootmirror.Disk.memory("64 MiB")
    result = fat.format(disk, "FAT", label="ESP", serial=0xEA3403C7)
    assert repr(result) == "<fat.FormatResult FAT16 'ESP' serial EA34-03C7, 66,830,336 bytes total, 66,830,336 available>"
    assert repr(result.geometry).startswith("<fat.Geometry FAT16 1024-byte clusters x 65,264, 2 FATs")
    v = fat.open(disk)
    (tmp_path / "a.txt").write_bytes(b"hello")
    assert repr(v.import_tree(tmp_path, "T")) == "<CopyStats 1 files, 0 folders, 5 bytes>"
    assert repr(v.check()).startswith("<fat.CheckReport clean: 1 files, 2 folders")
    # A lost cluster: marked used in both FATs, owned by no file.
    g = v.geometry
    for copy in range(g.fat_count):
        disk.write(g.reserved_sectors * 512 + copy * g.sectors_per_fat * 512 + 2 * 1000, b"\xff\xff")
    report = fat.open(disk).check()
    assert repr(report).startswith("<fat.CheckReport 1 problem(s)")
    assert repr(report.problems[0]).startswith("<fat.CheckProblem ")


def test_label_can_be_set_changed_and_removed():
    disk = bootmirror.Disk.memory("16 MiB")
    fat.format(disk)
    v = fat.open(disk)
    assert v.label == ""
    v.label = "esp"
    assert fat.open(disk).label == "ESP"
    v.label = "SYSTEM"
    assert fat.open(disk).label == "SYSTEM"
    v.label = ""
    assert fat.open(disk).label == ""
    v.label = "AGAIN"
    assert fat.open(disk).label == "AGAIN" and v.check().clean
    with pytest.raises(bootmirror.UsageError):
        v.label = "much too long a label"


@pytest.mark.parametrize("names", [("README.TXT", "Readme.txt"), ("Sub/x", "sub/y")])
def test_import_refuses_host_names_that_differ_only_in_case_before_writing_anything(tmp_path, names):
    """FAT ignores case: the second of two such host names found the first one's entry, replaced
    that file (the import said 4 files and the volume held 2) or merged into that folder."""
    src = tmp_path / "src"
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(name.encode())
    disk = bootmirror.Disk.memory("16 MiB")
    fat.format(disk)
    v = fat.open(disk)
    v.write_bytes("README.TXT", b"there before")  # replacing a file the volume held is an import's right
    before = disk.read(0, disk.size)
    with pytest.raises(FileExistsError, match="FAT ignores case"):
        v.import_tree(src, "")
    assert disk.read(0, disk.size) == before
    (src / names[1]).unlink()
    if (src / names[1]).parent != src:
        (src / names[1]).parent.rmdir()
    v.import_tree(src, "")
    assert v.read_bytes(names[0]) == names[0].encode()


def test_import_refuses_a_name_windows_refuses_before_writing_anything(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a-first.txt").write_bytes(b"1")
    (src / "b:colon.txt").write_bytes(b"2")  # legal on Linux, not on FAT
    disk = bootmirror.Disk.memory("16 MiB")
    fat.format(disk)
    v = fat.open(disk)
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError):
        v.import_tree(src, "")
    assert disk.read(0, disk.size) == before  # all or nothing: the first file is not half-imported
    assert v.listdir("") == [] and v.check().clean

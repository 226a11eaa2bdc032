"""Our NTFS reader against an independent one (dissect.ntfs, run as a program by
ntfs_reference_tree.py) on volumes mkntfs made and wimlib-imagex filled (NTFS-3G mode, no mount):
nested folders, long and Unicode names, names that differ only in case, an empty file, a large
file, a folder big enough for $INDEX_ALLOCATION, and enough files to grow the $MFT. Both readers
list the same tree with the same sizes, times and content hashes, for 512- and 4096-byte
sectors."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, ntfs
from conftest import run_tool
from ntfs_helpers import attribute_types, run_count

MiB = 1 << 20
REFERENCE = Path(__file__).with_name("ntfs_reference_tree.py")


def host_tree(root: Path) -> None:
    rng = random.Random(5)
    (root / "WINDOWS/system32/config").mkdir(parents=True)
    (root / "WINDOWS/system32/ntoskrnl.exe").write_bytes(rng.randbytes(200_000))
    (root / "WINDOWS/system32/hal.dll").write_bytes(rng.randbytes(70_000))
    (root / "WINDOWS/system32/config/SYSTEM").write_bytes(rng.randbytes(5000))
    deep = root / "Program Files" / "A folder with a rather long name indeed" / "Ünïcødé ✓ 日本語"
    deep.mkdir(parents=True)
    (deep / "résumé.txt").write_text("bonjour\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "Case").mkdir()
    (root / "Case/readme.txt").write_bytes(b"lower\n")
    (root / "Case/README.TXT").write_bytes(b"upper\n")
    (root / "big.bin").write_bytes(rng.randbytes(3 * MiB + 123))
    many = root / "many"
    many.mkdir()
    for i in range(1500):  # an $INDEX_ALLOCATION several blocks deep, and an $MFT that grows
        (many / f"file {i:04d}.txt").write_bytes(f"{i}\n".encode() * (i % 7))


def ntfs_image(tmp_path: Path, sector: int) -> Path:
    tree = tmp_path / "tree"
    host_tree(tree)
    wim = tmp_path / "tree.wim"
    run_tool(["wimlib-imagex", "capture", str(tree), str(wim), "tree", "--no-acls"])
    image = tmp_path / "volume.img"
    with open(image, "wb") as f:
        f.truncate(96 * MiB)
    run_tool(["mkntfs", "-F", "-f", "-q", "-L", "PRIMARY", "-s", str(sector), str(image)])
    run_tool(["wimlib-imagex", "apply", str(wim), "1", str(image)])
    return image


def reference(image: Path) -> list:
    out = subprocess.run([sys.executable, str(REFERENCE), str(image)], capture_output=True, text=True, check=True)
    return sorted(tuple(json.loads(line)) for line in out.stdout.splitlines())


def ours(volume: ntfs.Volume) -> list:
    rows = []
    for folder, dirs, files in volume.walk():
        for name in dirs + files:
            path = f"{folder}/{name}" if folder else name
            e = volume.stat(path)
            digest = None if e.is_dir else hashlib.sha256(volume.read_bytes(path)).hexdigest()
            rows.append((path, e.is_dir, 0 if e.is_dir else e.size, digest, e.modified_ns))
    return sorted(rows)


@pytest.mark.parametrize("sector", [512, 4096])
def test_our_reader_and_dissect_ntfs_see_the_same_tree(tmp_path, sector):
    image = ntfs_image(tmp_path, sector)
    theirs = reference(image)
    with Disk.open(image, sector_size=sector) as disk:
        v = ntfs.open(disk)
        mine = ours(v)
        assert mine == theirs
        assert len(mine) > 1500
        # Windows' matching: any case, either separator; names that differ only in case each
        # open their own file.
        assert v.read_bytes(r"\windows\SYSTEM32\config\system") == (tmp_path / "tree/WINDOWS/system32/config/SYSTEM").read_bytes()
        assert v.read_bytes("Case/readme.txt") == b"lower\n" and v.read_bytes("Case/README.TXT") == b"upper\n"
        assert not v.exists("WINDOWS/nothing here") and v.isdir("many") and v.isfile("empty.txt")


def test_an_index_block_that_points_back_at_itself_is_a_format_error_not_a_hang(tmp_path):
    image = ntfs_image(tmp_path, 512)
    data = bytearray(image.read_bytes())
    # An INDX block of the big folder: its last entry made to point at the block itself.
    with Disk.open(image) as disk:
        names = set(ntfs.open(disk).listdir("many"))
    for at in range(0, len(data), 4096):
        if data[at:at + 4] != b"INDX":
            continue
        block = data[at:at + 4096]
        usa, count = int.from_bytes(block[4:6], "little"), int.from_bytes(block[6:8], "little")
        usn = block[usa:usa + 2]
        for i in range(count - 1):  # undo the fixups, edit, then redo them
            block[(i + 1) * 512 - 2:(i + 1) * 512] = block[usa + 2 + 2 * i:usa + 4 + 2 * i]
        first, in_use, allocated = (int.from_bytes(block[24 + k:28 + k], "little") for k in (0, 4, 8))
        entry, last = 24 + first, None
        while True:
            length, flags = int.from_bytes(block[entry + 8:entry + 10], "little"), int.from_bytes(block[entry + 12:entry + 14], "little")
            if flags & 2:
                last = entry
                break
            key = block[entry + 16:entry + 16 + int.from_bytes(block[entry + 10:entry + 12], "little")]
            name = key[66:66 + 2 * key[64]].decode("utf-16-le")
            entry += length
        if name not in names or 24 + in_use + 8 > 24 + allocated:
            continue
        vcn = block[16:24]
        block[last + 8:last + 10] = (24).to_bytes(2, "little")
        block[last + 12:last + 14] = (3).to_bytes(2, "little")
        block[last + 16:last + 24] = vcn
        block[28:32] = (in_use + 8).to_bytes(4, "little")
        block[36] |= 1  # the node has children
        for i in range(count - 1):
            end = (i + 1) * 512 - 2
            block[usa + 2 + 2 * i:usa + 4 + 2 * i] = block[end:end + 2]
            block[end:end + 2] = usn
        data[at:at + 4096] = block
        break
    else:
        raise AssertionError("no INDX block of the big folder found")
    image.write_bytes(bytes(data))
    before = hashlib.sha256(data).hexdigest()
    with Disk.open(image) as disk:
        with pytest.raises(bootmirror.FormatError, match="twice"):
            ntfs.open(disk).listdir("many")
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_files_open_for_reading_a_piece_at_a_time(tmp_path):
    import io

    image = ntfs_image(tmp_path, 512)
    expected = (tmp_path / "tree/big.bin").read_bytes()
    with Disk.open(image) as disk:
        v = ntfs.open(disk)
        with v.open("BIG.BIN") as f:
            assert f.read(100) == expected[:100]
            f.seek(3 * MiB)
            assert f.read() == expected[3 * MiB:]
            f.seek(-10, io.SEEK_END)
            assert f.read(100) == expected[-10:] and f.read(1) == b""
            assert f.tell() == len(expected)
        with io.BufferedReader(v.open("Program Files/A folder with a rather long name indeed/Ünïcødé ✓ 日本語/résumé.txt")) as f:
            assert f.readline() == b"bonjour\n"
        with pytest.raises(IsADirectoryError):
            v.open("WINDOWS")
        with pytest.raises(bootmirror.UsageError):
            v.open("empty.txt", "wb")


def host_files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*")}


def test_export_tree_gives_back_the_tree_wimlib_laid_down(tmp_path):
    image = ntfs_image(tmp_path, 4096)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    out = tmp_path / "out"
    with Disk.open(image, sector_size=4096) as disk:
        stats = ntfs.open(disk).export_tree("", out)
    source, exported = host_files(tmp_path / "tree"), host_files(out)
    # Every name, Unicode and case included, every byte, and each file's modification time (to
    # NTFS's 100 ns) as it was on the host folder wimlib captured.
    assert sorted(exported) == sorted(source)
    for path, theirs in source.items():
        ours_ = exported[path]
        assert ours_.is_dir() == theirs.is_dir(), path
        if theirs.is_file():
            assert ours_.read_bytes() == theirs.read_bytes(), path
            assert ours_.stat().st_mtime_ns // 100 == theirs.stat().st_mtime_ns // 100, path
    assert (stats.files, stats.directories) == (sum(p.is_file() for p in source.values()), sum(p.is_dir() for p in source.values()))
    assert stats.bytes == sum(p.stat().st_size for p in source.values() if p.is_file())
    # A folder alone, by any case and either separator.
    assert ntfs.open(Disk.open(image, sector_size=4096)).export_tree(r"windows\SYSTEM32", tmp_path / "sys").files == 3
    assert sorted(host_files(tmp_path / "sys")) == ["config", "config/SYSTEM", "hal.dll", "ntoskrnl.exe"]
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_export_tree_writes_nothing_outside_its_target(tmp_path):
    image = ntfs_image(tmp_path, 512)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "target"
    (target / "Case").mkdir(parents=True)
    (target / "WINDOWS").symlink_to(elsewhere)                       # a folder link planted
    (target / "Case" / "readme.txt").symlink_to(elsewhere / "x")     # and a file link
    with Disk.open(image) as disk:
        with pytest.raises(OSError):
            ntfs.open(disk).export_tree("", target)
    assert list(elsewhere.iterdir()) == []


def _point_entry_at(data: bytearray, name: str, reference: int) -> None:
    """Make the index entry naming `name` (in an $INDEX_ROOT or INDX block) refer to another file
    (`reference`: record number and sequence number, as NTFS's file references hold them)."""
    # The $FILE_NAME key: name length, namespace, name; it starts 16 bytes into its entry, whose
    # first 8 bytes are the file reference. An entry whose reference straddles a sector's last two
    # bytes (where the update sequence is) is not used.
    pattern = re.compile(re.escape(bytes([len(name)])) + b"[\x00-\x03]" + re.escape(name.encode("utf-16-le")))
    for found in pattern.finditer(data):
        entry = found.start() - 64 - 16
        key_length = int.from_bytes(data[entry + 10:entry + 12], "little")
        is_index_entry = key_length == 66 + 2 * len(name) and int.from_bytes(data[entry + 8:entry + 10], "little") >= 16 + key_length
        if is_index_entry and not any(entry <= s - 2 < entry + 8 for s in range(512, entry + 520, 512)):
            data[entry:entry + 8] = reference.to_bytes(8, "little")
            return
    raise AssertionError(f"no index entry names {name!r}")


def test_a_folder_listed_inside_itself_is_a_format_error_not_a_loop(tmp_path):
    image = ntfs_image(tmp_path, 512)
    with Disk.open(image) as disk:
        windows = ntfs.open(disk).stat("WINDOWS").record
        sequence = int.from_bytes(ntfs.open(disk).read_record(windows)[16:18], "little")
    data = bytearray(image.read_bytes())
    _point_entry_at(data, "config", windows | sequence << 48)  # WINDOWS\system32\config is now WINDOWS
    image.write_bytes(bytes(data))
    with Disk.open(image) as disk:
        v = ntfs.open(disk)
        with pytest.raises(bootmirror.FormatError, match="inside itself"):
            list(v.walk())
        with pytest.raises(bootmirror.FormatError, match="inside itself"):
            v.export_tree("", tmp_path / "out")


def test_a_fragmented_mft_and_a_file_split_over_extension_records(tmp_path):
    # A small volume of 1 KB clusters with 3,000 files: the $MFT outgrows its first extent. Then
    # two files extended a cluster at a time in turn (ntfsfallocate), so that each is hundreds of
    # runs long, more than one record holds: ntfs-3g moves their $DATA to extension records named
    # by an $ATTRIBUTE_LIST. ntfscp then fills one with data.
    tree = tmp_path / "tree"
    (tree / "many").mkdir(parents=True)
    rng = random.Random(7)
    for i in range(3000):
        (tree / "many" / f"f{i:05d}.txt").write_bytes(rng.randbytes(600 + i * 37 % 900))
    (tree / "a.bin").write_bytes(b"")
    (tree / "b.bin").write_bytes(b"")
    wim, image = tmp_path / "tree.wim", tmp_path / "volume.img"
    run_tool(["wimlib-imagex", "capture", str(tree), str(wim), "tree", "--no-acls"])
    with open(image, "wb") as f:
        f.truncate(16 * MiB)
    run_tool(["mkntfs", "-F", "-f", "-q", "-c", "1024", str(image)])
    run_tool(["wimlib-imagex", "apply", str(wim), "1", str(image)])
    for i in range(300):
        for name in ("a.bin", "b.bin"):
            run_tool(["ntfsfallocate", "-f", "-o", str(i * 1024), "-l", "1024", str(image), name])
    content = rng.randbytes(300 * 1024)
    (tmp_path / "a.host").write_bytes(content)
    run_tool(["ntfscp", "-f", str(image), str(tmp_path / "a.host"), "a.bin"])
    with Disk.open(image) as disk:
        v = ntfs.open(disk)
        assert run_count(v.read_record(0)) > 1  # the $MFT's own $DATA
        for name in ("a.bin", "b.bin"):
            assert 0x20 in attribute_types(v.read_record(v.stat(name).record)), name  # $ATTRIBUTE_LIST
        assert v.read_bytes("a.bin") == content
        assert v.read_bytes("b.bin") == bytes(300 * 1024)  # allocated, never written: zeros
        mine = ours(v)
        # Exported, a file's unwritten part stays a hole on the host.
        v.export_tree("", tmp_path / "out")
    assert (tmp_path / "out/a.bin").read_bytes() == content
    b = (tmp_path / "out/b.bin").stat()
    assert b.st_size == 300 * 1024 and b.st_blocks == 0
    assert mine == reference(image)
    assert len(mine) == 3003

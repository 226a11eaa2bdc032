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
import subprocess
import sys
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, ntfs
from conftest import run_tool

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

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

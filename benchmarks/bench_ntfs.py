#!/usr/bin/env python3
"""NTFS reading: walk a volume of 10,000 small files (and a Windows tree) and hash every file,
against pytsk3 (The Sleuth Kit's Python binding, from PyPI) on the same image in the same run;
and opening a volume and finding \\WINDOWS\\system32\\ntoskrnl.exe, which is what a boot check
does first.

The volume is made by the tools Windows-compatible images come from on Linux: Debian's mkntfs
formats it and wimlib-imagex applies a WIM of the tree, so the reader sees a volume it did not
write. Each side walks the tree the way its API is meant to be used: bootmirror through
``Volume.walk`` and ``read_bytes`` by path, pytsk3 through ``open_dir`` by path and
``read_random`` on each entry. Both hash with hashlib's SHA-256 and start from a warm page cache
(the image is read once before the first round). Rounds rotate which side goes first. The floor
of the walk is the hashing alone: SHA-256 of the same files' bytes, already in memory (read from
the host folder the volume was made from, before the rounds).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, print_table, require, rounds, row, scratch, small_file_tree  # noqa: E402

import pytsk3  # noqa: E402

from bootmirror import Disk, ntfs  # noqa: E402

FILES = 10_000
LOOKUPS = 300
KERNEL = "WINDOWS/system32/ntoskrnl.exe"


def make_volume(folder: Path) -> Path:
    tree = folder / "tree"
    small_file_tree(tree, FILES)
    (tree / KERNEL).parent.mkdir(parents=True)
    (tree / KERNEL).write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    wim, image = folder / "tree.wim", folder / "volume.img"
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([require("wimlib-imagex"), "capture", str(tree), str(wim), "tree", "--no-acls"], **quiet)
    with open(image, "wb") as f:
        f.truncate(512 << 20)
    subprocess.run([require("mkntfs"), "-F", "-f", "-q", "-L", "BENCH", str(image)], **quiet)
    subprocess.run([require("wimlib-imagex"), "apply", str(wim), "1", str(image)], **quiet)
    return image


def walk_ours(image: Path) -> int:
    count = 0
    with Disk.open(image) as disk:
        volume = ntfs.open(disk)
        for folder, _, files in volume.walk():
            for name in files:
                hashlib.sha256(volume.read_bytes(f"{folder}/{name}" if folder else name)).digest()
                count += 1
    return count


def walk_pytsk3(image: Path) -> int:
    count = 0
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)))
    pending = ["/"]
    while pending:
        folder = pending.pop()
        for entry in fs.open_dir(folder):
            name = entry.info.name.name
            meta = entry.info.meta
            # The volume's own files ($MFT, ...) and the folder links are not the tree's.
            if name in (b".", b"..") or name.startswith(b"$") or meta is None:
                continue
            path = f"{folder.rstrip('/')}/{name.decode()}"
            if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                pending.append(path)
            else:
                hashlib.sha256(entry.read_random(0, meta.size) if meta.size else b"").digest()
                count += 1
    return count


def host_files(tree: Path) -> list:
    return [Path(folder, name).read_bytes() for folder, _, files in os.walk(tree) for name in files]


def hash_all(contents: list) -> int:
    for data in contents:
        hashlib.sha256(data).digest()
    return len(contents)


def find_ours(image: Path) -> None:
    with Disk.open(image) as disk:
        ntfs.open(disk).stat(KERNEL)


def find_pytsk3(image: Path) -> None:
    pytsk3.FS_Info(pytsk3.Img_Info(str(image))).open("/" + KERNEL)


def main() -> int:
    with scratch("ntfs") as folder:
        image = make_volume(folder)
        image.read_bytes()  # into the page cache
        contents = host_files(folder / "tree")
        assert walk_ours(image) == walk_pytsk3(image) == hash_all(contents) == FILES + 1
        walks = rounds({"bootmirror": lambda: walk_ours(image), "peer": lambda: walk_pytsk3(image),
                        "floor": lambda: hash_all(contents)}, ROUNDS)
        finds = rounds({"bootmirror": lambda: find_ours(image), "peer": lambda: find_pytsk3(image)}, LOOKUPS)
    rows = [
        row(f"walk and SHA-256 {FILES + 1:,} files", walks, "pytsk3", "SHA-256 of the bytes in memory"),
        row(f"open the volume, find {KERNEL} ({LOOKUPS} rounds)", finds, "pytsk3", "", 1e6, "µs"),
    ]
    print_table(f"NTFS ({ROUNDS} rounds; volume made by mkntfs and wimlib-imagex)", rows)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    sys.exit(status)

#!/usr/bin/env python3
"""FAT32 throughput: 10,000 small files in nested folders, and one 1 GiB file, written into an
image and read back out, against mtools (mcopy) on the same work in the same run; for the 1 GiB
file also against the raw image-file write speed (the same bytes written straight into an image
file through bootmirror's ImageFile, with the same request size). And 1,000 files written one
call each (write_bytes), where every call pays its write barrier (an fsync between the data and
the entry that names it, so that a power cut never leaves an entry without its data), against
one mcopy of the same files, which orders nothing.

Both sides start from a freshly formatted image (formatting is not timed) and read the same host
files from the page cache; writes end with an fsync of the image on every side. The images live
beside the repository; the small files' host side (source and exported copies) lives in /dev/shm,
so that the case measures the tools rather than the host disk's file creation, which on a shared
disk varies tenfold from run to run.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, fsync, require, run, scratch, small_file_tree, table  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import fat  # noqa: E402

FILES = 10_000
BIG = 1 << 30
CHUNK = 8 << 20
REPEATS = 2
BIG_REPEATS = 3
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


def main() -> int:
    mcopy = require("mcopy")
    mkfs = require("mkfs.fat")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC="/dev/null")
    rows = []
    with scratch("fat") as folder, tempfile.TemporaryDirectory(prefix="bench-fat-", dir=SHM) as shm:
        small = Path(shm) / "small"
        small_bytes = small_file_tree(small, FILES)
        big_dir = folder / "big"
        big_dir.mkdir()
        big = big_dir / "one big file.bin"
        with open(big, "wb") as f:
            block = random.Random(2).randbytes(CHUNK)
            for _ in range(BIG // CHUNK):
                f.write(block)
        ours, theirs, raw = folder / "ours.img", folder / "mtools.img", folder / "raw.img"

        def fresh(size: int):
            def setup() -> None:
                for p in (ours, theirs, raw):
                    p.unlink(missing_ok=True)
                with bootmirror.Disk.create(ours, size) as disk:
                    fat.format(disk, "FAT32")
                run([mkfs, "-F", "32", "-C", str(theirs), str(size // 1024)])
                os.sync()  # earlier runs' writeback must not land inside the next timing
            return setup

        def write_ours(src: Path):
            def work() -> None:
                with bootmirror.Disk.open(ours, writable=True) as disk:
                    vol = fat.open(disk)
                    vol.import_tree(src, "")
                    vol.flush()
            return work

        def write_mtools(src: Path):
            def work() -> None:
                import subprocess
                items = [str(p) for p in sorted(src.iterdir())]
                subprocess.run([mcopy, "-s", "-i", str(theirs), *items, "::/"], check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                fsync(theirs)
            return work

        def fresh_raw() -> None:
            # Like the FAT images, the raw image exists (sparse) before the timing starts.
            raw.unlink(missing_ok=True)
            with bootmirror.Disk.create(raw, BIG + (64 << 20)):
                pass
            os.sync()

        def write_raw() -> None:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            with bootmirror.Disk.open(raw, writable=True) as disk, open(big, "rb", buffering=0) as f:
                offset = 0
                while n := f.readinto(buffer):
                    disk.write(offset, view[:n])
                    offset += n
                disk.flush()

        def read_ours(out: Path):
            def work() -> None:
                with bootmirror.Disk.open(ours) as disk:
                    fat.open(disk).export_tree("", out)
            return work

        def read_mtools(out: Path):
            def work() -> None:
                import subprocess
                subprocess.run([mcopy, "-s", "-n", "-i", str(theirs), "::/*", str(out)], check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return work

        def clean(out: Path):
            def setup() -> None:
                import shutil
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                os.sync()
            return setup

        # Many small files.
        size = 512 << 20
        w_ours = best_of(REPEATS, write_ours(small), fresh(size))
        w_mt = best_of(1, write_mtools(small), fresh(size))  # mcopy is slow: once is enough
        fresh(size)()
        write_ours(small)()
        write_mtools(small)()
        r_ours = best_of(REPEATS, read_ours(Path(shm) / "out"), clean(Path(shm) / "out"))
        r_mt = best_of(1, read_mtools(Path(shm) / "out"), clean(Path(shm) / "out"))
        shutil.rmtree(Path(shm) / "out", ignore_errors=True)
        label = f"{FILES:,} files ({small_bytes / 2**20:.0f} MiB), nested folders"
        rows.append((f"write {label}", f"{w_ours:.2f} s", f"{w_mt:.2f} s", f"{w_mt / w_ours:.1f}x"))
        rows.append((f"read {label}", f"{r_ours:.2f} s", f"{r_mt:.2f} s", f"{r_mt / r_ours:.1f}x"))

        # Many small operations, each crash-safe on its own.
        flat = Path(shm) / "flat"
        flat.mkdir()
        for i in range(1000):
            (flat / f"file {i:04}.bin").write_bytes(random.Random(i).randbytes(4096))

        def write_each_ours() -> None:
            with bootmirror.Disk.open(ours, writable=True) as disk:
                vol = fat.open(disk)
                for p in sorted(flat.iterdir()):
                    vol.write_bytes(p.name, p.read_bytes())
                vol.flush()

        size = 512 << 20
        e_ours = best_of(REPEATS, write_each_ours, fresh(size))
        e_mt = best_of(1, write_mtools(flat), fresh(size))
        rows.append(("write 1,000 files of 4 KiB, one call each (a barrier per call)", f"{e_ours:.2f} s",
                     f"{e_mt:.2f} s", f"{e_mt / e_ours:.1f}x"))

        # One 1 GiB file.
        size = BIG + (128 << 20)
        mib = BIG / 2**20
        # The three writers take turns, so that a busy moment of the shared disk hits all of them.
        # Each round changes who goes first: no writer always follows the same neighbour.
        best = {"ours": float("inf"), "raw": float("inf"), "mtools": float("inf")}
        writers = [("ours", write_ours(big_dir), fresh(size)), ("raw", write_raw, fresh_raw),
                   ("mtools", write_mtools(big_dir), fresh(size))]
        for round_ in range(BIG_REPEATS):
            for name, work, setup in writers[round_:] + writers[:round_]:
                best[name] = min(best[name], best_of(1, work, setup))
        w_ours, w_raw, w_mt = best["ours"], best["raw"], best["mtools"]
        fresh(size)()
        write_ours(big_dir)()
        write_mtools(big_dir)()
        r_ours = best_of(REPEATS, read_ours(folder / "out"), clean(folder / "out"))
        r_mt = best_of(REPEATS, read_mtools(folder / "out"), clean(folder / "out"))
        rows.append(("write 1 GiB file", f"{mib / w_ours:,.0f} MiB/s", f"{mib / w_mt:,.0f} MiB/s",
                     f"{w_mt / w_ours:.1f}x"))
        rows.append(("write 1 GiB file vs raw image write", f"{mib / w_ours:,.0f} MiB/s",
                     f"raw {mib / w_raw:,.0f} MiB/s", f"{w_raw / w_ours:.2f}x"))
        rows.append(("read 1 GiB file", f"{mib / r_ours:,.0f} MiB/s", f"{mib / r_mt:,.0f} MiB/s",
                     f"{r_mt / r_ours:.1f}x"))
    print(table(("case", "bootmirror", "peer (mtools mcopy)", "ratio (>1: bootmirror faster)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

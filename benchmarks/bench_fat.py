#!/usr/bin/env python3
"""FAT32: 10,000 small files in 445 nested folders and one 1 GiB file, written into an image and
read back out, against mtools (mcopy) in the same run, with the floor of each: what any importer
or exporter must do and nothing else. And 1,000 files written one call each (write_bytes), where
every call pays its write barrier, against one mcopy of the same files (which orders nothing);
its floor is floors.cpp `barriers`: each file's data and FAT sector written, one fsync, then its
folder's sector, so that every file is durable, in order, before the next begins.

- writes: every side starts from a fresh image (mkfs.fat for mtools, fat.format for us, a plain
  file for the floor; not timed) and ends with an fsync of the image. The floor is
  benchmarks/floors.cpp `import`: open, pread and close each host file, stage the data in 8 MiB
  requests each started to the disk at once, one fsync; for the 1 GiB file, its `copy` (pread the
  host file, pwrite the image, in 8 MiB requests started the same way, fsync).
- reads come from the images mkfs.fat and mcopy made (another tool's FAT), into a fresh host
  folder; the floor is floors.cpp `export`: make the folders, and for each file pread its bytes
  from the image and create, write and close it (what every exporter pays), and `cp` of the 1
  GiB file.

The images live beside the repository; the small files' host side (source and exported copies)
lives in /dev/shm, so that the case measures the tools rather than the host disk's file creation.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, build_tool, fsync, print_table, require, rounds, row, run, scratch, small_file_tree  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import fat  # noqa: E402

FILES = 10_000
BIG = 1 << 30
CHUNK = 8 << 20
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
DATA_AREA = 4 << 20  # where the floor writes: past a FAT32's reserved sectors and FATs


def main() -> int:
    mcopy, mkfs, cp = require("mcopy"), require("mkfs.fat"), require("cp")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLSRC="/dev/null")
    rows = []
    with scratch("fat") as folder, tempfile.TemporaryDirectory(prefix="bench-fat-", dir=SHM) as shm:
        floors = str(build_tool("floors.cpp", folder))
        small = Path(shm) / "small"
        small_bytes = small_file_tree(small, FILES)
        big_dir = folder / "big"
        big_dir.mkdir()
        big = big_dir / "one big file.bin"
        with open(big, "wb") as f:
            block = random.Random(2).randbytes(CHUNK)
            for _ in range(BIG // CHUNK):
                f.write(block)
        ours, theirs, raw = folder / "ours.img", folder / "mtools.img", folder / "floor.img"

        def fresh(size: int, side: str):
            def setup() -> None:
                if side == "bootmirror":
                    ours.unlink(missing_ok=True)
                    with bootmirror.Disk.create(ours, size) as disk:
                        fat.format(disk, "FAT32")
                elif side == "peer":
                    theirs.unlink(missing_ok=True)
                    run([mkfs, "-F", "32", "-C", str(theirs), str(size // 1024)])
                else:
                    raw.unlink(missing_ok=True)
                    with open(raw, "wb") as f:
                        f.truncate(size)
                os.sync()  # earlier runs' writeback must not land inside the next timing
            return setup

        def import_ours(src: Path):
            def work() -> None:
                with bootmirror.Disk.open(ours, writable=True) as disk:
                    vol = fat.open(disk)
                    vol.import_tree(src, "")
                    vol.flush()
            return work

        def mcopy_in(src: Path):
            def work() -> None:
                items = [str(p) for p in sorted(src.iterdir())]
                run([mcopy, "-s", "-i", str(theirs), *items, "::/"], env=env)
                fsync(theirs)
            return work

        def export_ours(out: Path):
            def work() -> None:
                with bootmirror.Disk.open(theirs) as disk:
                    fat.open(disk).export_tree("", out / "bootmirror")
            return work

        def clean(out: Path, side: str):
            def setup() -> None:
                shutil.rmtree(out / side, ignore_errors=True)
                (out / side).mkdir(parents=True)
                os.sync()
            return setup

        def write_and_read(label: str, src: Path, size: int, write_floor, read_floor, out: Path, unit):
            writers = {"bootmirror": import_ours(src), "peer": mcopy_in(src), "floor": write_floor}
            times = rounds(writers, ROUNDS, {side: fresh(size, side) for side in writers})
            rows.append(row(f"write {label}", times, "mcopy -s", write_floor.__doc__, *unit))
            # The reads start from the image mkfs.fat and mcopy made.
            fresh(size, "peer")()
            mcopy_in(src)()
            readers = {
                "bootmirror": export_ours(out),
                "peer": lambda: run([mcopy, "-s", "-n", "-i", str(theirs), "::/*", str(out / "peer")], env=env),
                "floor": lambda: read_floor(out / "floor"),
            }
            times = rounds(readers, ROUNDS, {side: clean(out, side) for side in readers})
            rows.append(row(f"read {label} (image made by mkfs.fat + mcopy)", times, "mcopy -s", read_floor.__doc__, *unit))
            shutil.rmtree(out, ignore_errors=True)

        # Many small files.
        def import_floor() -> None:
            """floors import"""
            run([floors, "import", str(small), str(raw), str(DATA_AREA)])

        export_list = folder / "export-list.txt"
        lines = []
        for here, dirs, files in os.walk(small):
            dirs.sort()
            rel = Path(here).relative_to(small)
            if rel != Path("."):
                lines.append(f"D {rel}")
            lines += [f"F {(Path(here) / f).stat().st_size} {rel / f}" for f in sorted(files)]
        export_list.write_text("\n".join(lines) + "\n")

        def export_floor(out: Path) -> None:
            """floors export"""
            run([floors, "export", str(export_list), str(theirs), str(out)])

        write_and_read(f"{FILES:,} files ({small_bytes / 2**20:.0f} MiB), 445 folders", small, 512 << 20, import_floor,
                       export_floor, Path(shm) / "out", (1e3, "ms"))

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

        def barriers_floor() -> None:
            """floors barriers: one fsync a file"""
            run([floors, "barriers", str(raw), "1000", str(DATA_AREA)])

        writers = {"bootmirror": write_each_ours, "peer": mcopy_in(flat), "floor": barriers_floor}
        times = rounds(writers, ROUNDS, {side: fresh(512 << 20, side) for side in writers})
        rows.append(row("write 1,000 files of 4 KiB, one call each (a barrier per call)", times, "one mcopy",
                        barriers_floor.__doc__, 1, "s"))

        # One 1 GiB file.
        def write_floor() -> None:
            """floors copy (8 MiB requests)"""
            run([floors, "copy", str(big), str(raw), str(CHUNK)])

        def cp_file(out: Path) -> None:
            """cp of the file"""
            run([cp, str(big), str(out)])

        write_and_read("1 GiB file", big_dir, BIG + (128 << 20), write_floor, cp_file, folder / "out", (1, "s"))
    print_table(f"FAT32 ({ROUNDS} rounds; peer mtools {subprocess.run([mcopy, '--version'], capture_output=True, text=True).stdout.split()[3]})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

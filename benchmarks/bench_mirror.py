#!/usr/bin/env python3
"""Mirror rebuild and verify between image files, against cp and xxhsum on the same bytes, with
the floor of each in the same run.

- rebuild of a 4 GiB fully written volume (a new plex on a second image) against
  `cp --sparse=never` of a 4 GiB file holding the same bytes, both followed by an fsync of the
  copy; the rebuild also reads its copy back and compares it (hot cache) before it serves. The
  floor is benchmarks/floors.cpp `copy`: pread, pwrite with a page-aligned 4 MiB buffer, each
  request started to the disk at once (sync_file_range), fsync. The rebuild writes over the
  blocks its image holds from the round before, and so does the floor over its own file; cp
  writes a new file each round (its copy is removed before every run of any side);
- rebuild of a 64 GiB sparse volume holding 1 GiB of data against `cp` of that 1 GiB alone (and
  the floor's copy of it);
- verify of the 4 GiB mirror (XXH3-128 of both plexes, in parallel on the two cores) against
  `xxhsum -H2` over the two disk images that hold the plexes, one after the other; the floor is
  two `xxhsum -H2` at once, one per image (the hash itself, with both cores). The images hold
  64 MiB more than their plexes: the rows give times, the title the bytes;
- a plex back after 1% of its 4 GiB volume was written while its disk was gone (m.fail_disk, then
  m.attach of the same image): the bytes it copies from its write-intent bitmap (the process's
  write count, /proc/self/io) and its time, against the full rebuild of `add disk=1` on the same
  machine (one round: it needs a machine of its own).

Every case runs ROUNDS rounds, bootmirror, its peer and the floor back to back in rotating order.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, build_tool, fsync, print_table, require, rounds, row, run, scratch, table  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import _core, ldm  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20


def fill(path: Path, size: int, data_bytes: int) -> None:
    """`data_bytes` of non-zero pattern at the start of a sparse file of `size` bytes."""
    block = bytes((i * 131 + i // 4096) & 0xFF | 1 for i in range(4 * MiB))
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(data_bytes // len(block)):
            f.write(block)


def mirror_pair(folder: Path, volume_bytes: int, data_bytes: int):
    """Two images in one disk group: a simple volume of `volume_bytes` on the first, holding
    `data_bytes` of data, and room for its second plex on the other. Returns (group, plex index)."""
    disks = [bootmirror.Disk.create(folder / f"disk{i}.img", volume_bytes + 64 * MiB) for i in range(2)]
    group = ldm.DiskGroup.create("BENCH-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    volume = group.create_volume("Volume1", "simple", [(a, 0, volume_bytes // 512)])
    group.commit()
    block = bytes((i * 131 + i // 4096) & 0xFF | 1 for i in range(4 * MiB))
    device = volume.device()
    for at in range(0, data_bytes, len(block)):
        device.write(at, block)
    device.flush()
    group.add_mirror(volume, b)
    group.commit()
    return group


def rebuild_once(group) -> None:
    (volume,) = group.volumes
    device = volume.device().device
    plex = next(i for i, p in enumerate(device.plexes) if p.name.endswith("-02"))
    _core.mirror.rebuild(device, plex)


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def written_bytes() -> int:
    """Bytes this process has written so far (write(2)/pwrite(2) calls: /proc/self/io wchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise SystemExit("/proc/self/io has no wchar line")


def bitmap_return(folder: Path):
    """(full rebuild seconds, bitmap copy seconds, bytes the bitmap copy wrote, volume bytes)."""
    m = bootmirror.Machine.create(folder / "lab")
    for _ in range(2):
        m.create_disk(4 * GiB + 64 * MiB)
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=4096\nassign letter=e\nconvert dynamic\n"
               "select disk 1\nconvert gpt\nconvert dynamic", check=True)
    device = m.dynamic_volume("e").device
    block = bytes((i * 131 + i // 4096) & 0xFF | 1 for i in range(4 * MiB))
    for at in range(0, device.size - len(block) + 1, len(block)):
        device.write(at, block)
    device.flush()
    full = timed(lambda: (m.diskpart("select volume e\nadd disk=1", check=True), m.wait()))
    image = m.disks[1].path
    m.fail_disk(1)
    one_percent = device.size // 100 // MiB * MiB
    for at in range(GiB, GiB + one_percent, MiB):
        device.write(at, block[:MiB])
    device.flush()
    before = written_bytes()
    back = timed(lambda: (m.attach(image), m.wait()))
    copied = written_bytes() - before
    assert m.dynamic_volume("e").status == "Healthy"
    size = device.size
    m.close()
    return full, back, copied, size


def main() -> int:
    cp, xxhsum = require("cp"), require("xxhsum")
    rows = []
    with scratch("mirror") as folder:
        floors = str(build_tool("floors.cpp", folder))
        # 4 GiB fully written.
        group = mirror_pair(folder, 4 * GiB, 4 * GiB)
        src, dst, floor_dst = folder / "src.bin", folder / "dst.bin", folder / "floor.bin"
        fill(src, 4 * GiB, 4 * GiB)

        def copies():
            cases = {
                "bootmirror": lambda: rebuild_once(group),
                "peer": lambda: (run([cp, "--sparse=never", str(src), str(dst)]), fsync(dst)),
                "floor": lambda: run([floors, "copy", str(src), str(floor_dst), str(4 * MiB)]),
            }
            # cp's copy goes before every run, so that each side runs with the same files in the
            # page cache; the floor's stays, to be written over in place as the rebuild writes
            # over its image.
            setups = {side: lambda: dst.unlink(missing_ok=True) for side in cases}
            return rounds(cases, ROUNDS, setups)

        rows.append(row("rebuild 4 GiB written volume (and compare it)", copies(), "cp --sparse=never + fsync",
                        "pread/pwrite loop + fsync", 1, "s"))

        # The copy's files go first: the images alone stay in the page cache for every side.
        for p in (src, dst, floor_dst):
            p.unlink(missing_ok=True)
        (volume,) = group.volumes
        device = volume.device().device
        images = [str(folder / "disk0.img"), str(folder / "disk1.img")]

        def both_at_once() -> None:
            running = [subprocess.Popen([xxhsum, "-H2", image], stdout=subprocess.DEVNULL) for image in images]
            for p in running:
                p.wait()

        times = rounds({"bootmirror": lambda: device.verify(), "peer": lambda: run([xxhsum, "-H2", *images]),
                        "floor": both_at_once}, ROUNDS)
        rows.append(row("verify 4 GiB mirror (both plexes, 8 GiB; xxhsum hashes the images, 8.125 GiB)", times,
                        "xxhsum -H2, one after the other", "two xxhsum -H2 at once", 1, "s"))
        for p in images:
            Path(p).unlink(missing_ok=True)

        # 64 GiB sparse, 1 GiB of data.
        sparse_folder = folder / "sparse"
        sparse_folder.mkdir()
        group = mirror_pair(sparse_folder, 64 * GiB, 1 * GiB)
        fill(src, 1 * GiB, 1 * GiB)
        rows.append(row("rebuild 64 GiB sparse volume, 1 GiB data", copies(), "cp of the 1 GiB + fsync",
                        "copy loop of the 1 GiB + fsync", 1, "s"))
        for p in sparse_folder.glob("*.img"):
            p.unlink()
        full, back, copied, size = bitmap_return(folder / "bitmap")
    print_table(f"Mirrors ({ROUNDS} rounds; image files beside the repository)", rows)
    print()
    print(table(("case (one round)", "bootmirror", "against", "ratio"),
                [("plex back after 1% written (write-intent bitmap)", f"{back:.2f} s, {copied / size:.2%} copied",
                  f"full rebuild (add disk=1): {full:.2f} s", f"{back / full:.1%} of its time")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

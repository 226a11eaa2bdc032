#!/usr/bin/env python3
"""Mirror rebuild and verify between image files, against cp and xxhsum on the same bytes.

- rebuild of a 4 GiB fully written volume (a new plex on a second image) against
  `cp --sparse=never` of a 4 GiB file holding the same bytes, both followed by an fsync of the
  copy; the rebuild also reads its copy back and compares it (hot cache) before it serves;
- rebuild of a 64 GiB sparse volume holding 1 GiB of data against `cp` of that 1 GiB alone;
- verify of the 4 GiB mirror (XXH3-128 of both plexes, in parallel) against `xxhsum -H2` over
  the two disk images that hold the plexes, one after the other (each throughput by the bytes it
  hashed: the images hold 64 MiB more than their plexes);
- a plex back after 1% of its 4 GiB volume was written while its disk was gone (m.fail_disk, then
  m.attach of the same image): the bytes it copies from its write-intent bitmap (the process's
  write count, /proc/self/io) and its time, against the full rebuild of `add disk=1` on the same
  machine.

Every case runs ROUNDS times, bootmirror and its peer back to back in alternating order; the
table gives both medians and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fsync, require, run, scratch, table  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import _core, ldm  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20
ROUNDS = 5


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


def compare(ours_work, peer_work, setup=lambda: None):
    ours, peer = [], []
    for r in range(ROUNDS):
        for side in ((0, 1) if r % 2 == 0 else (1, 0)):
            setup()
            (ours if side == 0 else peer).append(timed(ours_work if side == 0 else peer_work))
    return statistics.median(ours), statistics.median(peer)


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
        # 4 GiB fully written.
        group = mirror_pair(folder, 4 * GiB, 4 * GiB)
        src, dst = folder / "src.bin", folder / "dst.bin"
        fill(src, 4 * GiB, 4 * GiB)

        def peer_copy():
            run([cp, "--sparse=never", str(src), str(dst)])
            fsync(dst)

        ours, peer = compare(lambda: rebuild_once(group), peer_copy, lambda: dst.unlink(missing_ok=True))
        rows.append(("rebuild 4 GiB written volume", f"{4 * 1024 / ours:,.0f} MiB/s", f"{4 * 1024 / peer:,.0f} MiB/s",
                     "cp --sparse=never + fsync", f"{peer / ours:.2f}x"))

        # The copy's files go first: the images alone stay in the page cache for both sides.
        for p in (src, dst):
            p.unlink(missing_ok=True)
        (volume,) = group.volumes
        device = volume.device().device
        images = [folder / "disk0.img", folder / "disk1.img"]
        image_bytes = sum(p.stat().st_size for p in images)
        ours, peer = compare(lambda: device.verify(), lambda: run([xxhsum, "-H2", *map(str, images)]))
        ours_rate, peer_rate = 8 * GiB / MiB / ours, image_bytes / MiB / peer
        rows.append(("verify 4 GiB mirror (both plexes)", f"{ours_rate:,.0f} MiB/s", f"{peer_rate:,.0f} MiB/s",
                     "xxhsum -H2, the two images", f"{ours_rate / peer_rate:.2f}x"))
        for p in images:
            p.unlink(missing_ok=True)

        # 64 GiB sparse, 1 GiB of data.
        sparse_folder = folder / "sparse"
        sparse_folder.mkdir()
        group = mirror_pair(sparse_folder, 64 * GiB, 1 * GiB)
        fill(src, 1 * GiB, 1 * GiB)
        ours, peer = compare(lambda: rebuild_once(group), peer_copy, lambda: dst.unlink(missing_ok=True))
        rows.append(("rebuild 64 GiB sparse volume, 1 GiB data", f"{ours:.2f} s", f"{peer:.2f} s", "cp of the 1 GiB",
                     f"{peer / ours:.2f}x"))
        for p in sparse_folder.glob("*.img"):
            p.unlink()
        full, back, copied, size = bitmap_return(folder / "bitmap")
        rows.append(("plex back after 1% written (write-intent bitmap)", f"{back:.2f} s, {copied / size:.2%} copied",
                     f"{full:.2f} s", "full rebuild (add disk=1)", f"{back / full:.1%} of its time"))
    print(table(("case", "bootmirror", "peer", "peer is", "ratio (>1: bootmirror faster)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

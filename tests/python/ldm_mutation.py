"""The LDM mutation test's machinery (issue 9): random byte and bit flips, block overwrites and
truncations of the LDM metadata (MBR or GPT, the PRIVHEAD copies, the TOCBLOCKs, the VMDB, the VBLK
records, the KLOG) of groups bootmirror wrote and of the 19 Windows images; each damaged set is
opened and explored in full. Only bootmirror errors and OSError may come out; no write may reach
an image.

A case is a plain dict (JSON), so that a child process can run one by itself: `python
ldm_mutation.py '<case>'` exits 0 when the case holds, 1 when it fails (the reason on stderr), and
dies by a signal on a crash."""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bootmirror  # noqa: E402
from bootmirror import ldm  # noqa: E402
from ldm_helpers import MiB, explore, layout  # noqa: E402

ALLOWED = (bootmirror.Error, OSError)


# -- bases --------------------------------------------------------------------------------------

def make_ours(folder: Path) -> List[Dict]:
    """Image sets bootmirror writes: an MBR mirror pair (with a spanned and a simple volume), the
    same on 4096-byte sectors, and a GPT disk converted as Windows converts one."""
    bases = []
    for sector_size in (512, 4096):
        paths = [folder / f"ours-{sector_size}-{i}.img" for i in range(2)]
        for p in paths:
            bootmirror.Disk.create(p, 16 * MiB * (sector_size // 512), sector_size).close()
        disks = [bootmirror.Disk.open(p, writable=True, sector_size=sector_size) for p in paths]
        group = ldm.DiskGroup.create("WIN-MUT-Dg0")
        a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
        unit = 4096 // (sector_size // 512)
        group.create_volume("Volume1", "mirrored", [(a, 0, unit), (b, 0, unit)], drive_hint="C:")
        group.create_volume("Volume2", "spanned", [(a, unit, unit // 2), (b, unit, unit // 2)])
        group.create_volume("Volume3", "simple", [(a, 2 * unit, unit // 4)], drive_hint="E:")
        group.commit()
        for d in disks:
            d.close()
        bases.append({"name": f"ours-mbr-{sector_size}", "paths": [str(p) for p in paths], "sector_size": sector_size})
    path = folder / "ours-gpt.img"
    bootmirror.Disk.create(path, 160 * MiB).close()
    with bootmirror.Disk.open(path, writable=True) as disk:
        disk.convert_gpt()
        disk.create_partition("primary", "16 MiB")
        ldm.convert_dynamic(disk, name="WIN-MUTGPT-Dg0")
    bases.append({"name": "ours-gpt", "paths": [str(path)], "sector_size": 512})
    return bases


def windows_bases(paths: List[Path]) -> List[Dict]:
    return [{"name": prefix, "paths": [str(p) for p in paths if p.name.startswith(prefix)], "sector_size": 512}
            for prefix in ("ldm-2003r2-", "ldm-2008r2-")]


def regions(path: str, sector_size: int) -> List[List[int]]:
    """(offset, length, weight) of every LDM metadata structure of one disk."""
    disk = bootmirror.Disk.open(path, sector_size=sector_size)
    lay = layout_of(disk)
    ss = sector_size
    out = [[0, 512, 1]]
    if disk.read(0x1BE + 4, 1) == b"\xee":
        out.append([ss, 33 * ss, 1])  # GPT header and entries: they say where the PRIVHEAD is
    out += [[p, ss, 2] for p in lay.privheads]
    out += [[t, ss, 2] for t in lay.tocs]
    out.append([lay.vmdb, ss, 2])
    used = [n for n in range(lay.first_slot, lay.last_slot)
            if struct.unpack(">H", disk.read(lay.vmdb + n * lay.vblk_size + 14, 2))[0] != 0]
    end = (max(used) + 2) * lay.vblk_size
    start = lay.first_slot * lay.vblk_size
    out.append([lay.vmdb + start, end - start, 8])
    klog = lay.config + (1498 if ss == 512 else 188) * ss
    out.append([klog, 2 * ss, 1])
    disk.close()
    return out


def layout_of(disk):
    """ldm_helpers.layout, for 4096-byte sectors too (its offsets are in sectors of the disk)."""
    if disk.sector_size == 512:
        return layout(disk)
    ss = disk.sector_size
    ph = disk.read(6 * ss, ss)
    config_lba, config_sectors = struct.unpack_from(">QQ", ph, 0x12B)
    config = config_lba * ss
    vmdb = config + struct.unpack_from(">Q", disk.read(config + 2 * ss, ss), 0x2E)[0] * ss
    last, vblk_size, first = struct.unpack_from(">III", disk.read(vmdb, ss), 4)
    from ldm_helpers import Layout

    return Layout([6 * ss, config + 232 * ss, config + 255 * ss], config, config_sectors * ss,
                  [config + s * ss for s in (1, 2, config_sectors - 3, config_sectors - 2)], vmdb, vblk_size,
                  first // vblk_size, last)


# -- cases --------------------------------------------------------------------------------------

def make_case(rng: random.Random, base: Dict, region_map: Dict[str, List[List[int]]]) -> Dict:
    paths = base["paths"]
    # A subset of a set's disks now and then: the group must be read from whatever is there.
    chosen = list(range(len(paths)))
    if len(paths) > 2 and rng.random() < 0.3:
        chosen = sorted(rng.sample(chosen, rng.randint(1, len(paths) - 1)))
    mutations = []
    truncate: Dict[int, int] = {}
    for _ in range(rng.randint(1, 8)):
        disk = rng.choice(chosen)
        regs = region_map[paths[disk]]
        offset, length, _ = rng.choices(regs, weights=[r[2] for r in regs])[0]
        at = offset + rng.randrange(length)
        kind = rng.choices(["byte", "bit", "block", "word", "truncate"], weights=[4, 4, 2, 3, 0.4])[0]
        if kind == "byte":
            mutations.append([disk, at, [rng.randrange(256)]])
        elif kind == "bit":
            mutations.append([disk, at, None, 1 << rng.randrange(8)])
        elif kind == "word":
            # Field-sized values that matter most: 0, all ones, and near the 64-bit edge.
            value = rng.choice([0, 0xFFFFFFFF, (1 << 64) - 1, (1 << 63), rng.randrange(1 << 64)])
            width = rng.choice([2, 4, 8])
            mutations.append([disk, at, list((value & ((1 << (8 * width)) - 1)).to_bytes(width, "big"))])
        elif kind == "block":
            n = rng.randint(1, 512)
            fill = rng.choice(["zero", "ff", "random"])
            data = [0] * n if fill == "zero" else [255] * n if fill == "ff" else [rng.randrange(256) for _ in range(n)]
            mutations.append([disk, at, data])
        else:
            truncate[disk] = at - at % 512 if rng.random() < 0.5 else at
    return {"base": base, "disks": chosen, "mutations": mutations, "truncate": {str(k): v for k, v in truncate.items()}}


def apply(case: Dict) -> List[List]:
    """Writes the case's damage into the images; returns what to write back to undo it."""
    undo = []
    base = case["base"]
    opened = {}
    for m in case["mutations"]:
        disk, at = m[0], m[1]
        dev = opened.setdefault(disk, bootmirror.Disk.open(base["paths"][disk], writable=True, sector_size=base["sector_size"]))
        if m[2] is None:  # a bit flip
            old = dev.read(at, 1)
            new = bytes([old[0] ^ m[3]])
        else:
            new = bytes(m[2])
            new = new[:dev.size - at]
            old = dev.read(at, len(new))
        undo.append([disk, at, list(old)])
        dev.write(at, new)
    for d in opened.values():
        d.close()
    return list(reversed(undo))


def restore(case: Dict, undo: List[List]) -> None:
    base = case["base"]
    for disk, at, old in undo:
        with bootmirror.Disk.open(base["paths"][disk], writable=True, sector_size=base["sector_size"]) as dev:
            dev.write(at, bytes(old))


# -- exploring ------------------------------------------------------------------------------------

def guarded(call):
    try:
        return call()
    except ALLOWED:
        return None


def explore_case(case: Dict) -> Optional[str]:
    """Opens the damaged disks (truncated where the case says), explores everything; returns why the
    case fails, or None. Any exception but bootmirror's and OSError escapes."""
    base = case["base"]
    faulty = []
    for i in case["disks"]:
        image = bootmirror._core.ImageFile.open(base["paths"][i], True, base["sector_size"], False)
        device = image
        cut = case["truncate"].get(str(i))
        if cut is not None:
            device = bootmirror._core.Slice(image, 0, cut)
        f = bootmirror.FaultyDisk(device)
        f.cut_power_after(0)  # a stray write must not damage the base for the next cases
        faulty.append(f)
    for d in faulty:
        guarded(lambda: ldm.is_dynamic(d))
        health = guarded(lambda: ldm.verify(d))
        if health is not None:
            repr(health.damage), health.problems, health.clean, health.readable, health.is_dynamic
        guarded(lambda: bootmirror._core.ldm.reencode_config(d.device))
    found = guarded(lambda: ldm.scan(faulty))
    if found is not None and found[0] is not None:
        explore(found[0], guarded)
    group = guarded(lambda: ldm.read_group(faulty))
    if group is not None:
        explore(group, guarded)
    for d in faulty[:2]:
        alone = guarded(lambda: ldm.read_group([d]))
        if alone is not None:
            explore(alone, guarded)
    written = [d.writes_seen for d in faulty]
    if any(written):
        return f"reading wrote: writes seen per disk {written}"
    return None


def check(case: Dict) -> Optional[str]:
    """Applies, explores and undoes one case."""
    undo = apply(case)
    try:
        return explore_case(case)
    finally:
        restore(case, undo)


if __name__ == "__main__":
    # A child process: the parent has applied the case's damage; explore only.
    problem = explore_case(json.loads(sys.argv[1]))
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)

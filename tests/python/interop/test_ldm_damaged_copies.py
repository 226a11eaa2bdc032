"""One damaged copy of an LDM header never hides a good one (issue 9). Every dynamic disk keeps
three PRIVHEADs and up to four TOCBLOCKs. libldm reads the PRIVHEAD at LBA 6 (MBR) or the metadata
partition's last LBA (GPT), and only the TOCBLOCK at config+2; the kernel wants the PRIVHEAD at
+1856 to agree and takes any valid TOCBLOCKs (reference/ldm-on-disk.md in the test data folder).
bootmirror uses the first valid copy of each and ldm.verify() names the damaged ones with their
offsets.

ldmtool (libldm) is the outside reader: where it reads the damaged disk, bootmirror must show the
same group, volumes, partitions and disks; where it cannot (the copy it reads is the damaged one),
bootmirror must still show what ldmtool showed before the damage."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

import bootmirror
from bootmirror import ldm
from conftest import run_tool
from ldm_helpers import MiB, digest, layout, unpack_windows

S = 512


def ldmtool_view(paths):
    """What ldmtool shows of the one group on `paths`: group, volumes with their partitions, disks;
    None when it finds no group on the first disk alone (a disk it cannot read)."""
    alone = json.loads(run_tool(["ldmtool", "scan", str(paths[0])]).stdout)
    if not alone:
        return None
    devs = [a for p in paths for a in ("-d", str(p))]
    (guid,) = json.loads(run_tool(["ldmtool", *devs, "scan"]).stdout)
    show = lambda *args: json.loads(run_tool(["ldmtool", *devs, "show", *args]).stdout)  # noqa: E731
    group = show("diskgroup", guid)
    volumes = []
    for name in group["volumes"]:
        v = show("volume", guid, name)
        parts = [show("partition", guid, p) for p in v["partitions"]]
        volumes.append((v["name"], v["guid"], v["type"], v["size"], v.get("hint"),
                        [(p["name"], p["start"], p["size"], p["disk"]) for p in parts]))
    disks = []
    for name in group["disks"]:
        d = show("disk", guid, name)
        disks.append((d["name"], d["guid"], d["present"], d.get("data-start"), d.get("data-size"), d.get("metadata-start")))
    return guid, group["name"], volumes, disks


def our_view(paths):
    group = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    volumes = [(v.name, v.guid, {"raid5": "RAID5"}.get(v.layout, v.layout), v.size, v.drive_hint,
                [(p.name, p.start, p.size, p.disk.name) for p in v.partitions]) for v in group.volumes]
    disks = [(d.name, d.guid, d.present) + ((d.data_start, d.data_size, d.config_start) if d.present else (None, None, None))
             for d in group.disks]
    return group.guid, group.name, volumes, disks


def toc_name(at):
    return lambda disk, lay: disk.write(lay.tocs[at] + 0x24, b"\xffonfig\0")


def toc_size(at):
    # A valid copy that disagrees: its config bitmap one sector shorter.
    def damage(disk, lay):
        size = struct.unpack(">Q", disk.read(lay.tocs[at] + 0x36, 8))[0]
        disk.write(lay.tocs[at] + 0x36, struct.pack(">Q", size - 1))
    return damage


def privhead(at):
    return lambda disk, lay: disk.write(lay.privheads[at] + 0x12B, struct.pack(">Q", 1 << 40))


# (damage, the copy it hits as (layout list, index), whether libldm still reads the disk)
CASES = {
    "TOCBLOCK config+1 name": (toc_name(0), ("tocs", 0), True),
    "TOCBLOCK end-3 name": (toc_name(2), ("tocs", 2), True),
    "TOCBLOCK end-2 name": (toc_name(3), ("tocs", 3), True),
    "TOCBLOCK end-3 disagrees": (toc_size(2), ("tocs", 2), True),
    "TOCBLOCK config+2 name": (toc_name(1), ("tocs", 1), False),
    "PRIVHEAD config+1856": (privhead(-2), ("privheads", -2), True),
    "PRIVHEAD config+2047": (privhead(-1), ("privheads", -1), True),
    "PRIVHEAD LBA 6": (privhead(0), ("privheads", 0), False),
}


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    return unpack_windows(tmp_path_factory.mktemp("ldm-copies"), ["ldm-2003r2-mirrored-1.img", "ldm-2003r2-mirrored-2.img"])


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    """Two image files holding a mirror bootmirror wrote."""
    out = tmp_path_factory.mktemp("ldm-copies-ours")
    paths = [out / "d0.img", out / "d1.img"]
    for p in paths:
        bootmirror.Disk.create(p, 32 * MiB).close()
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.DiskGroup.create("WIN-COPIES-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 8192), (b, 0, 8192)], drive_hint="C:")
    group.create_volume("Volume2", "simple", [(a, 8192, 4096)])
    group.commit()
    for d in disks:
        d.close()
    return paths


@pytest.mark.parametrize("source", ["windows", "ours"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_one_damaged_copy_does_not_hide_the_others(request, tmp_path, source, case):
    damage, (kind, index), libldm_reads = CASES[case]
    originals = request.getfixturevalue(source)
    paths = [tmp_path / p.name for p in originals]
    for p, q in zip(originals, paths):
        shutil.copyfile(p, q)
    before_damage = ldmtool_view(paths)
    assert before_damage is not None and our_view(paths) == before_damage
    with bootmirror.Disk.open(paths[0], writable=True) as disk:
        lay = layout(disk)
        damage(disk, lay)
    damaged_at = getattr(lay, kind)[index]
    hashes = [digest([bootmirror.Disk.open(p)])[0] for p in paths]

    # bootmirror reads the group as ldmtool did before the damage, from the first disk alone too.
    assert our_view(paths) == before_damage
    alone = ldm.read_group([bootmirror.Disk.open(paths[0])])
    assert [d.disk.path for d in alone.disks if d.present] == [str(paths[0])]
    assert [v.name for v in alone.volumes] == [v[0] for v in before_damage[2]]
    health = ldm.verify(bootmirror.Disk.open(paths[0]))
    assert health.readable and not health.clean
    structure = {"tocs": "TOCBLOCK", "privheads": "PRIVHEAD"}[kind]
    assert [(d.structure, d.offset - d.offset % S) for d in health.damage] == [(structure, damaged_at)], health.problems
    assert ldm.verify(bootmirror.Disk.open(paths[1])).clean

    # ldmtool reads the damaged disk exactly when the copy it reads is intact, and then sees what we see.
    after = ldmtool_view(paths)
    if libldm_reads:
        assert after == our_view(paths)
    else:
        assert after is None
    # Nothing was written by reading, verifying or scanning.
    ldm.scan([bootmirror.Disk.open(p) for p in paths])
    assert [digest([bootmirror.Disk.open(p)])[0] for p in paths] == hashes

"""LDM commits under the write-back crash model, on databases Windows made (the 2003 R2 and 2008 R2
images) and on our own: after any crash the group reads as the old one or the new one, never a
mix; the restart's catch-up commit (stale_disks) leaves disks that ldmtool reads as we do."""

from __future__ import annotations

from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, ldm
from crash_helpers import completed, states, to_file
from ldm_helpers import assert_ldmtool_sees, layout, two_disk_group, unpack_windows


def _shape(group: ldm.DiskGroup):
    """What the group holds: its disks and every volume's layout, size, letter and extents."""
    volumes = sorted(
        (v.name, v.layout, v.size, v.drive_hint, tuple((p.disk.name, p.start, p.size) for p in v.partitions))
        for v in group.volumes)
    return (group.guid, tuple(sorted(d.name for d in group.disks)), tuple(volumes))


def _read(disks):
    try:
        return _shape(ldm.read_group(disks))
    except bootmirror.FormatError as e:
        return ("unreadable", str(e))


def _edits():
    """Edits of a group, each a function of (group) that leaves it ready to commit."""

    def new_simple(g: ldm.DiskGroup) -> None:
        disk = max(g.disks, key=lambda d: max((n for _, n in d.free_extents()), default=0))
        start, size = max(disk.free_extents(), key=lambda e: e[1])
        g.create_volume("Crash1", "simple", [(disk, start, min(size, 2048))], drive_hint="Q:")

    def break_first_mirror(g: ldm.DiskGroup) -> None:
        volume = next(v for v in g.volumes if v.layout == "mirrored")
        g.break_mirror(volume, volume.plexes[-1].partitions[0].disk)

    def delete_last_volume(g: ldm.DiskGroup) -> None:
        g.delete_volume(g.volumes[-1])

    return {"create volume": new_simple, "break mirror": break_first_mirror, "delete volume": delete_last_volume}


EDITS = _edits()


def _windows(tmp_path: Path, prefix: str):
    paths = unpack_windows(tmp_path / "windows", prefix=prefix)
    return [Disk.open(p) for p in paths]


GROUPS = {
    "our mirrored MBR pair": lambda tmp: two_disk_group()[1],
    "Windows 2003 R2 group": lambda tmp: _windows(tmp, "ldm-2003r2-"),
    "Windows 2008 R2 mirror": lambda tmp: _windows(tmp, "ldm-2008r2-mirrored-"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("source", sorted(GROUPS))
def test_every_crash_in_a_commit_leaves_the_old_group_or_the_new_one(source, edit, tmp_path):
    bases = GROUPS[source](tmp_path)
    old = _read(bases)

    def operation(disks):
        group = ldm.read_group(disks)
        EDITS[edit](group)
        group.commit()

    new = _read(completed(operation, bases))
    assert old != new and "unreadable" not in (old[0], new[0])
    checked_by_ldmtool = 0
    for k, (state, disks) in enumerate(states(operation, bases, f"ldm: {edit}, {source}")):
        seen = _read(disks)
        assert seen in (old, new), state.description
        # The restart brings every disk up to the newest committed database; then libldm, which
        # counts every record it finds, reads the disks again.
        group = ldm.read_group(disks)
        if group.stale_disks:
            group.commit()
            assert not group.stale_disks, state.description
        assert _shape(ldm.read_group(disks)) == seen, state.description
        if k % 3 == 0:  # ldmtool on a sample: each call reads every image again
            paths = [to_file(d, tmp_path / f"s{k}-{i}.img") for i, d in enumerate(disks)]
            assert_ldmtool_sees(ldm.read_group([Disk.open(p) for p in paths]), paths)
            for p in paths:
                p.unlink()
            checked_by_ldmtool += 1
    assert checked_by_ldmtool > 0


@pytest.mark.parametrize("source", sorted(GROUPS))
def test_every_crash_in_a_repair_leaves_the_group_readable_and_a_second_repair_finishes(source, tmp_path):
    """ldm repair rewrites a damaged disk's whole database (here a TOCBLOCK copy and a VBLK of the
    first disk) from the group: after any crash the group reads as it did, and a second repair
    leaves every disk's copies clean."""
    bases = [Disk.overlay(d) for d in GROUPS[source](tmp_path)]
    first = bases[0]
    lay = layout(first)
    first.write(lay.tocs[0] + 0x24, b"\xffonfig\0")
    first.write(lay.vmdb + lay.first_slot * lay.vblk_size, b"XBLK")
    old = _read(bases)
    assert "unreadable" not in old[0] and ldm.read_group(bases).repairs_needed()

    def operation(disks):
        ldm.read_group(disks).repair()

    repaired = completed(operation, bases)
    assert _read(repaired) == old and all(ldm.verify(d).clean for d in repaired)
    for state, disks in states(operation, bases, f"ldm: repair, {source}"):
        assert _read(disks) == old, state.description
        group = ldm.read_group(disks)
        group.repair()
        assert not ldm.read_group(disks).repairs_needed(), state.description
        assert _read(disks) == old and all(ldm.verify(d).clean for d in disks), state.description

"""ldm repair (issue 14): a disk whose own LDM database is damaged (a PRIVHEAD or TOCBLOCK copy, the
VMDB, a VBLK) or stale (an older committed sequence) gets it rewritten whole from the newest
consistent copy on the group's other disks. ldmtool (libldm), the outside reader, sees the group
afterwards as it saw it before the damage, ldm.verify finds every copy clean, and the volumes'
data is untouched. On Windows' own databases (2003 R2 mirror) and on ours."""

from __future__ import annotations

import hashlib
import shutil

import pytest

import bootmirror
from bootmirror import ldm
from ldm_helpers import layout
# The same two groups as the damaged-copies tests (Windows' 2003 R2 mirror, and ours): its fixtures.
from test_ldm_damaged_copies import CASES as COPY_CASES, ldmtool_view, our_view, ours, windows  # noqa: F401

S = 512


def _vmdb(disk, lay):
    disk.write(lay.vmdb + 0x14, b"\xff\xff")  # its version: a VMDB no reader accepts


def _vblk(disk, lay):
    # The first record slot's signature: the records are no longer whole.
    disk.write(lay.vmdb + lay.first_slot * lay.vblk_size, b"XBLK")


CASES = {**{name: damage for name, (damage, _, _) in COPY_CASES.items()}, "VMDB": _vmdb, "VBLK": _vblk}


def _volume_bytes(paths):
    """Each volume's partitions' bytes, hashed: repair writes only databases."""
    group = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    out = []
    for v in group.volumes:
        for p in (p for p in v.partitions if p.disk.present):
            with bootmirror.Disk.open(p.disk.disk.path) as disk:
                start = (p.disk.data_start + p.start) * S
                out.append(hashlib.sha256(disk.read(start, p.size * S)).hexdigest())
    return out


def _copy(originals, tmp_path):
    paths = [tmp_path / p.name for p in originals]
    for p, q in zip(originals, paths):
        shutil.copyfile(p, q)
    return paths


@pytest.mark.parametrize("source", ["windows", "ours"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_database_is_rewritten_from_the_other_disk(request, tmp_path, source, case):
    paths = _copy(request.getfixturevalue(source), tmp_path)
    before = ldmtool_view(paths)
    data = _volume_bytes(paths)
    with bootmirror.Disk.open(paths[0], writable=True) as disk:
        CASES[case](disk, layout(disk))
    assert not ldm.verify(bootmirror.Disk.open(paths[0])).clean

    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.read_group(disks)
    needed = group.repairs_needed()
    assert [d.disk.path for d, _ in needed] == [str(paths[0])]
    assert needed[0][1], "a repair says why"
    group.repair()
    for d in disks:
        d.close()

    assert all(ldm.verify(bootmirror.Disk.open(p)).clean for p in paths)
    after = ldmtool_view(paths)
    assert after == before and our_view(paths) == before
    assert ldm.read_group([bootmirror.Disk.open(p) for p in paths]).repairs_needed() == []
    assert _volume_bytes(paths) == data


def test_a_stale_database_is_brought_up_to_the_group(tmp_path, ours):
    paths = _copy(ours, tmp_path)
    with bootmirror.Disk.open(paths[1]) as disk:
        lay = layout(disk)
        old = disk.read(lay.config, lay.config_size)
    # A commit the disk then loses (its database put back as it was): disk 1 is a commit behind.
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.read_group(disks)
    group.create_volume("Volume3", "simple", [(group.disks[0], 12288, 2048)])
    group.commit()
    for d in disks:
        d.close()
    with bootmirror.Disk.open(paths[1], writable=True) as disk:
        disk.write(lay.config, old)
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.read_group(disks)
    (disk, reasons), = group.repairs_needed()
    assert disk.disk.path == str(paths[1]) and reasons == [
        f"its database is older than the group's (committed sequence {group.committed_seq - 1}, the group's {group.committed_seq})"]
    group.repair()
    for d in disks:
        d.close()
    for p in paths:  # each disk alone now holds the whole group as it is
        alone = ldm.read_group([bootmirror.Disk.open(p)])
        assert [v.name for v in alone.volumes] == ["Volume1", "Volume2", "Volume3"]
    assert ldmtool_view(paths) == our_view(paths)
    assert ldmtool_view(paths[1:]) == our_view(paths[1:])

"""Bad input never writes (issue 9): every LDM writer checks what it needs before its first write,
so a refused call leaves every image byte for byte as it was, and the group in memory as it was
(a later commit writes nothing of the refused change)."""

from __future__ import annotations

import struct

import pytest

import bootmirror
from bootmirror import ldm
from ldm_helpers import MiB, digest, two_disk_group

U64_MAX = (1 << 64) - 1


def summary(group: ldm.DiskGroup):
    return (group.name, group.committed_seq,
            tuple((d.name, d.guid, d.present) for d in group.disks),
            tuple((v.name, v.layout, v.size, v.drive_hint, v.status,
                   tuple((p.name, p.disk.name, p.start, p.size) for p in v.partitions)) for v in group.volumes))


def refused(group, disks, call, error=bootmirror.UsageError, match=None):
    """`call` fails with `error`; the images and the group are unchanged; the group still commits."""
    before, state = digest(disks), summary(group)
    with pytest.raises(error, match=match):
        call()
    assert digest(disks) == before, "a refused call wrote"
    assert summary(group) == state, "a refused call changed the group"
    group.commit()
    assert summary(ldm.read_group([d for d in disks if d is not None])) == summary(group)


def test_create_volume_refusals():
    group, disks = two_disk_group()
    a = group.disk("Disk1")
    refused(group, disks, lambda: group.create_volume("Big", "simple", [(a, U64_MAX - 5, 100)]), match="not free")
    refused(group, disks, lambda: group.create_volume("Big", "simple", [(a, 6144, U64_MAX)]), match="not free")
    refused(group, disks, lambda: group.create_volume("V" * 256, "simple", [(a, 6144, 100)]), match="255 bytes")
    refused(group, disks, lambda: group.create_volume("Bad", "simple", [(a, 6144, 100)], drive_hint="\xe9:"), match="drive letter")
    refused(group, disks, lambda: group.create_volume("Volume1", "simple", [(a, 6144, 100)]), match="exists already")
    refused(group, disks, lambda: group.create_volume("M", "mirrored", [(a, 6144, 100), (a, 8192, 100)]), match="different disk")


def test_add_mirror_refusals():
    group, disks = two_disk_group()
    refused(group, disks, lambda: group.add_mirror("Volume2", "Disk1"), match="already has a plex")
    refused(group, disks, lambda: group.add_mirror("Volume2", "Disk2", start=U64_MAX - 100), match="not enough usable space")
    refused(group, disks, lambda: group.add_mirror("Volume1", "Disk2"), match="already has a plex")


def test_break_delete_volume_and_delete_disk_refusals():
    group, disks = two_disk_group()
    refused(group, disks, lambda: group.break_mirror("Volume2", "Disk1"), match="not a mirror")
    refused(group, disks, lambda: group.delete_volume("Volume9"), match="no volume named")
    refused(group, disks, lambda: group.delete_disk("Disk2"), match="not missing")
    # A missing disk that holds a simple volume's only copy cannot go: nothing is removed, not even
    # the mirror plexes the disk also holds (remove_disk would break those first).
    back = ldm.read_group([disks[1]])
    refused(back, [disks[1]], lambda: back.delete_disk("Disk1"), match="only copy")
    assert len(back.volume("Volume1").plexes) == 2


def test_convert_dynamic_refusals():
    small = bootmirror.Disk.memory(1 * MiB)
    refused_convert(small, None, "not enough space")
    extended = bootmirror.Disk.memory(16 * MiB)
    mbr = bytearray(512)
    mbr[0x1BE + 4] = 0x05
    mbr[0x1BE + 8:0x1BE + 16] = struct.pack("<II", 2048, 4096)
    mbr[510:512] = b"\x55\xaa"
    extended.write(0, bytes(mbr))
    refused_convert(extended, None, "extended partitions")
    # Into an existing group: the group keeps its disks and the new disk stays basic.
    group, disks = two_disk_group()
    before = digest(disks)
    refused_convert(extended, group, "extended partitions")
    assert [d.name for d in group.disks] == ["Disk1", "Disk2"] and len(group._disks) == 2
    assert digest(disks) == before
    dynamic = disks[0]
    refused_convert(dynamic, group, "already dynamic")


def refused_convert(disk, group, match):
    before = digest([disk])
    with pytest.raises(bootmirror.UsageError, match=match):
        ldm.convert_dynamic(disk, group)
    assert digest([disk]) == before


def test_commit_checks_every_disk_before_writing_any():
    # Disk 2 joins a committed group; before the commit, someone partitions it over LBA 6, where
    # its PRIVHEAD must go. The commit refuses before it writes disk 1 (which it used to write first).
    group, disks = two_disk_group()
    newcomer = bootmirror.Disk.memory(8 * MiB)
    group.add_disk(newcomer)
    group.create_volume("Volume3", "simple", [(group.disk("Disk3"), 0, 1024)])
    mbr = bytearray(512)
    mbr[0x1BE + 4] = 0x07
    mbr[0x1BE + 8:0x1BE + 16] = struct.pack("<II", 2, 4096)
    mbr[510:512] = b"\x55\xaa"
    newcomer.write(0, bytes(mbr))
    everything = disks + [newcomer]
    before, state = digest(everything), summary(group)
    with pytest.raises(bootmirror.UsageError, match="LBA 6"):
        group.commit()
    assert digest(everything) == before and summary(group) == state
    assert summary(ldm.read_group(disks))[1] == 1  # still the first commit on disk


def test_commit_refuses_a_read_only_disk_and_writes_none(tmp_path):
    paths = [tmp_path / "d0.img", tmp_path / "d1.img"]
    for p in paths:
        bootmirror.Disk.create(p, 8 * MiB).close()
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.DiskGroup.create("WIN-RO-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 4096), (b, 0, 4096)])
    group.commit()
    group.create_volume("Volume2", "simple", [(b, 4096, 1024)])
    disks[1].close()
    group._disks[1] = bootmirror.Disk.open(paths[1])  # read-only
    before, state = digest(group._disks), summary(group)
    with pytest.raises(bootmirror.UsageError, match="read-only"):
        group.commit()
    assert digest(group._disks) == before and summary(group) == state


def test_a_full_database_is_refused_before_the_first_write():
    disk = bootmirror.Disk.memory(16 * MiB)
    group = ldm.convert_dynamic(disk, name="WIN-FULL-Dg0")
    d = group.disk("Disk1")
    before = digest([disk])
    # With 200-byte names a simple volume takes seven 128-byte slots (volume and component three
    # each, partition one): 5,920 slots hold 845 of them. The commit finds no free slot for the
    # 846th and must refuse before writing.
    for n in range(850):
        group.create_volume(f"V{n:03}".ljust(200, "x"), "simple", [(d, n * 8, 8)])
    with pytest.raises(bootmirror.UsageError, match="full"):
        group.commit()
    assert digest([disk]) == before
    assert ldm.read_group([disk]).volumes == []

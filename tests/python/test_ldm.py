"""bootmirror.ldm: groups we build read back; commits survive a power cut at every write; bad
databases give a clear FormatError and leave every byte as it was; 4096-byte sectors work."""

from __future__ import annotations

import hashlib
import struct

import pytest

import bootmirror
from bootmirror import ldm
from bootmirror._core import MemoryDisk
from ldm_helpers import unpack_windows

MiB = 1 << 20


def memory_disks(n: int, size: int = 8 * MiB, sector_size: int = 512):
    return [bootmirror.Disk.memory(size, sector_size) for _ in range(n)]


def copy(disk: bootmirror.Disk) -> bootmirror.Disk:
    out = bootmirror.Disk.memory(disk.size, disk.sector_size)
    out.write(0, disk.read(0, disk.size))
    return out


def summary(group: ldm.DiskGroup):
    """Everything a configuration says, in a comparable form."""
    return (
        group.name, group.guid,
        tuple((d.name, d.guid) for d in group.disks),
        tuple((v.name, v.guid, v.layout, v.size, v.drive_hint,
               tuple((p.name, p.disk.name, p.start, p.size) for p in v.partitions)) for v in group.volumes),
    )


def two_disk_group(sector_size: int = 512):
    disks = memory_disks(2, size=8 * MiB * (sector_size // 512), sector_size=sector_size)
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 4096), (b, 0, 4096)], drive_hint="C:")
    group.create_volume("Volume2", "simple", [(a, 4096, 2048)], drive_hint="D:")
    group.commit()
    return group, disks


def test_new_group_reads_back():
    group, disks = two_disk_group()
    back = ldm.read_group(disks)
    assert summary(back) == summary(group)
    assert back.committed_seq == 1
    v = back.volume("Volume1")
    assert (v.type, v.status, [p.disks for p in v.plexes]) == ("Mirror", "Healthy", [["Disk1"], ["Disk2"]])
    assert "Volume1 C: mirrored" in repr(v)
    assert "<table>" in back._repr_html_()


def test_every_slot_stamped_and_counts_exact():
    group, disks = two_disk_group()
    for disk in disks:
        off, length = bootmirror._core.ldm.config_location(disk.device)
        config = disk.read(off, length)
        vmdb = config[17 * 512:]
        last, size, first = struct.unpack(">III", vmdb[4:16])
        assert (size, first, last) == (128, 512, 5924)
        assert all(vmdb[i * 128:i * 128 + 4] == b"VBLK" for i in range(4, last))
        assert struct.unpack(">IIII", vmdb[0x85:0x95]) == (2, 3, 3, 2)


def change(group: ldm.DiskGroup):
    """Delete one volume, add another, touch the mirror: new, changed and deleted records."""
    group.delete_volume("Volume2")
    group.create_volume("Volume3", "spanned", [(group.disk("Disk1"), 4096, 1024), (group.disk("Disk2"), 4096, 1024)])
    group.break_mirror("Volume1", "Disk2")


def run_with_cut(originals, budget):
    """Copies of `originals` behind FaultyDisks that lose power after `budget` writes (a list, one per
    disk); applies change() and commits. Returns the inner copies."""
    inner = [copy(d) for d in originals]
    faulty = [bootmirror.FaultyDisk(d) for d in inner]
    if budget is not None:
        for f, n in zip(faulty, budget):
            f.cut_power_after(n)
    group = ldm.read_group(faulty)
    with bootmirror.deterministic(seed=7, epoch=1_700_000_000):  # the same GUIDs in every run
        change(group)
        try:
            group.commit()
        except bootmirror.Error:
            pass  # what the commit reads back after the power is gone may be stale: like a crash
    return inner, faulty


@pytest.mark.parametrize("ndisks", [1, 2])
def test_power_cut_at_every_write_leaves_old_or_new(ndisks):
    disks = memory_disks(ndisks)
    group = ldm.DiskGroup.create("WIN-CUT-Dg0")
    ds = [group.add_disk(d) for d in disks]
    if ndisks == 2:
        group.create_volume("Volume1", "mirrored", [(ds[0], 0, 4096), (ds[1], 0, 4096)])
    else:
        group.create_volume("Volume1", "simple", [(ds[0], 0, 4096)])
        group.add_disk  # noqa: B018  (one disk: the mirror break below is skipped)
    group.create_volume("Volume2", "simple", [(ds[0], 4096, 2048)])
    group.commit()
    old = summary(ldm.read_group(disks))

    global change
    full_change = change
    if ndisks == 1:
        def change(g):  # noqa: F811
            g.delete_volume("Volume2")
            g.create_volume("Volume3", "simple", [(g.disk("Disk1"), 4096, 1024)])
    try:
        inner, faulty = run_with_cut(disks, None)
        new = summary(ldm.read_group(inner))
        writes = [f.writes_seen for f in faulty]
        assert new != old and all(writes)
        total = sum(writes)
        seen = set()
        for k in range(total + 1):
            budget, left = [], k
            for n in writes:
                budget.append(min(left, n))
                left -= budget[-1]
            inner, _ = run_with_cut(disks, budget)
            after = ldm.read_group(inner)
            state = summary(after)
            assert state in (old, new), f"a mixture after {k} of {total} writes"
            seen.add(state == new)
            # The next commit brings every disk to the same, newest configuration.
            after.commit()
            again = ldm.read_group(inner)
            assert summary(again) == state
            assert len({d.committed_seq for d in again._core.disks}) == 1
        assert seen == {False, True}
    finally:
        change = full_change


def test_convert_is_all_or_nothing():
    disk = memory_disks(1)[0]
    probe = bootmirror.FaultyDisk(copy(disk))
    ldm.convert_dynamic(probe)
    for k in range(probe.writes_seen + 1):
        inner = copy(disk)
        faulty = bootmirror.FaultyDisk(inner)
        faulty.cut_power_after(k)
        try:
            ldm.convert_dynamic(faulty)
        except bootmirror.Error:
            pass  # the power went before the end
        if ldm.is_dynamic(inner):
            assert ldm.read_group([inner]).disks[0].present


def test_4096_byte_sectors():
    group, disks = two_disk_group(sector_size=4096)
    back = ldm.read_group(disks)
    assert summary(back) == summary(group)
    assert back.disks[0].config_size == 256 and back.disks[0].sector_size == 4096
    change(back)
    back.commit()
    assert summary(ldm.read_group(disks)) == summary(back)


def test_delete_disk_rules():
    group, disks = two_disk_group()
    with pytest.raises(bootmirror.UsageError, match="not missing"):
        group.delete_disk("Disk2")
    back = ldm.read_group([disks[0]])
    assert [d.present for d in back.disks] == [True, False]
    assert back.volume("Volume1").status == "Failed Rd"
    back.delete_disk("Disk2")
    back.commit()
    assert [d.name for d in ldm.read_group([disks[0]]).disks] == ["Disk1"]


# -- bad input --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mirrored_2003(tmp_path_factory):
    return unpack_windows(tmp_path_factory.mktemp("ldm-bad"), ["ldm-2003r2-mirrored-1.img", "ldm-2003r2-mirrored-2.img"])


CONFIG = 100352 * 512          # config start of the 2003 R2 images
VMDB = CONFIG + 17 * 512


def slot(n: int) -> int:
    return VMDB + n * 128


def corrupt_component_parent(d):
    # Component Volume3-01 (slot 41) names its own id 0x445 as its parent volume: a loop.
    body = bytearray(d.read(slot(41), 128))
    at = body.index(b"\x02\x04\x43\x00", 0x30)
    body[at:at + 3] = b"\x02\x04\x45"
    d.write(slot(41), bytes(body))


def duplicate_record(d):
    # Copy the partition record Disk6-01 (slot 42) into a free slot (24) under a new record id.
    body = bytearray(d.read(slot(42), 128))
    body[4:8] = struct.pack(">I", 24)
    body[8:12] = struct.pack(">I", 999)
    d.write(slot(24), bytes(body))


PRIVHEADS = (6, 100352 + 1856, 100352 + 2047)  # LBA 6 and its two copies in the config area


def every_privhead(offset: int, data: bytes):
    return lambda d: [d.write(lba * 512 + offset, data) for lba in PRIVHEADS]


CASES = {
    "privhead magic": (every_privhead(0, b"PRIVHEAX"), "PRIVHEAD"),
    "privhead config past the disk": (every_privhead(0x12B, struct.pack(">Q", 1 << 40)), "past the end"),
    "no tocblock": (lambda d: [d.write(CONFIG + s * 512, b"\0" * 8) for s in (1, 2, 2045, 2046)], "TOCBLOCK"),
    "tocblock bitmap outside": (lambda d: [d.write(CONFIG + s * 512 + 0x36, struct.pack(">Q", 5000)) for s in (1, 2, 2045, 2046)],
                                "outside"),
    "vmdb magic": (lambda d: d.write(VMDB, b"VMDX"), "VMDB"),
    "vblk size zero": (lambda d: d.write(VMDB + 8, struct.pack(">I", 0)), "VBLK size"),
    "slots outside the database": (lambda d: d.write(VMDB + 4, struct.pack(">I", 100000)), "past the"),
    "impossible fragment count": (lambda d: d.write(slot(10) + 14, struct.pack(">H", 9)), "at most 4"),
    "missing fragment": (lambda d: d.write(slot(12) + 8, b"\0" * 8), "missing fragment"),
    "duplicate fragment": (lambda d: d.write(slot(12) + 12, struct.pack(">H", 0)), "twice"),
    "unstamped slot": (lambda d: d.write(slot(100), b"\0\0\0\0"), "not stamped"),
    "record longer than its slots": (lambda d: d.write(slot(19) + 0x14, struct.pack(">I", 500)), "claims"),
    "var int of length 9": (lambda d: d.write(slot(19) + 0x18, b"\x09"), "length 9"),
    "duplicate id": (duplicate_record, "id"),
    "loop between records": (corrupt_component_parent, "unknown volume"),
    "wrong counts": (lambda d: d.write(VMDB + 0x85, struct.pack(">I", 7)), "counts"),
    "vmdb version": (lambda d: d.write(VMDB + 0x12, struct.pack(">HH", 4, 11)), "4.10"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_database_is_a_format_error_and_nothing_is_written(mirrored_2003, tmp_path, case):
    # Until the hardening of issue 9 this read both disks and expected the error: the damaged disk
    # hid its partner's good database. Now the damaged disk alone gives the error, and with its
    # partner the group reads from the partner (unless no PRIVHEAD says which group it is in).
    damage, message = CASES[case]
    paths = []
    for p in mirrored_2003:
        q = tmp_path / p.name
        q.write_bytes(p.read_bytes())
        paths.append(q)
    disk = bootmirror.Disk.open(paths[0], writable=True)
    damage(disk)
    disk.close()
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    with pytest.raises(bootmirror.FormatError, match=message) as error:
        ldm.read_group([disks[0]])
    assert error.value.offset is not None
    health = ldm.verify(disks[0])
    assert not health.readable and not health.clean and health.damage
    if case.startswith("privhead"):
        with pytest.raises(bootmirror.FormatError, match=message):
            ldm.read_group(disks)
    else:
        group = ldm.read_group(disks)
        assert [d.present for d in group.disks if d.name in ("Disk6", "Disk7")] == [True, True]
        assert group.volume("Volume3").status == "Healthy"
    for d in disks:
        d.close()
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths] == before


def test_disk_convert_dynamic_and_is_dynamic():
    disk = bootmirror.Disk.memory(8 * MiB)
    assert not disk.is_dynamic
    group = disk.convert_dynamic()
    assert disk.is_dynamic and [d.name for d in group.disks] == ["Disk1"]
    other = bootmirror.Disk.memory(8 * MiB)
    same = other.convert_dynamic(group)
    assert same is group and [d.name for d in ldm.read_group([disk, other]).disks] == ["Disk1", "Disk2"]
    with pytest.raises(bootmirror.UsageError, match="already dynamic"):
        disk.convert_dynamic()


def test_mbr_basic_partitions_become_simple_volumes():
    disk = bootmirror.Disk.memory(16 * MiB)
    mbr = bytearray(512)
    mbr[0x1BE + 4] = 0x07
    mbr[0x1BE + 8:0x1BE + 16] = struct.pack("<II", 2048, 8192)
    mbr[510:512] = b"\x55\xaa"
    disk.write(0, bytes(mbr))
    disk.write(2048 * 512, b"NTFS data stays put")
    group = disk.convert_dynamic()
    (v,) = group.volumes
    assert (v.layout, v.partitions[0].offset, v.size, v.partition_type) == ("simple", 2048 * 512, 8192, 0x07)
    assert disk.read(2048 * 512, 19) == b"NTFS data stays put"
    assert disk.read(0x1BE + 4, 1) == b"\x42"


def test_scan_sorts_a_machines_disks(mirrored_2003, tmp_path):
    group, ours = two_disk_group()
    blank = bootmirror.Disk.memory(8 * MiB)
    foreign = [bootmirror.Disk.open(p) for p in mirrored_2003]
    found, basic, foreign_idx = ldm.scan([ours[0], blank, None, foreign[0], ours[1], foreign[1]], preferred_guid=group.guid)
    assert found.guid == group.guid and [d.disk is ours[i] for i, d in enumerate(found.disks)] == [True, True]
    assert (basic, foreign_idx) == ([1], [3, 5])
    # Without a preference the group with most disks wins; a missing member stays missing.
    found, _, foreign_idx = ldm.scan([ours[0], foreign[0], foreign[1]])
    assert found.name == "Red-nzv8x6obywgDg0" and foreign_idx == [0]
    found, _, _ = ldm.scan([None, ours[1]])
    assert [d.present for d in found.disks] == [False, True]
    found.create_volume("Volume9", "simple", [(found.disk("Disk2"), 6144, 1024)])
    found.commit()
    assert "Volume9" in [v.name for v in ldm.read_group([ours[1]]).volumes]


def test_objects_stay_valid_across_later_changes():
    # The engine's record lists are vectors that grow: a Volume or LdmDisk kept from before a
    # change must look its record up again, not read freed memory (it used to show '' and
    # garbage, or fail with SystemError).
    d0, d1 = (bootmirror.Disk.memory("64 MiB") for _ in range(2))
    group = ldm.DiskGroup.create("TEST-Dg0")
    a = group.add_disk(d0)
    b = group.add_disk(d1)
    v = group.create_volume("Volume1", "mirrored", [(a, 0, 40960), (b, 0, 40960)], drive_hint="M:")
    s = group.create_volume("Volume2", "simple", [(a, 40960, 20480)])
    for _ in range(20):
        group.create_volume(f"Volume{_ + 3}", "simple", [(b, 40960 + 1024 * _, 1024)])
    assert (a.name, b.name, a.index, b.index) == ("Disk1", "Disk2", 0, 1)
    assert (v.name, v.drive_hint, v.index, s.index) == ("Volume1", "M:", 0, 1)
    assert [p.name for p in v.plexes] == ["Volume1-01", "Volume1-02"]
    plex = v.plexes[0]
    part = v.partitions[0]
    group.create_volume("Late", "simple", [(a, 61440, 1024)])
    assert (plex.name, part.name, part.disk.name) == ("Volume1-01", "Disk1-01", "Disk1")
    group.delete_volume(v)
    assert s.index == 0
    with pytest.raises(bootmirror.UsageError, match="no longer"):
        v.name


def test_engine_record_lists_are_snapshots_that_survive_later_edits():
    """Lists read from the engine's group are copies: growing the group afterwards must not leave
    them pointing into freed memory (they used to be references into std::vectors)."""
    group = ldm.DiskGroup.create("TEST-Dg0")
    disk = group.add_disk(bootmirror.Disk.memory("64 MiB"))
    engine_disks = group._core.disks
    engine_volumes = []
    for n in range(40):
        group.create_volume(f"Volume{n + 1}", "simple", [(disk, 1024 * n, 1024)])
        engine_volumes.append(group._core.volumes)
    for _ in range(8):
        group.add_disk(bootmirror.Disk.memory("64 MiB"))
    assert [d.name for d in engine_disks] == ["Disk1"]
    assert [[v.name for v in vs] for vs in engine_volumes[:2]] == [["Volume1"], ["Volume1", "Volume2"]]
    assert [len(v.partitions) for v in engine_volumes[-1]] == [1] * 40

"""Damaged LDM databases (issue 9): text that is not UTF-8, offsets and counts that point outside
their disk or overflow, and damaged copies of the headers. Each case reads as far as the data
allows: a FormatError with the offset of what is wrong, a volume shown as damaged, or the group
read from a good copy with verify() naming the bad one. Nothing is ever written."""

from __future__ import annotations

import struct

import pytest

import bootmirror
from bootmirror import ldm
from ldm_helpers import MiB, digest, explore, gpt_dynamic_disk, layout, record, set_var_int, two_disk_group

U64_MAX = (1 << 64) - 1


# -- text ---------------------------------------------------------------------------------------

def test_names_that_are_not_utf8_show_as_replacement_and_keep_their_bytes():
    group, disks = two_disk_group()
    original = [bootmirror._core.ldm.reencode_config(d.device) for d in disks]
    for d in disks:
        for name, bad in ((b"Volume1", b"Volum\xff1"), (b"Disk1-01", b"Disk1\xc3(1"), (b"Volume2-01", b"\xed\xa0\x80ume2-01"),
                          (b"Disk2", b"Dis\x802"), (b"WIN-TEST-Dg0", b"WIN-TEST-Dg\xe9")):
            assert len(name) == len(bad)  # the record keeps its size
            d.write(record(d, name).fields["name"], bad)
    back = ldm.read_group(disks)
    explore(back)
    v = back.volume("Volum\ufffd1")
    assert (v.name, v.name_bytes, v.status) == ("Volum\ufffd1", b"Volum\xff1", "Healthy")
    assert [p.name for p in v.partitions] == ["Disk1\ufffd(1", "Disk2-01"]
    assert [d.name for d in back.disks] == ["Disk1", "Dis\ufffd2"]
    assert back.volumes[1].plexes[0].name_bytes == b"\xed\xa0\x80ume2-01"
    assert back.volumes[1].plexes[0].name == "\ufffd\ufffd\ufffdume2-01"  # a surrogate is three bad bytes
    assert (back.name, back.name_bytes) == ("WIN-TEST-Dg\ufffd", b"WIN-TEST-Dg\xe9")
    # The records keep the bytes: encoding the database again gives what is on the disk.
    for d, before in zip(disks, original):
        lay = layout(d)
        again = bootmirror._core.ldm.reencode_config(d.device)
        assert again == d.read(lay.config, lay.config_size) and again != before


def test_a_bad_region_name_is_quoted_escaped_with_its_offset():
    group, disks = two_disk_group()
    lay = layout(disks[0])
    for at in lay.tocs:
        disks[0].write(at + 0x24, b"\xffonfig\xfe")
    with pytest.raises(bootmirror.FormatError, match=r"\\xffonfig\\xfe") as error:
        ldm.read_group([disks[0]])
    assert error.value.offset == lay.tocs[1] + 0x24
    assert ldm.is_dynamic(disks[0])  # the PRIVHEAD still says so
    with pytest.raises(bootmirror.FormatError, match=r"\\xffonfig\\xfe") as error:
        ldm.scan([disks[0]])
    assert error.value.offset == lay.tocs[1] + 0x24


def test_privhead_guid_fields_must_parse_in_every_copy():
    group, disks = two_disk_group()
    lay = layout(disks[0])
    for at in lay.privheads:
        disks[0].write(at + 0x30, b"\xfe" * 36)
    with pytest.raises(bootmirror.FormatError, match=r"disk GUID '(\\xfe){36}' does not parse") as error:
        ldm.read_group([disks[0]])
    assert error.value.offset == lay.privheads[0] + 0x30
    assert not ldm.is_dynamic(disks[0])
    health = ldm.verify(disks[0])
    assert [(d.structure, d.offset) for d in health.damage] == [("PRIVHEAD", at + 0x30) for at in lay.privheads]


def test_a_privhead_naming_another_group_through_damage_is_that_disks_error():
    """A PRIVHEAD has no checksum: one hex digit of its group GUID changed still parses, and its
    copies are not read. The disk's own VMDB then disagrees with it, so the error is that disk's
    damage (a FormatError naming it), wherever it stands in the list, not a mix of groups."""
    group, disks = two_disk_group()
    lay = layout(disks[1])
    guid = disks[1].read(lay.privheads[0] + 0xB0, 36)
    disks[1].write(lay.privheads[0] + 0xB0, (b"7" if guid[:1] != b"7" else b"8") + guid[1:])
    before = digest(disks)
    for order in (disks, disks[::-1]):
        with pytest.raises(bootmirror.FormatError, match=r"VMDB belongs to group .* but the PRIVHEAD to") as error:
            ldm.read_group(order)
        assert disks[1].name in str(error.value)
    assert digest(disks) == before
    # Two disks of two groups, each readable, are a mix: the caller's to sort out.
    _, others = two_disk_group()
    with pytest.raises(bootmirror.UsageError, match="one group at a time"):
        ldm.read_group([disks[0], others[0]])


# -- offsets from disk --------------------------------------------------------------------------

@pytest.mark.parametrize("copies", ["one", "all"])
def test_flipped_logical_disk_start_on_a_gpt_disk(copies):
    # The defect of issue 9: one flipped byte of a GPT disk's PRIVHEAD gave a logical disk start of
    # 18,374,686,479,672,041,370 sectors; the volume was called Healthy and its device() raised
    # TypeError. One copy damaged: the others are used. All damaged: FormatError at the field.
    group, disk = gpt_dynamic_disk()
    lay = layout(disk)
    damaged = lay.privheads[-1:] if copies == "one" else lay.privheads
    for at in damaged:
        disk.write(at + 0x11B, b"\xff")
    before = digest([disk])
    if copies == "one":
        back = ldm.read_group([disk])
        explore(back)
        v = back.volumes[0]
        assert (v.status, v.device().size, back.disks[0].data_start) == ("Healthy", 16 << 20, 65570)
        health = ldm.verify(disk)
        assert health.readable and [(d.structure, d.offset) for d in health.damage] == [("PRIVHEAD", lay.privheads[-1] + 0x11B)]
        assert "past the end of the disk" in health.problems[0]
    else:
        with pytest.raises(bootmirror.FormatError, match="PRIVHEAD logical disk .* past the end of the disk") as error:
            ldm.read_group([disk])
        assert error.value.offset == lay.privheads[-1] + 0x11B
        assert not ldm.verify(disk).readable
    assert digest([disk]) == before


@pytest.mark.parametrize("field,value,message", [
    (0x11B, struct.pack(">Q", U64_MAX - 10), "logical disk"),          # start + size overflows
    (0x123, struct.pack(">Q", 0), "logical disk size is 0"),
    (0x12B, struct.pack(">Q", U64_MAX - 100), "past the end"),          # config start + size overflows
    (0x133, struct.pack(">Q", 1 << 40), "config size"),
    (0x0C, struct.pack(">HH", 2, 13), "version"),
])
def test_privhead_fields_are_checked_against_the_device(field, value, message):
    group, disks = two_disk_group()
    lay = layout(disks[0])
    for at in lay.privheads:
        disks[0].write(at + field, value)
    with pytest.raises(bootmirror.FormatError, match=message) as error:
        ldm.read_group([disks[0]])
    assert error.value.offset == lay.privheads[0] + field


@pytest.mark.parametrize("start,size,message", [
    (U64_MAX, 1, "outside"),                  # start + size overflows
    (5, U64_MAX - 2, "outside"),
    (1 << 40, 10, "outside"),
])
def test_tocblock_bitmaps_are_checked_against_the_config_area(start, size, message):
    group, disks = two_disk_group()
    lay = layout(disks[0])
    for at in lay.tocs:
        disks[0].write(at + 0x2E, struct.pack(">QQ", start, size))
    with pytest.raises(bootmirror.FormatError, match=message) as error:
        ldm.read_group([disks[0]])
    assert error.value.offset == lay.tocs[1] + 0x2E
    # Its partner still holds the group.
    assert ldm.read_group(disks).volume("Volume1").status == "Healthy"


@pytest.mark.parametrize("field,value,message", [
    (0x04, struct.pack(">I", 0xFFFFFFFF), "past the"),        # vblk_last: slots past the bitmap
    (0x08, struct.pack(">I", 0xFFFFFFF0), "VBLK size"),
    (0x0C, struct.pack(">I", 0xFFFFFF80), "no VBLK slots"),   # first slot past the last
    (0x0C, struct.pack(">I", 100), "whole number"),
])
def test_vmdb_fields_are_checked(field, value, message):
    group, disks = two_disk_group()
    lay = layout(disks[0])
    disks[0].write(lay.vmdb + field, value)
    with pytest.raises(bootmirror.FormatError, match=message) as error:
        ldm.read_group([disks[0]])
    assert error.value.offset == lay.vmdb + field


@pytest.mark.parametrize("case", ["size field", "fragment number", "fragment count", "var int width 0", "var int width 5"])
def test_vblk_sizes_fragments_and_var_ints_are_checked(case):
    group, disks = two_disk_group()
    d = disks[0]
    r = record(d, b"Volume2")
    if case == "size field":
        d.write(r.fields["size field"], struct.pack(">I", 0xFFFFFFFF))
        message, at = "claims", r.fields["size field"]
    elif case == "fragment number":
        d.write(r.slot + 12, struct.pack(">HH", 7, 2))
        message, at = "fragment 7 of 2", r.slot + 12
    elif case == "fragment count":
        d.write(r.slot + 14, struct.pack(">H", 0xFFFF))
        message, at = "at most 4", r.slot + 14
    elif case == "var int width 0":
        d.write(r.slot + 0x18, b"\x00")
        message, at = "length 0", r.slot + 0x18
    else:
        d.write(r.fields["component count"], b"\x05")  # libldm: a 32-bit count takes at most 4 bytes
        message, at = "length 5", r.fields["component count"]
    with pytest.raises(bootmirror.FormatError, match=message) as error:
        ldm.read_group([d])
    assert error.value.offset == at


def test_component_and_partition_counts_are_checked():
    group, disks = two_disk_group()
    for d in disks:
        set_var_int(d, record(d, b"Volume1-02").fields["partition count"], 3)
    with pytest.raises(bootmirror.FormatError, match="expects 3 partitions but 1 reference it") as error:
        ldm.read_group(disks)
    assert error.value.offset == record(disks[0], b"Volume1-02").slot
    for d in disks:
        set_var_int(d, record(d, b"Volume1-02").fields["partition count"], 1)
        set_var_int(d, record(d, b"Volume1").fields["component count"], 1)
    with pytest.raises(bootmirror.FormatError, match="expects 1 components but 2 reference it") as error:
        ldm.read_group(disks)
    assert error.value.offset == record(disks[0], b"Volume1").slot


# Disk 1's data area is 14,273 sectors (63 to the database at 14,336). The size var int of our
# record is two bytes wide, so sizes stay below 65,536.
@pytest.mark.parametrize("start,size", [(U64_MAX, 4096), (U64_MAX - 4095, 4096), (1 << 40, 4096), (16000, 4096), (10000, 0xFFFF)])
def test_a_partition_outside_its_disk_makes_its_volume_damaged(start, size):
    group, disks = two_disk_group()
    for d in disks:  # every copy of the database says so: nothing to read around
        r = record(d, b"Disk1-01")
        d.write(r.fields["start"], struct.pack(">Q", start))
        set_var_int(d, r.fields["size"], size)
    back = ldm.read_group(disks)
    explore(back)
    mirror, simple = back.volume("Volume1"), back.volume("Volume2")
    assert (mirror.status, simple.status) == ("Failed Rd", "Healthy")
    damaged, good = mirror.plexes
    assert "lies outside" in damaged.problem and good.problem == ""
    assert mirror.partitions[0].offset is None
    # The good plex serves the mirror's bytes.
    assert mirror.device().read(0, 512) == disks[1].read((63 + 0) * 512, 512)
    health = ldm.verify(disks[0])
    assert [(x.structure, x.offset) for x in health.damage] == [("partition", record(disks[0], b"Disk1-01").slot)]
    assert ldm.verify(disks[1]).damage == []  # Disk1-01 is not on disk 2


def test_a_volume_larger_than_its_partitions_is_damaged():
    group, disks = two_disk_group()
    for d in disks:
        set_var_int(d, record(d, b"Volume2").fields["size"], 3000)  # its one partition holds 2048
    back = ldm.read_group(disks)
    explore(back)
    v = back.volume("Volume2")
    assert (v.status, v.device(), v.fs, v.label) == ("Failed", None, "", "")
    assert v.plexes[0].problem == "its partitions hold 2048 sectors, its volume 'Volume2' needs 3000"
    assert back.volume("Volume1").status == "Healthy"
    problems = ldm.verify(disks[0]).problems
    assert len(problems) == 1 and "component at byte" in problems[0] and "needs 3000" in problems[0]


@pytest.mark.parametrize("chunk, problem", [
    (100, "its partitions hold 200 sectors, its volume 'Volume3' needs 256"),  # one whole chunk a column
    (200, "its chunk of 200 sectors is larger than its smallest partition (128 sectors)"),
])
def test_a_stripe_chunk_that_does_not_fit_its_columns_fails_the_volume(chunk, problem):
    """The chunk size comes from disk: a column serves whole chunks only, and a chunk larger than a
    column serves nothing. The volume is Failed with the reason, never a wrong mapping."""
    disks = [bootmirror.Disk.memory(8 * MiB) for _ in range(2)]
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume3", "striped", [(a, 0, 128), (b, 0, 128)])
    group.commit()
    for d in disks:
        at = record(d, b"Volume3-01").fields["chunk"]
        assert d.read(at, 2) == bytes([1, 128])  # Windows' 128 sectors
        set_var_int(d, at, chunk)
    v = ldm.read_group(disks).volume("Volume3")
    assert (v.status, v.device(), v.fs) == ("Failed", None, "")
    assert v.plexes[0].problem == problem


def test_free_extents_clamp_records_that_reach_past_the_disk():
    group, disks = two_disk_group()
    for d in disks:
        d.write(record(d, b"Disk1-02").fields["start"], struct.pack(">Q", U64_MAX - 10))
    back = ldm.read_group(disks)
    # Disk1-01 holds 0..4095; the damaged Disk1-02 is clamped to nothing at the end of the area.
    assert back.disk("Disk1").free_extents() == [(4096, back.disk("Disk1").data_size - 4096)]
    with pytest.raises(bootmirror.UsageError, match="not free"):
        back.create_volume("Big", "simple", [("Disk1", U64_MAX - 5, 100)])  # start + size overflows

"""MBR dynamic disks we write satisfy the Linux kernel's LDM parser (block/partitions/ldm.c), the
strictest reader that applies to them. A loop device cannot be attached here, so this test
re-implements, independently of bootmirror's decoder, each check the kernel makes, named after
the kernel function that makes it; the real Windows images pass the same checks (a check of the
checker)."""

from __future__ import annotations

import shutil
import struct
import uuid

import pytest

import bootmirror
from bootmirror import ldm
from ldm_helpers import unpack_windows

S = 512
VBLK_SIZE = {0x32: 22, 0x33: 28, 0x34: 12, 0x35: 12, 0x51: 58}  # ldm.h VBLK_SIZE_CMP3/PRT3/DSK3/DGR3/VOL5


def parse_privhead(data: bytes):
    # ldm_parse_privhead: magic, version 2.11 or 2.12, logical disk inside, disk GUID parses.
    assert data[:8] == b"PRIVHEAD"
    ver = struct.unpack(">HH", data[0x0C:0x10])
    assert ver in ((2, 11), (2, 12)), ver
    start, size, cstart, csize = struct.unpack(">QQQQ", data[0x11B:0x13B])
    assert size != 0 and start + size <= cstart, "PRIVHEAD disk size doesn't match real disk size"
    disk_id = uuid.UUID(data[0x30:0x30 + 36].decode())
    return ver, start, size, cstart, csize, disk_id


def relative(buf: bytes, base: int, offset: int) -> int:
    # ldm_relative: the next variable field must start and end inside the record.
    base += offset
    assert offset >= 0 and base <= len(buf), "offset past the buffer"
    assert base + buf[base] < len(buf), "variable field past the buffer"
    return buf[base] + offset + 1


def check_record(buf: bytes):
    # ldm_parse_vblk and ldm_parse_cmp3/dgr3/dsk3/prt3/vol5: sizes exact (== for component, disk
    # group, disk; >= for partition and volume).
    flags, kind, size = buf[0x12], buf[0x13], struct.unpack(">I", buf[0x14:0x18])[0]
    r_objid = relative(buf, 0x18, 0)
    r_name = relative(buf, 0x18, r_objid)
    if kind == 0x32:
        r_vstate = relative(buf, 0x18, r_name)
        r_child = relative(buf, 0x1D, r_vstate)
        r_parent = relative(buf, 0x2D, r_child)
        length = relative(buf, 0x2E, relative(buf, 0x2E, r_parent)) if flags & 0x10 else r_parent
        assert length + VBLK_SIZE[kind] == size
    elif kind == 0x35:
        r_diskid = relative(buf, 0x18, r_name)
        length = relative(buf, 0x24, relative(buf, 0x24, r_diskid)) if flags & 0x08 else r_diskid
        assert length + VBLK_SIZE[kind] == size
    elif kind == 0x34:
        r_diskid = relative(buf, 0x18, r_name)
        r_alt = relative(buf, 0x18, r_diskid)
        assert r_alt + VBLK_SIZE[kind] == size
        uuid.UUID(buf[0x19 + r_name:0x19 + r_name + 36].decode())  # ldm_parse_guid
        return ("disk", struct.unpack(">Q", b"\0" * (8 - buf[0x18]) + buf[0x19:0x19 + buf[0x18]])[0],
                uuid.UUID(buf[0x19 + r_name:0x19 + r_name + 36].decode()))
    elif kind == 0x33:
        r_size = relative(buf, 0x34, r_name)
        r_parent = relative(buf, 0x34, r_size)
        r_diskid = relative(buf, 0x34, r_parent)
        length = relative(buf, 0x34, r_diskid) if flags & 0x08 else r_diskid
        assert length + VBLK_SIZE[kind] <= size
    elif kind == 0x51:
        r_vtype = relative(buf, 0x18, r_name)
        r_disable = relative(buf, 0x18, r_vtype)
        r_child = relative(buf, 0x2D, r_disable)
        r = relative(buf, 0x3D, r_child)
        for flag in (0x08, 0x20, 0x80, 0x02):
            if flags & flag:
                r = relative(buf, 0x52, r)
        assert r + VBLK_SIZE[kind] <= size
    else:
        raise AssertionError(f"the kernel cannot parse VBLK type {kind:#x}")
    return None


def kernel_accepts(disk: bootmirror.Disk) -> None:
    raw = lambda lba, n=1: disk.read(lba * S, n * S)  # noqa: E731
    mbr = raw(0)
    # ldm_validate_partition_table: 55 AA and a partition of type 0x42.
    assert mbr[510:512] == b"\x55\xaa"
    assert any(mbr[0x1BE + 16 * i + 4] == 0x42 for i in range(4))
    # ldm_validate_privheads: PRIVHEAD 1 (LBA 6) and 2 (config + 1856) parse and agree; the
    # database lies on the disk; the logical disk does not overlap it.
    ph1 = parse_privhead(raw(6))
    base = ph1[3]
    ph2 = parse_privhead(raw(base + 1856))
    assert ph1 == ph2, "Primary and backup PRIVHEADs don't match"
    assert base + ph1[4] <= disk.size // S, "Database extends beyond the end of the disk"
    # ldm_validate_tocblocks: one or more of the four TOCBLOCKs; "config" then "log"; bitmaps
    # inside the config; all valid copies agree.
    tocs = []
    for off in (1, 2, 2045, 2046):
        t = raw(base + off)
        if t[:8] != b"TOCBLOCK":
            continue
        # strncpy of 16 bytes then strncmp: the name up to its NUL.
        assert t[0x24:0x34].split(b"\0")[0] == b"config"
        assert t[0x46:0x56].split(b"\0")[0] == b"log"
        tocs.append(struct.unpack(">QQ", t[0x2E:0x3E]) + struct.unpack(">QQ", t[0x50:0x60]))
    assert tocs and all(t == tocs[0] for t in tocs)
    b1s, b1n, b2s, b2n = tocs[0]
    assert b1s + b1n <= ph1[4] and b2s + b2n <= ph1[4], "The bitmaps are out of range"
    # ldm_validate_vmdb: VMDB at config + 17 (OFF_VMDB), version 4.10, status 1, slots in range.
    vmdb = raw(base + 17)
    assert vmdb[:4] == b"VMDB"
    assert struct.unpack(">HH", vmdb[0x12:0x16]) == (4, 10)
    assert struct.unpack(">H", vmdb[0x10:0x12])[0] == 1, "Database is not in a consistent state"
    last, size, first = struct.unpack(">III", vmdb[4:16])
    assert size != 0 and size * last <= b1n * 512
    # ldm_get_vblks: every slot from the first offset to vblk_last says "VBLK"; records of one
    # slot parse; fragments (2..4) are complete and not duplicated.
    area = disk.read((base + 17) * S, size * last)
    frags, disks = {}, []
    for s in range(first // size, last):
        v = area[s * size:(s + 1) * size]
        assert v[:4] == b"VBLK", f"Expected to find a VBLK (slot {s})"
        group, rec, num = struct.unpack(">IHH", v[8:16])
        if num == 1:
            disks.append(check_record(v))
        elif num > 1:
            assert num <= 4 and rec < num
            parts = frags.setdefault(group, {})
            assert rec not in parts, "Duplicate VBLK"
            parts[rec] = v[16:]
    for group, parts in frags.items():
        num = len(parts)
        assert sorted(parts) == list(range(num)), f"VBLK group {group} is incomplete"
        buf = b"\0" * 16 + b"".join(parts[i] for i in range(num)) + b"\0" * 16 * num
        disks.append(check_record(buf))
    # ldm_create_data_partitions: this disk's GUID is among the disk records.
    assert any(d and d[2] == ph1[5] for d in disks), "Can't find the ID of this disk in the database"


@pytest.fixture(scope="module")
def windows_images(tmp_path_factory):
    return unpack_windows(tmp_path_factory.mktemp("ldm-kernel"))


def test_the_checker_accepts_windows_own_disks(windows_images):
    # The kernel parses LDM on MBR disks only; five of the 2008 R2 images are GPT disks.
    mbr = [p for p in windows_images if p.open("rb").read(512)[0x1BE + 4] == 0x42]
    assert len(mbr) == 14
    for path in mbr:
        kernel_accepts(bootmirror.Disk.open(path))


def test_our_mbr_disks_pass_the_kernel_rules(tmp_path):
    disks = [bootmirror.Disk.create(tmp_path / f"d{i}.img", 64 << 20) for i in range(3)]
    group = ldm.DiskGroup.create("WIN-KERNEL-Dg0")
    ds = [group.add_disk(d) for d in disks]
    group.create_volume("Volume1", "mirrored", [(ds[0], 0, 40960), (ds[1], 0, 40960)], drive_hint="C:")
    group.create_volume("Volume2", "striped", [(ds[1], 40960, 8192), (ds[2], 0, 8192)], drive_hint="D:")
    group.create_volume("Volume3", "spanned", [(ds[0], 40960, 4096), (ds[2], 8192, 4096)])
    group.commit()
    for d in disks:
        kernel_accepts(d)
    # And after an incremental commit.
    group.delete_volume("Volume3")
    group.create_volume("Volume4", "simple", [(ds[2], 8192, 2048)], drive_hint="E:")
    group.commit()
    for d in disks:
        kernel_accepts(d)


def test_the_checker_catches_what_the_kernel_refuses(tmp_path):
    disk = bootmirror.Disk.create(tmp_path / "d.img", 16 << 20)
    ldm.convert_dynamic(disk)
    kernel_accepts(disk)
    _, _, _, base, _, _ = parse_privhead(disk.read(6 * S, S))
    slot = (base + 17) * S + 200 * 128
    disk.write(slot, b"\0\0\0\0")  # an unstamped slot
    with pytest.raises(AssertionError, match="Expected to find a VBLK"):
        kernel_accepts(disk)


def test_windows_group_after_our_commit_still_passes(windows_images, tmp_path):
    paths = []
    for p in windows_images:
        if p.name.startswith("ldm-2003r2-"):
            q = tmp_path / p.name
            shutil.copyfile(p, q)
            paths.append(q)
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.read_group(disks)
    group.delete_volume("Volume4")
    group.create_volume("Volume9", "mirrored", [(group.disk("Disk1"), 96256, 64), (group.disk("Disk2"), 96256, 64)])
    group.commit()
    for d in disks:
        kernel_accepts(d)

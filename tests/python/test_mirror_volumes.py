"""Dynamic volumes as block devices (bootmirror._core.mirror): a FAT32 file system written through
the boot volume's mirror, read back by outside tools from each plex alone (fsck.fat, and hashlib
over the ranges ldmtool gives); I/O errors on one plex; verify locating a silent corruption; and
spanned and striped volumes laid out as libldm lays them out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, ldm
from fat_helpers import assert_fsck_clean
from ldm_helpers import BOOT_VOLUME_C_BOTH_DYNAMIC, dynamic_boot_machine, scan, show

MiB = 1 << 20


def mirrored_boot_volume(tmp_path: Path) -> bootmirror.Machine:
    """The runbook's machine after "add disk=1": C: mirrored on both disks, formatted FAT32."""
    m = dynamic_boot_machine(tmp_path / "lab", windows=True)
    m.diskpart("select volume c\nadd disk=1", check=True)
    # Formatted while the new plex is being copied: the writes reach both plexes.
    assert "The new file system is FAT32." in m.format("c:", "/fs:fat32 /q /y")
    m.wait()
    return m


def plexes_by_ldmtool(images):
    """(image, byte offset, byte length) of each partition of the mirrored volume, as ldmtool
    reads them from the disks: an outside reader's idea of where each plex lies."""
    (guid,) = scan(images)
    (name,) = show(images, "diskgroup", guid)["volumes"]
    volume = show(images, "volume", guid, name)
    assert volume["type"] == "mirrored"
    out = []
    for part in volume["partitions"]:
        p = show(images, "partition", guid, part)
        d = show(images, "disk", guid, p["disk"])
        out.append((Path(d["device"]), (d["data-start"] + p["start"]) * 512, p["size"] * 512))
    return out


def plex_file(tmp_path: Path, image: Path, offset: int, length: int) -> Path:
    """One plex copied out of its disk image, for fsck.fat."""
    out = tmp_path / f"plex-{image.stem}.img"
    with open(image, "rb") as src, open(out, "wb") as dst:
        src.seek(offset)
        dst.write(src.read(length))
    return out


def test_fat32_written_through_the_mirror_reads_clean_from_either_plex(tmp_path):
    m = mirrored_boot_volume(tmp_path)
    c = m.volume("c:")
    c.makedirs("WINDOWS/system32")
    for i in range(40):
        c.write_bytes(f"WINDOWS/system32/file{i:02}.dll", bytes([i]) * (3000 + 997 * i))
    c.flush()
    v = m.dynamic_volume("c:")
    assert v.status == "Healthy" and [p.state for p in v.plexes] == ["in sync", "in sync"]
    assert m.diskpart("list volume").count("FAT32  Mirror") == 1

    images = [Path(m._m.image(0)), Path(m._m.image(1))]
    plexes = plexes_by_ldmtool(images)
    assert sorted(image.name for image, _, _ in plexes) == ["disk0.img", "disk1.img"]
    digests = set()
    for image, offset, length in plexes:
        with open(image, "rb") as f:
            f.seek(offset)
            digests.add(hashlib.sha256(f.read(length)).hexdigest())
        assert_fsck_clean(plex_file(tmp_path, image, offset, length))
    assert len(digests) == 1  # byte-identical plexes, by an independent reader
    assert v.verify().identical


def test_writes_continue_on_the_other_plex_after_an_io_error(tmp_path):
    m = mirrored_boot_volume(tmp_path)
    images = [Path(m._m.image(0)), Path(m._m.image(1))]
    plexes = {image.name: (offset, length) for image, offset, length in plexes_by_ldmtool(images)}
    m.close()
    # The disks behind fault injectors; every access to disk 0's plex fails from now on.
    faulty = [bootmirror.FaultyDisk(Disk.open(image, writable=True)) for image in images]
    (volume,) = ldm.read_group(faulty).volumes
    faulty[0].fail_range(*plexes["disk0.img"])
    device = volume.device()  # over both plexes
    c = bootmirror.fat.open(device)  # read from disk 1's plex
    c.write_bytes("after.txt", b"written while disk 0 fails" * 100)
    c.flush()
    states = [p.state for p in device.device.plexes]
    assert sorted(states) == ["failed", "in sync"]
    for disk in faulty:
        disk.flush()
    offset, length = plexes["disk1.img"]
    alone = plex_file(tmp_path, images[1], offset, length)
    assert_fsck_clean(alone)
    assert bootmirror.fat.open(Disk.open(alone)).read_bytes("after.txt") == b"written while disk 0 fails" * 100


def test_verify_locates_a_silent_corruption_of_one_plex(tmp_path):
    m = mirrored_boot_volume(tmp_path)
    images = [Path(m._m.image(0)), Path(m._m.image(1))]
    plexes = {image.name: (offset, length) for image, offset, length in plexes_by_ldmtool(images)}
    offset, _ = plexes["disk1.img"]
    m.close()
    with open(images[1], "r+b") as f:  # behind the machine's back
        f.seek(offset + 5 * MiB + 12345)
        f.write(b"\xde\xad\xbe\xef")
    m = bootmirror.Machine.open(tmp_path / "lab")
    report = m.dynamic_volume("c:").verify(region_bytes=256 * 1024)
    assert not report.identical
    assert report.mismatches == [(5 * MiB, 256 * 1024)]
    regions = -(-m.dynamic_volume("c:").device.size // (256 * 1024))
    assert [len(h) for h in report.hashes] == [regions, regions]
    assert sum(a != b for a, b in zip(*report.hashes)) == 1


def test_numbers_out_of_range_are_usage_errors_naming_them(tmp_path):
    m = mirrored_boot_volume(tmp_path)
    volume = m.dynamic_volume("c:")
    for region in (-1, 1 << 64):
        with pytest.raises(bootmirror.UsageError, match="region_bytes"):
            volume.verify(region_bytes=region)
    for plex in (2, -1):
        for owner in (volume, m.disk_group.volume("Volume1")):
            with pytest.raises(bootmirror.UsageError, match=f"has no plex {plex}"):
                owner.plex_device(plex)
    for limit in (-1, 1 << 64):
        with pytest.raises(bootmirror.UsageError, match="rebuild speed limit"):
            m.rebuild_speed_limit = limit
    for waiting in (m, volume):
        with pytest.raises(bootmirror.UsageError, match="timeout"):
            waiting.wait(timeout=-1)
    assert m.rebuild_speed_limit is None and volume.plex_device(1).size == volume.device.size


def _layout_from_ldmtool(images, name):
    """Where each volume byte lies, by libldm's rules applied to what ldmtool shows: a spanned
    volume concatenates its partitions, a striped one deals `chunk-size` sectors to each partition
    in turn (the dm-linear and dm-stripe tables ldmtool create makes)."""
    (guid,) = scan(images)
    volume = show(images, "volume", guid, name)
    parts = []
    for part in volume["partitions"]:
        p = show(images, "partition", guid, part)
        d = show(images, "disk", guid, p["disk"])
        parts.append((Path(d["device"]), (d["data-start"] + p["start"]) * 512, p["size"] * 512))
    return volume, parts


@pytest.mark.parametrize("layout", ["spanned", "striped"])
def test_spanned_and_striped_volumes_lie_where_libldm_puts_them(tmp_path, layout):
    images = [tmp_path / "a.img", tmp_path / "b.img"]
    disks = [Disk.create(p, "16 MiB") for p in images]
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    # Unequal parts for spanned (3 MiB then 2 MiB), equal columns for striped.
    extents = [(a, 100, 6144), (b, 300, 4096)] if layout == "spanned" else [(a, 100, 4096), (b, 300, 4096)]
    volume = group.create_volume("Volume1", layout, extents)
    group.commit()
    data = bytes((i * 37 + i // 512) & 0xFF for i in range(volume.size_bytes))
    volume.device().write(0, data)
    for d in disks:
        d.flush()

    shown, parts = _layout_from_ldmtool(images, "Volume1")
    assert shown["type"] == layout and len(parts) == 2
    read = {image: image.read_bytes() for image in images}
    if layout == "spanned":
        rebuilt = b"".join(read[image][offset:offset + length] for image, offset, length in parts)
    else:
        chunk = shown["chunk-size"] * 512
        rows = parts[0][2] // chunk
        rebuilt = b"".join(read[image][offset + row * chunk:offset + (row + 1) * chunk]
                           for row in range(rows) for image, offset, _ in parts)
    assert rebuilt[:len(data)] == data
    assert volume.device().read(0, len(data)) == data


def test_breaking_the_boot_mirror_from_a_dead_disk_says_the_bootfile_was_not_updated(tmp_path):
    m = mirrored_boot_volume(tmp_path)
    image0 = Path(m._m.image(0))
    m.close()
    image0.unlink()  # disk 0 dies
    m = bootmirror.Machine.open(tmp_path / "lab")
    t = m.diskpart("select volume c\nbreak disk=m0 nokeep")
    assert t.rstrip().endswith("The service did not update the bootfile.\n\nDiskpart successfully broke the mirror volume.")
    # The surviving plex is a simple volume that still holds the file system.
    assert m.dynamic_volume("c:").status == "Healthy"
    assert "FAT32  Simple" in m.diskpart("list volume")


def test_an_interrupted_rebuild_resumes_from_its_last_checkpoint():
    # In memory, disk 1 behind a fault injector: the copy fails 66 MiB into the new plex, after
    # its first durable checkpoint (every 64 MiB). The fault lies inside the plex only (its end
    # touches the backup GPT, which the commit before the copy writes).
    m = bootmirror.Machine()
    disks = [Disk.memory("340 MiB"), bootmirror.FaultyDisk(Disk.memory("340 MiB"))]
    for d in disks:
        m.attach(d)
    m.diskpart(BOOT_VOLUME_C_BOTH_DYNAMIC, check=True)
    m.reboot()
    m.format("c:", "/fs:fat32 /q /y")
    c = m.volume("c:")
    c.write_bytes("big.bin", bytes(range(256)) * (264 * 1024))  # 66 MiB of data, past the fault
    c.flush()
    del c
    group = m.disk_group
    # The shadow disk is the one with room for the plex (disk 0 is full); add takes its first run.
    shadow = max((d for d in group.disks if d.present), key=lambda d: max((n for _, n in d.free_extents()), default=0))
    at = (shadow.data_start + shadow.free_extents()[0][0]) * 512
    disks[1].fail_range(at + 66 * MiB, 1 * MiB, "write")
    # diskpart answers at once; the copy fails in the background, and wait() says why.
    assert "Diskpart succeeded in adding a mirror" in m.diskpart("select volume c\nadd disk=1", check=True)
    with pytest.raises(OSError, match="injected write error"):
        m.wait()
    assert m.dynamic_volume("c:").status == "Failed Rd"
    assert [p.state for p in m.dynamic_volume("c:").plexes] == ["in sync", "failed"]
    disks[1].clear_faults()
    before = disks[1].writes_seen
    m.resync()
    copied = disks[1].writes_seen - before
    v = m.dynamic_volume("c:")
    assert v.status == "Healthy" and v.verify().identical
    # Resumed at 64 MiB: a few 4 MiB chunks of the 72 MiB volume, not all 18 (and the database).
    assert copied < 12, copied
    assert m.volume("c:").read_bytes("big.bin") == bytes(range(256)) * (264 * 1024)


def test_a_group_mixing_sector_sizes_sizes_each_volume_by_its_own_disks_and_refuses_to_mix_them():
    disks = [Disk.memory("64 MiB", 512), Disk.memory("512 MiB", 4096)]
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    small = group.create_volume("Volume1", "simple", [(a, 0, 32 * 2048)])        # 32 MiB of 512-byte sectors
    large = group.create_volume("Volume2", "simple", [(b, 0, 32 * 256)])         # 32 MiB of 4096-byte sectors
    group.commit()
    assert (small.size_bytes, large.size_bytes) == (32 * MiB, 32 * MiB)
    assert (small.device().size, large.device().size) == (32 * MiB, 32 * MiB)
    with pytest.raises(bootmirror.UsageError, match="same sector size"):
        group.add_mirror(small, b)
    with pytest.raises(bootmirror.UsageError, match="same sector size"):
        group.create_volume("Volume3", "spanned", [(a, 32 * 2048, 2048), (b, 32 * 256, 256)])

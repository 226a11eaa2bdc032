"""A disk dying under a mirrored machine, and the runbook's recovery ("Recover a Shadow Boot Drive"
and "Re-Establish the Primary Boot Drive Mirror" in KB 814070): m.fail_disk(0), Failed Rd, writes
going on from the other plex, a replacement disk 0 beside Disk M0 Missing, break disk=m0 nokeep,
delete disk, convert dynamic, add disk=0, Rebuild, Healthy. And a disk that comes back: its plexes are
copied back in full before they serve."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import bootmirror
from bootmirror import _core, ldm
from fat_helpers import assert_fsck_clean
from ldm_helpers import BOOT_VOLUME_C_BOTH_DYNAMIC, dynamic_boot_machine

MiB = 1 << 20


def lines(transcript: str, start: str):
    block = transcript.rsplit(f"DISKPART> {start}\n\n", 1)[1].split("\n\nDISKPART>", 1)[0]
    return [line.rstrip() for line in block.rstrip("\n").splitlines()]


def mirrored_c(tmp_path: Path) -> bootmirror.Machine:
    m = dynamic_boot_machine(tmp_path / "lab", windows=True)
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.format("c:", "/fs:fat32 /q /y")
    c = m.volume("c:")
    c.makedirs("WINDOWS/system32")
    c.write_bytes("WINDOWS/system32/ntoskrnl.exe", b"kernel" * 200_000)
    c.flush()
    m.wait()
    return m


def plex_bytes(m: bootmirror.Machine, plex: int) -> bytes:
    (volume,) = m.volumes
    part = volume.plexes[plex].partitions[0]
    return part.disk.disk.read(part.offset, volume.size_bytes)


def test_the_runbooks_recovery_after_disk_0_dies(tmp_path):
    m = mirrored_c(tmp_path)
    m.fail_disk(0)
    t = m.diskpart("list disk\nlist volume\nselect volume 0\ndetail volume", check=True)
    assert lines(t, "list disk")[2][2:].startswith("Disk M0   Missing")
    assert "Mirror        72 MB  Failed Rd" in lines(t, "list volume")[2]
    # The volume goes on from disk 1's plex alone.
    c = m.volume("c:")
    c.write_bytes("after-the-failure.txt", b"written on one plex\r\n")
    c.flush()
    del c
    assert [p.state for p in m.dynamic_volume("c").plexes] == ["failed", "in sync"]
    assert_fsck_clean(_plex_file(tmp_path, m, 1))

    # The runbook's order: a new disk 0 goes in (setup puts a fresh Windows on it) while the old
    # one is still the group's missing disk, M0; then the mirror is broken and M0 deleted.
    new_disk = bootmirror.Disk.create(tmp_path / "lab" / "disk0-replacement.img", "340 MiB")
    moved_to = m.replace_disk(0, new_disk)
    assert moved_to == 2 and m.disks[2] is None and m.disks[0] is not None
    t = m.diskpart("""select disk 0
convert gpt
select partition 1
delete partition override
create partition efi size=204
create partition msr size=32
create partition primary
list disk
select volume 0
detail volume""", check=True)
    assert [row[2:].split()[:2] for row in lines(t, "list disk")[2:]] == [["Disk", "0"], ["Disk", "1"], ["Disk", "M0"]]
    assert lines(t, "detail volume")[2:] == [
        "  Disk M0   Missing       72 MB      0 B   *",
        "  Disk 1    Online       340 MB      0 B   *    *",
    ]
    # Disk 0 is now the new disk, which holds no plex; M0 is the only name of the old one.
    refused = m.diskpart("select volume 0\nbreak disk=0 nokeep\nbreak disk=m1 nokeep")
    assert "DISKPART> break disk=0 nokeep\n\nThe disk you specified is not valid." in refused
    assert "DISKPART> break disk=m1 nokeep\n\nThe arguments you specified for this command are not valid." in refused

    t = m.diskpart("select volume 0\nbreak disk=m0 nokeep\nlist volume\nselect disk m0\ndelete disk", check=True)
    assert "The service did not update the bootfile.\n\nDiskpart successfully broke the mirror volume." in t
    assert "Simple        72 MB  Healthy" in lines(t, "list volume")[2]
    assert "Disk M0 is now the selected disk." in t
    assert "Diskpart successfully deleted the missing disk." in t
    assert sorted(m.disks) == [0, 1]

    m.rebuild_speed_limit = 0  # held, so that Rebuild can be seen
    t = m.diskpart("""select disk 0
select partition 3
delete partition
convert dynamic
select volume 0
add disk=0
list volume""", check=True)
    assert "Diskpart successfully converted the selected disk to dynamic format." in t
    assert "Diskpart succeeded in adding a mirror to the volume." in t
    assert "Mirror        72 MB  Rebuild" in lines(t, "list volume")[2]
    m.rebuild_speed_limit = None
    assert m.wait(timeout=120)
    assert "Mirror        72 MB  Healthy" in lines(m.diskpart("list volume"), "list volume")[2]
    assert plex_bytes(m, 0) == plex_bytes(m, 1)
    c = m.volume("c:")
    assert c.read_bytes("after-the-failure.txt") == b"written on one plex\r\n"
    assert c.read_bytes("WINDOWS/system32/ntoskrnl.exe") == b"kernel" * 200_000


def test_a_replacement_refuses_the_dead_disks_own_image_and_survives_a_restart(tmp_path):
    m = mirrored_c(tmp_path)
    old_image = m.disks[0].path
    m.fail_disk(0)
    try:
        m.replace_disk(0, old_image)
    except bootmirror.UsageError as e:
        assert "missing disk M0" in str(e)
    else:
        raise AssertionError("the dead disk's own image was taken as its replacement")
    m.replace_disk(0, bootmirror.Disk.create(tmp_path / "lab" / "new0.img", "340 MiB"))
    m.close()
    m = bootmirror.Machine.open(tmp_path / "lab")
    t = m.diskpart("list disk\nselect volume 0\ndetail volume")
    assert [row[2:].split()[:2] for row in lines(t, "list disk")[2:]] == [["Disk", "0"], ["Disk", "1"], ["Disk", "M0"]]
    assert "Disk M0   Missing       72 MB" in t
    # The old disk, attached again, is the group's disk again (its plex copied back in).
    assert m.attach(old_image) == 2
    assert m.wait(timeout=120)
    assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").verify().identical


def _plex_file(tmp_path: Path, m: bootmirror.Machine, plex: int) -> Path:
    out = tmp_path / f"plex{plex}.img"
    out.write_bytes(plex_bytes(m, plex))
    return out


def test_a_disk_that_comes_back_is_copied_back_in_before_it_serves(tmp_path):
    m = mirrored_c(tmp_path)
    image = m.disks[1].path
    (volume,) = m.volumes
    shadow = volume.plexes[1].partitions[0]
    where, size = shadow.offset, volume.size_bytes
    m.fail_disk(1)
    # Dead across a restart too: machine.json says so, though the image is still there.
    m.close()
    m = bootmirror.Machine.open(tmp_path / "lab")
    assert m.disks[1] is None
    assert lines(m.diskpart("list disk"), "list disk")[3][2:].startswith("Disk M0   Missing")
    c = m.volume("c:")
    c.write_bytes("while-disk-1-was-away.txt", b"x" * 3 * MiB)
    c.flush()
    del c
    with open(image, "rb") as f:  # disk 1's plex as its image still holds it: stale
        f.seek(where)
        assert f.read(size) != plex_bytes(m, 0)

    m.rebuild_speed_limit = 0
    assert m.attach(image) == 1
    assert m.dynamic_volume("c").status == "Rebuild"
    assert [p.state for p in m.dynamic_volume("c").plexes] == ["in sync", "rebuilding"]
    m.rebuild_speed_limit = None
    assert m.wait(timeout=120)
    assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").verify().identical
    assert m.volume("c:").read_bytes("while-disk-1-was-away.txt") == b"x" * 3 * MiB


def _mirrored_in_memory():
    """C: mirrored on two disks in memory, disk 1 behind a fault injector; C: full of 0x5a."""
    m = bootmirror.Machine()
    disks = [bootmirror.Disk.memory("340 MiB"), bootmirror.FaultyDisk(bootmirror.Disk.memory("340 MiB"))]
    for d in disks:
        m.attach(d)
    m.diskpart(BOOT_VOLUME_C_BOTH_DYNAMIC, check=True)
    m.reboot()
    device = m.dynamic_volume("c").device
    device.write(0, b"\x5a" * device.size)
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    return m, disks, device


def test_only_what_the_plex_missed_is_copied_back_from_its_write_intent_bitmap():
    # In memory, disk 1 behind a write counter. While it is gone, 1 MiB of the 72 MB volume is
    # written: when it returns, about that much is copied, not the volume.
    m, disks, device = _mirrored_in_memory()
    m.fail_disk(1)
    assert m.dynamic_volume("c").status == "Failed Rd"
    device.write(20 * MiB, b"\xa5" * MiB)
    before = disks[1].writes_seen
    assert m.attach(disks[1]) == 1  # the same disk, back
    assert m.wait(timeout=60)
    copied = disks[1].writes_seen - before
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    assert device.read(20 * MiB, MiB) == b"\xa5" * MiB
    assert 0 < copied <= 2, copied  # one 1 MiB run (64 KiB regions), in one or two chunks


@pytest.mark.parametrize("damage", ["torn", "lost"])
def test_a_damaged_or_lost_bitmap_means_the_whole_plex_is_copied(tmp_path, damage):
    m = mirrored_c(tmp_path)
    image = m.disks[1].path
    (volume,) = m.volumes
    shadow = volume.plexes[1].partitions[0]
    m.fail_disk(1)
    c = m.volume("c:")
    c.write_bytes("while-away.bin", b"w" * 2 * MiB)
    c.flush()
    del c
    (bitmap,) = Path(m.folder).glob("write-intent-*.bin")
    m.close()
    if damage == "torn":
        data = bytearray(bitmap.read_bytes())
        data[-1] ^= 0x80  # a torn update: its CRC no longer matches
        bitmap.write_bytes(bytes(data))
    else:
        bitmap.unlink()  # machine.json still says the plex has one
    # Bytes the bitmap never marked, spoiled on the shadow's plex: only a whole copy mends them.
    with open(image, "r+b") as f:
        f.seek(shadow.offset + volume.size_bytes - MiB)
        f.write(b"\xee" * MiB)
    m = bootmirror.Machine.open(tmp_path / "lab")
    m.attach(image)
    assert m.wait(timeout=120)
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    assert m.volume("c:").read_bytes("while-away.bin") == b"w" * 2 * MiB


def _copy_under_way(tmp_path: Path):
    """C: full of data and add disk=1 copying it slowly; returns (machine, C:'s data)."""
    m = dynamic_boot_machine(tmp_path / "lab")
    device = m.dynamic_volume("c").device
    data = random.Random(11).randbytes(device.size)
    device.write(0, data)
    m.rebuild_speed_limit = 16 * MiB
    m.diskpart("select volume c\nadd disk=1", check=True)
    deadline = time.monotonic() + 60
    while m.dynamic_volume("c").plexes[1].cursor < 8 * MiB:
        assert time.monotonic() < deadline, "the copy did not start"
        time.sleep(0.02)
    return m, data


def _returns_and_holds(m: bootmirror.Machine, image, number: int, data: bytes) -> None:
    """The dead disk's image, attached again as disk `number`: the copy ends in two identical
    plexes that hold `data`."""
    assert m.attach(image) == number
    assert m.wait(timeout=120)
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    assert v.device.read(0, v.device.size) == data


def test_the_new_plexs_disk_vanishing_mid_copy_leaves_the_data_on_the_source_and_the_copy_starts_again(tmp_path):
    m, data = _copy_under_way(tmp_path)
    image = m.disks[1].path
    m.fail_disk(1)
    v = m.dynamic_volume("c")
    assert v.status == "Failed Rd" and [p.state for p in v.plexes] == ["in sync", "failed"]
    device = v.device
    device.write(40 * MiB, b"\x77" * MiB)  # writes go on from disk 0's plex
    data = data[:40 * MiB] + b"\x77" * MiB + data[41 * MiB:]
    m.rebuild_speed_limit = None
    # The database says which plex holds the data: after a restart disk 1's plex is still behind.
    m.close()
    m = bootmirror.Machine.open(tmp_path / "lab")
    assert m.dynamic_volume("c").status == "Failed Rd"
    _returns_and_holds(m, image, 1, data)


def test_the_source_disk_vanishing_mid_copy_fails_the_volume_until_it_returns(tmp_path):
    m, data = _copy_under_way(tmp_path)
    image = m.disks[0].path
    m.fail_disk(0)
    v = m.dynamic_volume("c")
    # No plex holds all of C: now (disk 1's is half copied): nothing serves, nothing is lost.
    assert v.status == "Failed" and [p.state for p in v.plexes] == ["failed", "rebuilding"]
    with pytest.raises(OSError):
        v.device.read(0, 4096)
    m.rebuild_speed_limit = None
    # Time for the copy's thread to find no source and set the copy aside: what it failed with
    # then must not be reported once the disk is back and the copy has run.
    time.sleep(0.5)
    _returns_and_holds(m, image, 0, data)


def test_a_plex_failed_by_io_errors_stays_failed_until_its_disk_is_reactivated():
    m, disks, device = _mirrored_in_memory()
    (volume,) = m.volumes
    shadow = volume.plexes[1].partitions[0]
    disks[1].fail_range(shadow.offset, volume.size_bytes, "write")
    device.write(30 * MiB, b"\xa5" * MiB)  # fails on disk 1: its plex fails, the write goes on
    assert [p.state for p in m.dynamic_volume("c").plexes] == ["in sync", "failed"]
    disks[1].clear_faults()
    # Waiting copies nothing onto a plex that failed, as Windows leaves it Failed Rd.
    before = disks[1].writes_seen
    assert m.wait(timeout=30)
    assert disks[1].writes_seen == before and m.dynamic_volume("c").status == "Failed Rd"
    m.reactivate(1)
    assert m.wait(timeout=60)
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    assert 0 < disks[1].writes_seen - before <= 2  # the marked 1 MiB, in one or two chunks
    assert device.read(30 * MiB, MiB) == b"\xa5" * MiB


def test_a_plex_failed_by_a_write_during_its_rebuild_is_not_marked_in_sync():
    # Disk 1's plex is being rebuilt; once the copy is done (the compare comes next) a write fails
    # on disk 1, failing the plex. The rebuild must end with that error and leave the plex failed:
    # marked in sync, it would serve the bytes it missed.
    raw = [bootmirror.Disk.memory(8 * MiB) for _ in range(2)]
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(raw[0]), group.add_disk(raw[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 4096), (b, 0, 4096)], drive_hint="C:")
    group.commit()
    disks = [bootmirror.FaultyDisk(d) for d in raw]
    group = ldm.DiskGroup.read(disks)
    volume = group.volume("Volume1")
    device = volume.device().device
    device.write(0, bytes(range(256)) * 4096)
    shadow = volume.plexes[1].partitions[0].offset

    def progress(done, total):
        if done == total:
            disks[1].fail_range(shadow, 4096, "write")
            device.write(0, b"NEW DATA" * 512)  # disk 1 refuses it: only plex 1 takes it
            disks[1].clear_faults()
        return True

    with pytest.raises(OSError, match="plex Volume1-02 failed during its rebuild"):
        _core.mirror.rebuild(device, 1, 0, progress=progress)
    assert [p.state for p in device.plexes] == ["in sync", "failed"]
    disks[0].missing = True
    with pytest.raises(OSError, match="no plex of the volume can serve"):
        device.read(0, 8)


def test_reactivating_a_dead_disk_connects_its_image_again(tmp_path):
    m = mirrored_c(tmp_path)
    m.fail_disk(1)
    c = m.volume("c:")
    c.write_bytes("while-away.txt", b"away\r\n")
    c.flush()
    del c
    m.reactivate(1)
    assert m.disks[1] is not None
    assert m.wait(timeout=60)
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    m.detach(1)
    with pytest.raises(bootmirror.UsageError):
        m.reactivate(1)

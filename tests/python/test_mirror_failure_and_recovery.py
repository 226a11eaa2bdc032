"""A disk dying under a mirrored machine, and the runbook's recovery ("Recover a Shadow Boot Drive"
and "Re-Establish the Primary Boot Drive Mirror" in KB 814070): m.fail_disk(0), Failed Rd, Disk M0
Missing, writes going on from the other plex, break disk=m0 nokeep, delete disk, a replacement
disk 0, convert dynamic, add disk=0, Rebuild, Healthy. And a disk that comes back: its plexes are
copied back in full before they serve."""

from __future__ import annotations

from pathlib import Path

import bootmirror
from fat_helpers import assert_fsck_clean
from ldm_helpers import BOOT_VOLUME_C_BOTH_DYNAMIC

MiB = 1 << 20


def lines(transcript: str, start: str):
    block = transcript.rsplit(f"DISKPART> {start}\n\n", 1)[1].split("\n\nDISKPART>", 1)[0]
    return [line.rstrip() for line in block.rstrip("\n").splitlines()]


def mirrored_c(tmp_path: Path) -> bootmirror.Machine:
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("340 MiB")
    m.create_disk("340 MiB")
    m.diskpart(BOOT_VOLUME_C_BOTH_DYNAMIC, check=True)
    m.reboot()
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
    assert lines(t, "detail volume")[2:] == [
        "  Disk M0   Missing       72 MB      0 B   *",
        "  Disk 1    Online       340 MB      0 B   *    *",
    ]
    # The volume goes on from disk 1's plex alone.
    c = m.volume("c:")
    c.write_bytes("after-the-failure.txt", b"written on one plex\r\n")
    c.flush()
    assert [p.state for p in m.dynamic_volume("c").plexes] == ["failed", "in sync"]
    assert_fsck_clean(_plex_file(tmp_path, m, 1))

    t = m.diskpart("select volume 0\nbreak disk=m0 nokeep\nlist volume\nselect disk m0\ndelete disk", check=True)
    assert "The service did not update the bootfile.\n\nDiskpart successfully broke the mirror volume." in t
    assert "Simple        72 MB  Healthy" in lines(t, "list volume")[2]
    assert "Diskpart successfully deleted the missing disk." in t

    # The replacement: a blank disk takes number 0.
    assert m.create_disk("340 MiB", name="disk0-replacement.img") == 0
    m.rebuild_speed_limit = 0  # held, so that Rebuild can be seen
    t = m.diskpart("""select disk 0
convert gpt
create partition efi size=204
create partition msr size=32
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
    assert lines(m.diskpart("list disk"), "list disk")[3][2:].startswith("Disk M1   Missing")
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


def test_only_what_the_plex_missed_is_copied_back_from_its_write_intent_bitmap():
    # In memory, disk 1 behind a write counter. While it is gone, 1 MiB of the 72 MB volume is
    # written: when it returns, about that much is copied, not the volume.
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


def test_a_damaged_bitmap_means_the_whole_plex_is_copied(tmp_path):
    m = mirrored_c(tmp_path)
    image = m.disks[1].path
    m.fail_disk(1)
    c = m.volume("c:")
    c.write_bytes("while-away.bin", b"w" * 2 * MiB)
    c.flush()
    del c
    (bitmap,) = Path(m.folder).glob("write-intent-*.bin")
    data = bytearray(bitmap.read_bytes())
    data[-1] ^= 0x80  # a torn update: its CRC no longer matches
    m.close()
    bitmap.write_bytes(bytes(data))
    m = bootmirror.Machine.open(tmp_path / "lab")
    m.attach(image)
    assert m.wait(timeout=120)
    v = m.dynamic_volume("c")
    assert v.status == "Healthy" and v.verify().identical
    assert m.volume("c:").read_bytes("while-away.bin") == b"w" * 2 * MiB

"""diskpart on dynamic disks, as KB 814070 runs it: convert both GPT disks (the Windows disk after
a reboot), mirror the boot volume, lose disk 0 (M0 Missing, Failed Rd), break the mirror and
delete the missing disk. ldmtool reads the disks at every stage."""

from __future__ import annotations

import json
import os

import pytest

import bootmirror
from bootmirror import ldm
from conftest import run_tool
from ldm_helpers import SEED_SETUP, dynamic_boot_machine, unpack_windows



def lines(transcript: str, start: str):
    """The answer to the last command `start` in a transcript."""
    block = transcript.rsplit(f"DISKPART> {start}\n\n", 1)[1].split("\n\nDISKPART>", 1)[0]
    return [line.rstrip() for line in block.rstrip("\n").splitlines()]


def ldmtool_group(paths):
    out = run_tool(["ldmtool", "scan", *map(str, paths)])
    assert "Error" not in out.stderr, out.stderr
    return json.loads(out.stdout)


def test_seed_mirror_then_failure_and_recovery(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("340 MiB")
    m.create_disk("340 MiB")
    m.diskpart(SEED_SETUP, check=True)
    windows = m.disk(0).read(247_481_344, 1 << 20)

    t = m.diskpart("""
select disk 1
convert dynamic
select disk 0
convert dynamic
""", check=True)
    # Seed: the shadow disk converts at once, the disk Windows runs from after a restart.
    assert "Diskpart successfully converted the selected disk to dynamic format." in t
    assert "You must reboot your computer to complete this operation." in t
    assert m.is_pending(0) and not m.is_dynamic(0) and m.is_dynamic(1)
    m.reboot()
    assert not m.is_pending(0) and m.is_dynamic(0)
    assert m.disk(0).read(247_481_344, 1 << 20) == windows  # the volume's bytes did not move

    # The copy is held where it starts (md's "frozen"), so that its Rebuild state can be seen.
    m.rebuild_speed_limit = 0
    t = m.diskpart("list disk\nlist volume\nselect volume 0\nadd disk=1\nlist volume\ndetail volume", check=True)
    assert lines(t, "list disk")[2:] == [
        "* Disk 0    Online       340 MB      0 B   *    *",
        "  Disk 1    Online       340 MB    72 MB   *    *",
    ]
    assert "Diskpart succeeded in adding a mirror to the volume." in t
    assert lines(t, "list volume")[2] == "* Volume 0                             Mirror        72 MB  Rebuild"
    assert m.dynamic_volume(0).progress == 0.0
    m.rebuild_speed_limit = None
    assert m.wait(timeout=60)
    t = m.diskpart("list volume")
    assert lines(t, "list volume")[2] == "* Volume 0                             Mirror        72 MB  Healthy"
    group = m.disk_group
    (volume,) = m.volumes
    assert (volume.type, volume.status, [p.disks for p in volume.plexes]) == ("Mirror", "Healthy", [["Disk2"], ["Disk1"]])
    a, b = (p.partitions[0] for p in volume.plexes)
    assert a.disk.disk.read(a.offset, volume.size_bytes) == b.disk.disk.read(b.offset, volume.size_bytes)
    images = [m._m.image(0), m._m.image(1)]
    assert ldmtool_group(images) == [group.guid]

    # Disk 0 fails.
    del m
    os.remove(images[0])
    m = bootmirror.Machine.open(tmp_path / "lab")
    t = m.diskpart("list disk\nlist volume\nselect volume 0\ndetail volume", check=True)
    assert lines(t, "list disk")[2] == "  Disk M0   Missing       72 MB      0 B   *"
    assert lines(t, "list volume")[2] == "  Volume 0                             Mirror        72 MB  Failed Rd"
    assert lines(t, "detail volume")[2:] == [
        "  Disk M0   Missing       72 MB      0 B   *",
        "  Disk 1    Online       340 MB      0 B   *    *",
    ]
    assert [p.missing for p in m.volumes[0].plexes] == [True, False]


def test_break_then_delete_missing_disk(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("340 MiB")
    m.create_disk("340 MiB")
    m.diskpart(SEED_SETUP, check=True)
    m.diskpart("select disk 1\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    m.diskpart("select volume 0\nadd disk=1", check=True)
    m.wait()
    images = [m._m.image(0), m._m.image(1)]
    del m
    os.remove(images[0])
    m = bootmirror.Machine.open(tmp_path / "lab")
    t = m.diskpart("""
select disk 1
delete disk
select volume 0
break disk=m0 nokeep
list volume
select disk m0
delete disk
list disk
""")
    assert "The selected disk is not a missing disk." in t
    assert "Diskpart successfully broke the mirror volume." in t
    assert lines(t, "list volume")[2] == "* Volume 0                             Simple        72 MB  Healthy"
    assert "Diskpart successfully deleted the missing disk." in t
    assert lines(t, "list disk")[2:] == ["  Disk 1    Online       340 MB      0 B   *    *"]
    group = m.disk_group
    assert [d.name for d in group.disks] == ["Disk1"]
    assert ldmtool_group([images[1]]) == [group.guid]


def test_missing_disk_holding_a_volumes_only_copy_is_not_deleted(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("64 MiB")
    m.create_disk("64 MiB")
    m.diskpart("select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic", check=True)
    group = m.disk_group
    group.create_volume("Volume1", "simple", [(group.disk("Disk1"), 0, 2048)])
    group.commit()
    image = m._m.image(0)
    del m, group
    os.remove(image)
    m = bootmirror.Machine.open(tmp_path / "lab")
    t = m.diskpart("select disk m0\ndelete disk\nlist disk")
    assert "only copy of volume" in t
    assert lines(t, "list disk")[2].startswith("* Disk M0   Missing")


def test_detail_disk_lists_its_volumes_and_foreign_disks_stay_untouched(tmp_path):
    import hashlib

    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("64 MiB")
    m.create_disk("64 MiB")
    (windows,) = unpack_windows(tmp_path, ["ldm-2003r2-simple-1.img"])
    digest = hashlib.sha256(windows.read_bytes()).hexdigest()
    m.attach(windows)
    m.diskpart("select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic", check=True)
    group = m.disk_group
    group.create_volume("Volume1", "mirrored", [(group.disk("Disk1"), 0, 4096), (group.disk("Disk2"), 0, 4096)],
                        drive_hint="E:")
    group.commit()
    t = m.diskpart("select disk 1\ndetail disk\nlist disk\nselect disk 2\nconvert dynamic\nlist volume")
    assert lines(t, "detail disk")[-1] == "  Volume 0     E                       Mirror      2048 KB  Healthy"
    assert lines(t, "list disk")[-1] == "  Disk 2    Foreign       50 MB      0 B   *"
    assert "already dynamic" in t
    assert [v.name for v in m.volumes] == ["Volume1"]  # the foreign group's volumes are not ours
    assert hashlib.sha256(windows.read_bytes()).hexdigest() == digest


def test_blank_shadow_disk_layout_as_the_seeds_recovery_shows(tmp_path):
    """KB 814070, "Recover a Shadow Boot Drive", bootcfg /list 1 after convert gpt, convert dynamic
    and the mirror: LDM metadata at 17,408 (1,048,576 bytes), the MSR at 1,065,984 (32,505,856),
    the mirror's LDM data partition at 33,571,840."""
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("340 MiB")
    m.create_disk("340 MiB")
    m.diskpart(SEED_SETUP.split("select disk 1")[0], check=True)
    m.diskpart("select disk 0\nconvert dynamic", check=True)
    m.reboot()
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect volume 0\nadd disk=1", check=True)
    m.wait()
    parts = [(p.offset, p.size, p.type_name) for p in bootmirror.gpt.partitions(m.disk(1))]
    size = m.volumes[0].size_bytes
    assert parts == [
        (17_408, 1_048_576, "LDM metadata"),
        (1_065_984, 32_505_856, "Microsoft Reserved"),
        (33_571_840, size, "LDM data"),
    ]
    assert "No problems found" in run_tool(["sgdisk", "-v", m._m.image(1)]).stdout


def test_list_volume_shows_letter_label_and_file_system(tmp_path):
    from bootmirror import fat

    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("64 MiB")
    m.create_disk("64 MiB")
    m.diskpart("select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic", check=True)
    group = m.disk_group
    group.create_volume("Volume1", "mirrored", [(group.disk("Disk1"), 0, 40960), (group.disk("Disk2"), 0, 40960)],
                        drive_hint="E:")
    group.commit()
    for plex in m.volumes[0].plexes:  # both halves hold the same file system
        p = plex.partitions[0]
        fat.format(p.disk.disk.slice(p.offset, p.size * 512), label="DATA", serial=0x1234ABCD)
    v = m.volumes[0]
    assert (v.letter, v.label, v.fs, v.type, v.status) == ("E", "DATA", "FAT", "Mirror", "Healthy")
    t = m.diskpart("select volume e\nlist volume", check=True)
    assert "Volume 0 is the selected volume." in t
    assert lines(t, "list volume")[2] == "* Volume 0     E   DATA         FAT    Mirror        20 MB  Healthy"


def test_volumes_keep_their_drive_letters_when_the_disk_converts(tmp_path):
    """"Volumes keep their drive letters": converting a disk moves each basic volume's letter into
    the disk group as its simple volume's drive hint, which ldmtool reads back."""
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("1 GiB")
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=100\nassign letter=E\n"
               "create partition primary size=100\nassign letter=F", check=True)
    assert m.drive_letters == {"E": (0, 2), "F": (0, 3)}
    assert "successfully converted" in m.diskpart("select disk 0\nconvert dynamic", check=True)
    assert m.drive_letters == {}  # the letters now live in the disk group
    listing = lines(m.diskpart("list volume", check=True), "list volume")
    assert [line.split()[2] for line in listing[2:]] == ["E", "F"]
    assert lines(m.diskpart("select volume F"), "select volume F") == ["Volume 1 is the selected volume."]
    # A letter a dynamic volume holds is not free for a basic one.
    m.create_disk("1 GiB")
    out = m.diskpart("select disk 1\nconvert gpt\ncreate partition primary size=100\nassign letter=E")
    assert "The specified drive letter is not free to be assigned." in out
    (guid,) = ldmtool_group([m.disk(0).path])
    volumes = {}
    for name in ("Volume1", "Volume2"):
        shown = json.loads(run_tool(["ldmtool", "-d", m.disk(0).path, "show", "volume", guid, name]).stdout)
        volumes[name] = shown["hint"]
    assert volumes == {"Volume1": "E:", "Volume2": "F:"}


def test_an_interrupted_resync_shows_rebuild_until_it_is_finished():
    """add disk=N answers at once and copies the volume into the new plex in the background. When
    the copy fails part way (an I/O error on the new plex) the mirror exists in the disk group but
    is not yet whole: wait() raises the error, list volume says "Failed Rd" (the plex cannot
    serve), and Machine.resync(), or a reboot, finishes it once the disk works again."""
    m = bootmirror.Machine()
    system = bootmirror.Disk.memory("256 MiB")
    shadow = bootmirror.FaultyDisk(bootmirror.Disk.memory("256 MiB"))
    m.attach(system)
    m.attach(shadow)
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=64\nassign letter=E\n"
               "convert dynamic\nselect disk 1\nconvert gpt\nconvert dynamic", check=True)
    (volume,) = m.volumes
    plex = volume.plexes[0].partitions[0]
    payload = os.urandom(1 << 20)
    system.write(plex.offset + (40 << 20), payload)
    # Inside the new plex (it starts near 32 MiB), where the payload's copy lands: not the GPTs
    # or the LDM database, which the commit before the copy writes.
    shadow.fail_range(64 << 20, 128 << 20, access="write")
    out = m.diskpart("select volume E\nadd disk=1", check=True)
    assert "Diskpart succeeded in adding a mirror to the volume." in out
    with pytest.raises(OSError, match="injected write error"):
        m.wait()
    listing = lines(m.diskpart("list volume"), "list volume")
    assert "Mirror" in listing[2] and "Failed Rd" in listing[2]
    shadow.clear_faults()
    m.resync()
    listing = lines(m.diskpart("list volume"), "list volume")
    assert "Mirror" in listing[2] and "Healthy" in listing[2]
    (volume,) = m.volumes
    copies = [p.partitions[0] for p in volume.plexes]
    assert [c.disk.disk.read(c.offset + (40 << 20), 1 << 20) for c in copies] == [payload, payload]


def test_a_drive_hint_that_names_no_letter_shows_none_and_the_console_stays_text():
    disks = [bootmirror.Disk.memory("64 MiB"), bootmirror.Disk.memory("64 MiB")]
    m = bootmirror.Machine()
    for d in disks:
        m.attach(d)
    m.diskpart("select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic", check=True)
    group = m.disk_group
    group.create_volume("Volume1", "simple", [(group.disk("Disk1"), 0, 2048)], drive_hint="Q:")
    group.create_volume("Volume2", "simple", [(group.disk("Disk1"), 2048, 2048)], drive_hint="d:")
    group.commit()
    # On disk, Volume1's hint becomes a byte that is no letter (and no UTF-8): a damaged record.
    for d in disks:
        tail = d.read(d.size - (1 << 20), 1 << 20)
        at = tail.find(b"\x02Q:")
        assert at > 0
        d.write(d.size - (1 << 20) + at + 1, b"\xe9")
    t = m.diskpart("list volume\nselect volume d\ndetail volume")
    rows = lines(t, "list volume")[2:]
    assert rows[0].startswith("  Volume 0          ") and " D " in rows[1], rows
    assert "Volume 1 is the selected volume." in t


def test_break_and_add_answer_with_the_volume_services_texts(tmp_path):
    """The engine's own messages ("'Volume1' is not a mirror", "'Volume1' already has a plex on
    Disk1", with the LDM name for diskpart's Volume 0) stood where diskpart prints VDS's texts."""
    m = dynamic_boot_machine(tmp_path / "lab")
    out = m.diskpart("select volume c\nbreak disk=1\nadd disk=0")
    assert "The volume is not a mirror." in out and "The disk is already in use by the volume." in out, out
    assert "Volume1" not in out


def test_convert_basic_keepdata_leaves_no_volume_selected(tmp_path):
    """The selection was a volume number: after E:'s disk went basic the number named F:, and
    "add disk=2" mirrored F:, a volume never selected."""
    m = bootmirror.Machine()
    for _ in range(3):
        m.attach(bootmirror.Disk.memory("128 MiB"))
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=40\nassign letter=e\n"
               "select disk 1\nconvert gpt\ncreate partition primary size=40\nassign letter=f\n"
               "select disk 2\nconvert gpt\n"
               "select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic\nselect disk 2\nconvert dynamic", check=True)
    m.reboot()
    out = m.diskpart("select disk 0\nselect volume e\nconvert basic keepdata\nadd disk=2\nlist volume")
    assert "There is no volume selected." in out
    assert "Mirror" not in out and "* Volume" not in out


def test_cleaning_a_member_of_the_group_leaves_it_missing_under_an_m_number(tmp_path):
    # Windows shows the group's disk a clean wiped as Missing (its database on the other disks still
    # lists it), so that break disk=m0 and delete disk can drop it; it was unlisted and unreachable.
    m = dynamic_boot_machine(tmp_path / "lab")
    m.diskpart("select volume c\nadd disk=1", check=True)
    assert m.wait(timeout=120)
    m.dynamic_volume("c").device.write(0, b"kept" * 128)
    m.diskpart("select disk 1\nclean", check=True)
    m.close()
    m = bootmirror.Machine.open(tmp_path / "lab")  # and so it stays
    listed = m.diskpart("list disk")
    assert "Disk 1    Online       340 MB   340 MB" in listed and "Disk M0   Missing       72 MB      0 B   *" in listed
    assert m.dynamic_volume("c").status == "Failed Rd" and not ldm.is_dynamic(m.disk(1))
    with pytest.raises(bootmirror.UsageError, match="no image"):
        m.reactivate(2)
    out = m.diskpart("select volume c\nbreak disk=m0 nokeep\nselect disk m0\ndelete disk\nlist disk", check=True)
    assert "Diskpart successfully deleted the missing disk." in out and "Disk M0" not in out.split("list disk")[-1]
    assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").device.read(0, 8) == b"keptkept"
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic", check=True)  # the blank disk is usable again

"""KB 814070, "Prepare the Shadow Drive for Mirroring", steps 5 to 9 on a Machine: assign drive
letters to both EFI partitions, `format s: /fs:fat /q /y`, `xcopy p:\\*.* s: /s /h`, remove the
letters. Every answer is compared with the seed's text (the volume serial number aside); the new
ESP passes fsck.fat -n and holds the same files as the old one."""

from __future__ import annotations

import re

import pytest

import bootmirror
from bootmirror import Machine, fat
from conftest import runbook_text
from fat_helpers import assert_fsck_clean
from bootmirror.kb814070 import ESP_FILES, PREPARE_SHADOW_PARTITIONS, esp_file_contents, rehearsal_machine


def _screen(start: str, end: str) -> str:
    """The seed's screen text from `start` to `end` inclusive, without its six-space indent."""
    seed = runbook_text()
    block = seed[seed.index(start):]
    block = block[: block.index(end) + len(end)]
    return "\n".join(line[6:] if line.startswith("      ") else line.strip() for line in block.splitlines()) + "\n"


def _answer(machine: Machine, command: str) -> str:
    transcript = machine.diskpart(command, check=True)
    return transcript.split("\n", 2)[2].strip()


def _prepare(tmp_path) -> Machine:
    """The article's machine after steps 2 to 4: disk 0 with its ESP full, disk 1 partitioned."""
    m = rehearsal_machine(tmp_path / "machine")
    m.diskpart(PREPARE_SHADOW_PARTITIONS, check=True)
    return m


def test_prepare_the_shadow_drive_steps_5_to_9(tmp_path):
    m = _prepare(tmp_path)
    # Step 5: a letter for the shadow EFI partition.
    assert _answer(m, "Select disk 1") == "Disk 1 is now the selected disk."
    assert _answer(m, "Select partition 1") == "Partition 1 is now the selected partition."
    assert _answer(m, "Assign letter=S") == "Diskpart successfully assigned the drive letter or mount point."
    # Step 6: format it FAT.
    text = m.format("s:", "/fs:fat /q /y")
    serial = re.search(r"Volume Serial Number is (\S+)", text).group(1)
    expected = _screen("The type of the file system is RAW.", "Volume Serial Number is EA34-03C7")
    assert text == expected.replace("EA34-03C7", serial)
    assert m.volume("S:").serial_text == serial
    # Step 7: a letter for the primary EFI partition (which holds the firmware's files).
    assert _answer(m, "Select disk 0") == "Disk 0 is now the selected disk."
    assert _answer(m, "Select partition 1") == "Partition 1 is now the selected partition."
    assert _answer(m, "Assign letter=P") == "Diskpart successfully assigned the drive letter or mount point."
    p = m.volume("p:")
    listing = _answer(m, "list volume")
    assert re.search(r"Volume \d+\s+P\s+FAT\s+Partition\s+204 MB\s+Healthy\s+System", listing), listing
    assert re.search(r"Volume \d+     C   PRIMARY      NTFS   Partition\s+4996 MB\s+Healthy    Boot", listing), listing
    assert re.search(r"Volume \d+\s+S\s+FAT\s+Partition\s+204 MB\s+Healthy\s*$", listing, re.M), listing  # only disk 0's ESP is System
    assert m.drive_letters == {"C": (0, 2), "P": (0, 1), "S": (1, 1)}
    # The letters are in the machine folder: another process sees them.
    assert Machine.open(tmp_path / "machine").drive_letters == {"C": (0, 2), "P": (0, 1), "S": (1, 1)}
    # Step 8: copy the system files.
    assert m.xcopy("p:\\*.*", "s:", "/s /h") == _screen("p:\\EFI\\Microsoft\\WINNT50\\Boot0003", "7 File(s) copied")
    s = m.volume("s:")
    for path, attributes in ESP_FILES:
        assert s.read_bytes(path) == esp_file_contents(path) == p.read_bytes(path)
        assert s.stat(path).attributes == attributes
    assert s.stat("EFI/Microsoft/WINNT50/Boot0003").attributes & fat.HIDDEN
    assert s.check().clean
    # Step 9: remove both letters.
    assert _answer(m, "Select volume P") == "Volume P is the selected volume."
    assert _answer(m, "Remove") == "Diskpart successfully removed the drive letter or mount point."
    assert _answer(m, "Select volume S") == "Volume S is the selected volume."
    assert _answer(m, "Remove") == "Diskpart successfully removed the drive letter or mount point."
    assert m.drive_letters == {"C": (0, 2)}
    del p, s
    assert_fsck_clean(tmp_path / "machine" / "disk1.img", offset=17408, tmp_path=tmp_path)


def test_volume_commands_errors_and_rem(tmp_path):
    m = _prepare(tmp_path)
    m.diskpart("select disk 0\nselect partition 2\nassign letter=C", check=True)  # the boot partition
    m.diskpart("rem remove", check=True)  # a comment, not an abbreviated remove
    assert m.drive_letters == {"C": (0, 2)}
    out = m.diskpart("select disk 1\nselect partition 1\nassign letter=c")
    assert "The specified drive letter is not free to be assigned." in out
    assert "The volume you selected is not valid or does not exist." in m.diskpart("select volume Q")
    listing = _answer(m, "list volume")
    assert "Boot" in listing
    # Volume 0 is the CD-ROM drive D:, volume 1 C:, volume 2 disk 0's EFI system partition (data
    # volumes before ESPs, as the runbook's recovery numbers them): without a letter Windows does
    # not mount it, so list volume shows no file system (as the runbook's recovery shows its ESP).
    assert re.search(r"Volume 0     D                       CD-ROM          0 B  Healthy", listing), listing
    assert re.search(r"Volume 1     C   PRIMARY      NTFS   Partition   4996 MB  Healthy    Boot", listing), listing
    assert re.search(r"Volume 2\s+Partition\s+204 MB\s+Healthy\s+System", listing), listing
    assert _answer(m, "select volume 1") == "Volume 1 is the selected volume."
    assert "There is no drive letter" not in m.diskpart("remove")
    assert m.drive_letters == {}


def test_format_and_xcopy_from_the_command_line(tmp_path, capsys):
    from bootmirror.cli import main

    m = _prepare(tmp_path)
    m.diskpart("select disk 1\nselect partition 1\nassign letter=S\nselect disk 0\nselect partition 1\n"
               "assign letter=P", check=True)
    m.close()  # the command line is another writer: this one lets go of the folder first
    folder = str(tmp_path / "machine")
    assert main(["format", "--machine", folder, "p:", "/fs:fat", "/q", "/y"]) == 0
    assert main(["format", "--machine", folder, "s:", "/fs:fat", "/q", "/y"]) == 0
    assert "52,168 allocation units available on disk." in capsys.readouterr().out
    p = Machine.open(folder).volume("p:")
    p.makedirs("EFI/Boot")
    p.write_bytes("EFI/Boot/bootia64.efi", b"x" * 100)
    p.flush()
    del p
    assert main(["xcopy", "--machine", folder, "p:\\*.*", "s:", "/s", "/h"]) == 0
    assert capsys.readouterr().out == "p:\\EFI\\Boot\\bootia64.efi\n1 File(s) copied\n"
    assert Machine.open(folder).volume("s:").read_bytes("efi/boot/BOOTIA64.EFI") == b"x" * 100


def test_reformatting_detaches_the_old_volume(tmp_path):
    m = _prepare(tmp_path)
    m.diskpart("select disk 1\nselect partition 1\nassign letter=S", check=True)
    m.format("s:", "/fs:fat /q /y")
    old = m.volume("s:")
    old.write_bytes("before.txt", b"old file system")
    m.format("s:", "/fs:fat32 /q /y")
    with pytest.raises(bootmirror.UsageError):
        old.listdir("")  # its cached FAT and folders describe a file system that is gone
    new = m.volume("s:")
    assert new.fat_type == "FAT32" and new.listdir("") == [] and new.check().clean


def test_basic_and_dynamic_volumes_share_list_volume(tmp_path):
    m = Machine.create(tmp_path / "mixed")
    m.create_disk("1 GiB")
    m.create_disk("1 GiB")
    m.diskpart("select disk 1\nconvert gpt\ncreate partition primary size=100\nconvert dynamic\n"
               "select disk 0\nconvert gpt\ncreate partition primary size=200\nassign letter=E", check=True)
    m.format("e:", "/fs:fat32 /q /y /v:DATA")
    listing = _answer(m, "list volume")
    assert re.search(r"Volume 0\s+Simple\s+100 MB\s+Healthy", listing), listing
    assert re.search(r"Volume 1\s+E\s+DATA\s+FAT32\s+Partition\s+200 MB\s+Healthy", listing), listing
    # A dynamic volume in focus: the basic volume's letter is not touched.
    out = m.diskpart("select volume 0\nremove")
    assert "Volume 0 is the selected volume." in out and m.drive_letters == {"E": (0, 2)}  # after the MSR
    assert _answer(m, "select volume 1") == "Volume 1 is the selected volume."
    assert _answer(m, "remove") == "Diskpart successfully removed the drive letter or mount point."
    assert m.drive_letters == {}


def test_compare_trees_sees_the_shadow_esp_drift_and_sync_tree_undoes_it(tmp_path):
    # The runbook's xcopy is a one-off: when Windows later updates its loader on the primary ESP
    # only, the shadow's copy drifts, and nothing in Windows says so.
    m = _prepare(tmp_path)
    m.diskpart("Select disk 1\nSelect partition 1\nAssign letter=S\nSelect disk 0\nSelect partition 1\nAssign letter=P\n",
               check=True)
    m.format("s:", "/fs:fat /q /y")
    m.xcopy("p:\\*.*", "s:", "/s /h")
    p, s = m.volume("p:"), m.volume("s:")
    assert fat.compare_trees(p, s) == []  # xcopy /s /h made an exact copy, attributes and times included
    assert fat.compare_trees(p, s, "efi/microsoft", "EFI/MICROSOFT") == []
    loader = "EFI/Microsoft/WINNT50/ia64ldr.efi"
    p.write_bytes(loader, p.read_bytes(loader)[::-1])  # an update: the same size, other bytes
    p.set_times(loader, modified=1_700_000_000)  # 2023-11-14 22:13:20
    p.write_bytes("EFI/Microsoft/WINNT50/Boot0004", b"a new entry's file")
    s.remove("MSUtil/fdisk.efi")
    differences = {(d.change, d.path): d for d in fat.compare_trees(p, s)}
    assert set(differences) == {("content", loader), ("modified", loader), ("only-in-source", "EFI/Microsoft/WINNT50/Boot0004"),
                                ("only-in-source", "MSUtil/fdisk.efi")}
    content = differences["content", loader]
    assert len(content.source_value) == len(content.target_value) == 32 and content.source_value != content.target_value
    assert differences["modified", loader].source_value == "2023-11-14 22:13:20"
    assert differences["only-in-source", "MSUtil/fdisk.efi"].target_value == ""
    # And esp sync's engine call puts the shadow back, keeping its own serial number.
    serial = s.serial
    assert [d.change for d in fat.sync_tree(p, s, dry_run=True)] == [d.change for d in fat.compare_trees(p, s)]
    assert fat.compare_trees(p, s) != []  # the dry run wrote nothing
    fat.sync_tree(p, s)
    assert fat.compare_trees(p, s) == [] and s.serial == serial and s.check().clean
    assert m.esp(1).read_bytes(loader) == p.read_bytes(loader)
    # One cached FAT per volume, whether reached by letter or as a disk's ESP: writes through one
    # are never overwritten by the other's stale copy.
    assert m.esp(1)._volume is s._volume and m.esp(0)._volume is p._volume

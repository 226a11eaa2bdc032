"""The diskpart shell: parsing, messages, tables, check=True, the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bootmirror
from bootmirror import Disk, Machine
from bootmirror._core import diskpart_size


@pytest.fixture
def machine():
    m = Machine()
    m.attach(Disk.memory("64 MiB"))
    m.attach(Disk.memory("160 MiB"))
    return m


def answers(transcript: str):
    """The answer of each command in a transcript, by command."""
    out = {}
    for block in transcript.split("DISKPART> ")[1:]:
        command, _, answer = block.partition("\n\n")
        out[command] = answer.rstrip("\n")
    return out


@pytest.mark.parametrize(
    "size,text",
    [(0, "0 B"), (512, "512 B"), (8191, "8191 B"), (17408, "17 KB"), (32256, "32 KB"), (1 << 20, "1024 KB"),
     (213825024, "204 MB"), (213926912, "204 MB"), (4996 << 20, "4996 MB"), (3142056960, "2996 MB"),
     (9153031680, "9 GB"), (10 << 30, "10 GB"), (8191 << 20, "8191 MB"), (8 << 30, "8 GB"), (9 << 40, "9 TB"),
     (2**64 - 1, "16777216 TB"), (1535, "1535 B"), (8703, "8 KB"), (8704, "9 KB")],  # 2^64-1 wrapped to "0 TB"
)
def test_size_display_rule(size, text):
    assert diskpart_size(size) == text


def test_commands_are_case_insensitive_and_abbreviated(machine):
    out = answers(machine.diskpart("SEL DIS 1\nconv gpt\nLiS PaRt\ncre par efi size=10\ndet par"))
    assert out["SEL DIS 1"] == "Disk 1 is now the selected disk."
    assert out["conv gpt"] == "Diskpart successfully converted the selected disk to GPT format."
    assert "Partition 1    Reserved            32 MB    17 KB" in out["LiS PaRt"]
    assert out["cre par efi size=10"] == "Diskpart succeeded in creating the specified partition."
    assert out["det par"].startswith("Partition 2\nType  : c12a7328-f81f-11d2-ba4b-00a0c93ec93b\nHidden: Yes")


def test_messages_without_selection(machine):
    out = answers(machine.diskpart("list partition\nselect partition 1\ndelete partition\nconvert gpt\n"
                                   "select disk 5\ndetail disk\nfrobnicate\nlist frob"))
    assert out["list partition"].startswith("There is no disk selected to list partitions.")
    assert out["select partition 1"].startswith("There is no disk selected to set the partition.")
    assert out["delete partition"].startswith("There is no disk selected.")
    assert out["select disk 5"] == "The disk you specified is not valid.\n\nThere is no disk selected."
    assert out["frobnicate"].startswith('The command "frobnicate" is not a DiskPart command.')
    assert out["list frob"].startswith("The arguments you specified for this command are not valid.")
    out = answers(machine.diskpart("select disk 0\nlist partition\ndetail partition\nselect partition 1\n"
                                   "create partition efi size=1"))
    assert out["list partition"] == "There are no partitions on this disk to show."
    assert out["detail partition"].startswith("There is no partition selected.")
    assert out["select partition 1"].startswith("The specified partition is not valid.")
    assert out["create partition efi size=1"].startswith("The selected disk is not a GPT disk.")


def test_partition_rules(machine):
    transcript = machine.diskpart(
        "select disk 1\nconvert gpt\nconvert gpt\nselect partition 1\ndelete partition\n"
        "create partition primary size=1000\ncreate partition primary size=10 offset=40000\n"
        "create partition primary size=10 offset=1\ncreate partition efi size=5 align=1024\nlist partition\nclean\nlist disk")
    out = answers(transcript)
    assert "converted the selected disk to GPT format.\n\nDISKPART> convert gpt\n\nThe specified disk is not convertible." in transcript
    assert out["delete partition"] == "Cannot delete a protected partition without the force protected parameter set."
    assert out["create partition primary size=1000"] == "There is not enough usable space for this operation."
    assert out["create partition primary size=10 offset=40000"] == "Diskpart succeeded in creating the specified partition."
    assert out["create partition primary size=10 offset=1"].startswith("The specified offset is not valid")
    assert out["list partition"].splitlines()[2:] == [
        "  Partition 1    Reserved            32 MB    17 KB",
        "* Partition 2    System            5120 KB    33 MB",
        "  Partition 3    Primary             10 MB    39 MB",
    ]
    assert out["clean"] == "Diskpart succeeded in cleaning the disk."
    assert out["list disk"].splitlines()[3] == "* Disk 1    Online       160 MB   160 MB"


def test_small_disks_are_not_convertible(machine):
    out = answers(machine.diskpart("select disk 0\nconvert gpt"))
    assert out["convert gpt"].startswith("The specified disk is not convertible.")


def test_check_raises_on_the_first_failure(machine):
    with pytest.raises(bootmirror.UsageError, match="select disk 9"):
        machine.diskpart("select disk 0\nselect disk 9\nconvert gpt", check=True)
    assert machine.disks[0].partitions == []  # convert gpt never ran


def test_exit_stops_the_script(machine):
    transcript = machine.diskpart("select disk 0\nexit\nconvert gpt")
    assert "Leaving Diskpart..." in transcript and "convert gpt" not in transcript


def test_cli_script_and_interactive(tmp_path):
    folder = tmp_path / "lab"
    cli = [sys.executable, "-m", "bootmirror"]
    subprocess.run([*cli, "machine", "create", str(folder), "--disk", "128MiB", "--disk", "128MiB"], check=True,
                   capture_output=True)
    script = tmp_path / "script.txt"
    script.write_text("select disk 1\nconvert gpt\nlist partition\n")
    run = subprocess.run([*cli, "diskpart", "--machine", str(folder), "/s", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "DISKPART> convert gpt\n\nDiskpart successfully converted the selected disk to GPT format." in run.stdout
    assert "Partition 1    Reserved            32 MB    17 KB" in run.stdout
    script.write_text("select disk 1\nconvert gpt\nlist partition\n")
    failed = subprocess.run([*cli, "diskpart", "--machine", str(folder), "/s", str(script)], capture_output=True, text=True)
    assert failed.returncode == 1 and "list partition" not in failed.stdout
    interactive = subprocess.run([*cli, "diskpart", "--machine", str(folder)], input="sel disk 1\nlist part\nexit\n",
                                 capture_output=True, text=True)
    assert interactive.returncode == 0
    assert "DISKPART> " in interactive.stdout and "Leaving Diskpart..." in interactive.stdout
    assert "Reserved            32 MB" in interactive.stdout


def test_unknown_arguments_are_refused(machine):
    out = answers(machine.diskpart("select disk 1\nconvert gpt\ncreate partition primary size=1 bogus\n"
                                   "create partition primary size=x\ncreate partition primary size=1 label=a\n"
                                   "select partition 1\ndelete partition now\ncreate partition primary size=1 noerr"))
    for command in ("create partition primary size=1 bogus", "create partition primary size=x",
                    "create partition primary size=1 label=a", "delete partition now"):
        assert out[command] == "The arguments you specified for this command are not valid.", command
    assert out["create partition primary size=1 noerr"] == "Diskpart succeeded in creating the specified partition."

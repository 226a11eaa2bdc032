"""The Machine: disks by number, the machine folder, persistence between processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import bootmirror
from bootmirror import Disk, Machine


def test_in_memory_machine_numbers_disks():
    m = Machine()
    a, b = Disk.memory("8 MiB"), Disk.memory("8 MiB")
    assert m.attach(a) == 0
    assert m.attach(b) == 1
    with pytest.raises(bootmirror.UsageError, match="already attached"):
        m.attach(a)
    m.detach(0)
    assert list(m.disks) == [1]
    assert m.attach(Disk.memory("1 MiB")) == 0  # the lowest free number
    with pytest.raises(bootmirror.UsageError):
        m.detach(7)
    assert "in memory" in repr(m)


def test_machine_folder_survives_between_processes(tmp_path):
    folder = tmp_path / "lab"
    m = Machine.create(folder)
    assert m.create_disk("64 MiB") == 0
    outside = Disk.create(tmp_path / "outside.img", "128 MiB", sector_size=4096)
    assert m.attach(outside) == 1
    with pytest.raises(bootmirror.UsageError, match="image files only"):
        m.attach(Disk.memory("1 MiB"))
    with pytest.raises(bootmirror.UsageError, match="already holds a machine"):
        Machine.create(folder)
    record = json.loads((folder / "machine.json").read_text())
    assert record["disks"] == [
        {"number": 0, "image": "disk0.img", "sector_size": 512},
        {"number": 1, "image": str(tmp_path / "outside.img"), "sector_size": 4096},
    ]
    m.diskpart("select disk 1\nconvert gpt", check=True)
    # Another process opens the folder and sees disk 1 as GPT with 4096-byte sectors.
    code = (
        "import bootmirror, sys\n"
        f"m = bootmirror.Machine.open({str(folder)!r})\n"
        "d = m.disk(1)\n"
        "print(d.sector_size, [p.kind for p in d.partitions], d.partitions[0].offset)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == "4096 ['msr'] 24576"


def test_open_without_a_machine_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Machine.open(tmp_path)


def test_a_missing_image_shows_as_a_missing_disk(tmp_path):
    m = Machine.create(tmp_path / "lab")
    m.create_disk("8 MiB")
    m.create_disk("8 MiB")
    (tmp_path / "lab" / "disk0.img").unlink()
    again = Machine.open(tmp_path / "lab")
    assert again.disks[0] is None and again.disks[1] is not None
    assert "Disk M0   Missing" in again.diskpart("list disk")


def test_corrupt_machine_file_is_a_format_error(tmp_path):
    Machine.create(tmp_path / "lab")
    (tmp_path / "lab" / "machine.json").write_text('{"bootmirror_machine": 1, "disks": [{"number": ')
    with pytest.raises(bootmirror.FormatError, match="JSON"):
        Machine.open(tmp_path / "lab")

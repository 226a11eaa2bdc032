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


def _lettered_machine(folder):
    m = Machine.create(folder)
    m.create_disk("160 MiB")
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary\nassign letter=E", check=True)
    m.close()


@pytest.mark.parametrize("damage, match", [
    (lambda d: d["disks"][0].update(number=1 << 32), "disk number 4294967296 is not between 0 and 2147483647"),
    (lambda d: d["disks"][0].update(number=1 << 31), "disk number 2147483648 is not between"),
    (lambda d: d["disks"][0].update(sector_size=(1 << 32) + 512), "sector size 4294967808 is not between"),
    (lambda d: d["disks"][0].update(sector_size=1024), "disk 0 has sector size 1024"),
    (lambda d: d["disks"][0].update(image="disk0.img\u0000.bak"), "disk 0's image name .* is not a path"),
    (lambda d: d["sections"].update(ldm=[]), "the ldm section should be an object"),
    (lambda d: d["sections"]["drive_letters"].update({"?": {"disk": 0, "offset": 0}}), "holds \\?, which is not a drive"),
    (lambda d: d["sections"]["drive_letters"]["E"].update(disk=-1), "a drive letter's disk -1 is not between"),
    (lambda d: d["sections"].update(ldm={"to_basic": {"disk": 0, "guid": "x", "letters": [[]]}}),
     r"a to_basic letter should be \[first LBA, letter\]"),
    (lambda d: d["sections"].update(ldm={"to_basic": {"disk": 0, "guid": "x", "letters": [[2048, "\u00e9"]]}}),
     "to_basic letter .* is not a drive letter"),
    (lambda d: d["sections"].update(windows={"oem_codepage": "\udc80"}), "a lone UTF-16 surrogate"),
    (lambda d: d["sections"].update(windows={"oem_codepage": "cp-none"}), "oem_codepage"),
])
def test_damaged_machine_json_values_are_format_errors_that_change_nothing(tmp_path, damage, match):
    # Each of these was read as something else (a narrowed number, a segfault, a
    # UnicodeDecodeError, a UsageError naming no file) and some were written back.
    folder = tmp_path / "lab"
    _lettered_machine(folder)
    doc = json.loads((folder / "machine.json").read_text())
    damage(doc)
    (folder / "machine.json").write_text(json.dumps(doc))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(bootmirror.FormatError, match=f"machine.json: .*{match}"):
        m = Machine.open(folder)
        m.drive_letters, m.oem_codepage  # noqa: B018 -- read, as machine show reads them
        m.reboot()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_folder_where_machine_json_should_be_is_an_os_error(tmp_path):
    Machine.create(tmp_path / "lab").close()
    (tmp_path / "lab" / "machine.json").unlink()
    (tmp_path / "lab" / "machine.json").mkdir()
    with pytest.raises(IsADirectoryError):
        Machine.open(tmp_path / "lab")


def test_corrupt_machine_file_is_a_format_error(tmp_path):
    Machine.create(tmp_path / "lab")
    (tmp_path / "lab" / "machine.json").write_text('{"bootmirror_machine": 1, "disks": [{"number": ')
    with pytest.raises(bootmirror.FormatError, match="machine.json: unexpected end of text"):
        Machine.open(tmp_path / "lab")

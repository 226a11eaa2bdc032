"""A machine shared by threads, two processes at one machine folder, read-only opening, and a
machine.json that every crash leaves whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

import bootmirror
from bootmirror import Disk, Machine, crash

MiB = 1 << 20


def _layout(disk: Disk):
    return [(p.kind, p.first_lba, p.last_lba) for p in disk.partitions]


SCRIPT = """select disk {n}
convert gpt
create partition efi size=16
create partition msr size=8
create partition primary size={size}
list partition
"""


def _run_scripts(m: Machine, threads: int) -> None:
    errors = []

    def work(n: int) -> None:
        try:
            for _ in range(3):
                m.diskpart(f"select disk {n}\nclean", check=True)
                m.diskpart(SCRIPT.format(n=n, size=8 + 4 * n), check=True)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors


def test_four_threads_running_diskpart_on_one_machine_end_in_one_state():
    expected = None
    for _ in range(5):
        m = Machine()
        disks = [Disk.memory("160 MiB") for _ in range(4)]
        for d in disks:
            m.attach(d)
        _run_scripts(m, 4)
        layouts = [_layout(d) for d in disks]
        # Each disk holds exactly its own script's partitions, whatever the interleaving.
        for n, layout in enumerate(layouts):
            assert [k for k, _, _ in layout] == ["msr", "efi", "msr", "basic"], (n, layout)
            assert layout[-1][2] - layout[-1][1] + 1 == (8 + 4 * n) * 2048
        if expected is None:
            expected = layouts
        assert layouts == expected


def _lab(tmp_path) -> str:
    folder = tmp_path / "lab"
    m = Machine.create(folder)
    m.create_disk("160 MiB")
    m.create_disk("160 MiB")
    m.diskpart("select disk 0\nconvert gpt", check=True)
    m.close()
    return str(folder)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootmirror", *args], capture_output=True, text=True)


def test_a_second_process_that_writes_is_told_who_holds_the_machine(tmp_path):
    folder = _lab(tmp_path)
    m = Machine.open(folder)
    m.diskpart("select disk 1\nconvert gpt", check=True)  # this process now holds the folder
    with open(os.path.join(folder, "disk1.img"), "rb") as f:
        before = f.read()
    script = tmp_path / "s.txt"
    script.write_text("select disk 1\ncreate partition primary size=8\n")
    refused = _cli("diskpart", "--machine", folder, "/s", str(script))
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert f"pid {os.getpid()}" in said and "being changed by" in said, said
    with open(os.path.join(folder, "disk1.img"), "rb") as f:
        assert f.read() == before
    # Reading needs no lock.
    script.write_text("list disk\n")
    listed = _cli("diskpart", "--machine", folder, "/s", str(script))
    assert listed.returncode == 0 and "Disk 1" in listed.stdout, listed.stderr
    # Once the first machine is closed, the other process may write.
    m.close()
    script.write_text("select disk 1\ncreate partition primary size=8\n")
    done = _cli("diskpart", "--machine", folder, "/s", str(script))
    assert done.returncode == 0, done.stderr
    assert "Diskpart succeeded in creating the specified partition." in done.stdout


def test_two_machine_objects_in_one_process_are_two_writers(tmp_path):
    folder = _lab(tmp_path)
    first, second = Machine.open(folder), Machine.open(folder)
    first.diskpart("select disk 1\nconvert gpt", check=True)
    with pytest.raises(bootmirror.UsageError, match="being changed by"):
        second.diskpart("select disk 1\ncreate partition primary size=8", check=True)
    assert len(first.disk(1).partitions) == 1  # only the MSR convert gpt made


def test_a_writer_refused_the_folder_leaves_the_holders_write_intent_bitmaps_alone(tmp_path):
    # A fails disk 1 and writes while it is away (marking its bitmap); B, a second writer on the
    # folder, is refused its writes. Its refusals rewrote the bitmap from its older copy, losing
    # A's mark: disk 1 came back "Healthy" without the megabyte it missed.
    from ldm_helpers import dynamic_boot_machine

    m = dynamic_boot_machine(tmp_path / "lab")
    m.diskpart("select volume c\nadd disk=1", check=True)
    assert m.wait(timeout=120)
    m.close()
    a = Machine.open(tmp_path / "lab")
    a.fail_disk(1)
    b = Machine.open(tmp_path / "lab")
    b_volume = b.dynamic_volume("c").device
    with pytest.raises(bootmirror.UsageError, match="being changed by"):
        b_volume.write(40 * MiB, b"\xbb" * MiB)
    a.dynamic_volume("c").device.write(10 * MiB, b"\xaa" * MiB)
    bitmaps = sorted(tmp_path.joinpath("lab").glob("write-intent-*.bin"))
    marked = [p.read_bytes() for p in bitmaps]
    with pytest.raises(bootmirror.UsageError, match="being changed by"):
        b_volume.write(50 * MiB, b"\xbb" * MiB)
    assert [p.read_bytes() for p in bitmaps] == marked
    del b_volume
    b.close()
    a.close()
    a = Machine.open(tmp_path / "lab")
    a.attach(tmp_path / "lab" / "disk1.img")
    assert a.wait(timeout=120)
    volume = a.dynamic_volume("c")
    assert volume.status == "Healthy" and volume.verify().identical
    assert volume.device.read(10 * MiB, MiB) == b"\xaa" * MiB


def test_a_machine_changed_by_another_process_must_be_opened_again(tmp_path):
    folder = _lab(tmp_path)
    stale = Machine.open(folder)
    assert stale.disk(0).partitions  # read, not written
    other = Machine.open(folder)
    other.create_disk("8 MiB")  # machine.json now lists disk 2
    other.close()
    with pytest.raises(bootmirror.UsageError, match="changed by another process"):
        stale.diskpart("select disk 0\ncreate partition primary size=8", check=True)
    assert len(stale.disk(0).partitions) == 1  # nothing written
    assert list(Machine.open(folder).disks) == [0, 1, 2]  # the other process's change stands


def _open_modes(paths):
    """The access modes this process has the given files open with."""
    modes = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in paths:
            with open(f"/proc/self/fdinfo/{fd}") as info:
                flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
            modes.append(flags & os.O_ACCMODE)
    return modes


def test_opening_and_reading_a_machine_writes_nothing_and_opens_images_read_only(tmp_path):
    folder = _lab(tmp_path)
    images = {os.path.realpath(os.path.join(folder, f"disk{n}.img")) for n in (0, 1)}
    snapshot = {p: open(p, "rb").read() for p in images | {os.path.join(folder, "machine.json")}}
    m = Machine.open(folder)
    m.diskpart("list disk\nselect disk 0\nlist partition\ndetail disk\nlist volume", check=True)
    assert _open_modes(images) and set(_open_modes(images)) == {os.O_RDONLY}
    assert not os.path.exists(os.path.join(folder, "machine.lock")) or not open(os.path.join(folder, "machine.lock")).read()
    # A writing command reopens the image it writes for writing.
    m.diskpart("select disk 1\nconvert gpt", check=True)
    assert os.O_RDWR in _open_modes(images)
    m.close()
    assert snapshot[os.path.join(folder, "machine.json")] == open(os.path.join(folder, "machine.json"), "rb").read()
    assert snapshot[os.path.realpath(os.path.join(folder, "disk0.img"))] == open(os.path.join(folder, "disk0.img"), "rb").read()


def test_a_volume_kept_after_its_machine_is_gone_still_writes_under_the_lock(tmp_path):
    folder = _lab(tmp_path)
    m = Machine.open(folder)
    m.diskpart("select disk 0\ncreate partition efi size=16\nassign letter=S", check=True)
    m.format("s:", "/fs:fat /q /y")
    m.close()
    volume = Machine.open(folder).volume("s:")  # the Machine object is gone at once
    volume.write_bytes("kept.txt", b"still writes")
    volume.flush()
    with pytest.raises(bootmirror.UsageError, match="being changed by"):
        Machine.open(folder).diskpart("select disk 1\nconvert gpt", check=True)
    del volume
    import gc

    gc.collect()
    assert Machine.open(folder).volume("s:").read_bytes("kept.txt") == b"still writes"


def test_every_crash_while_saving_machine_json_leaves_the_old_or_the_new_file(tmp_path):
    folder = _lab(tmp_path)
    with Machine.open(folder) as m:
        m.diskpart("select disk 0\ncreate partition primary size=8", check=True)
    old = open(os.path.join(folder, "machine.json")).read()
    log = crash.WriteLog()
    m = Machine.open(folder, log=log)
    m.assign_letter(0, 2, "Q")  # machine.json only
    new = open(os.path.join(folder, "machine.json")).read()
    m.close()
    assert old != new
    seen = set()
    for state in log.crash_states(random_per_point=12, seed=3):
        outcome = state.files.get("machine.json", old.encode())
        assert outcome in (old.encode(), new.encode()), state.description
        json.loads(outcome)
        seen.add(outcome)
    assert seen == {old.encode(), new.encode()}


def test_machine_show_reads_without_writing_or_locking(tmp_path):
    folder = _lab(tmp_path)
    files = sorted(p for p in os.listdir(folder) if p != "machine.lock")
    before = {p: (os.stat(os.path.join(folder, p)).st_mtime_ns, open(os.path.join(folder, p), "rb").read()) for p in files}
    holder = Machine.open(folder)
    holder.diskpart("select disk 1\nconvert gpt", check=True)  # another process holds the write lock
    shown = _cli("machine", "show", folder)
    assert shown.returncode == 0 and "disk1.img" in shown.stdout, shown.stderr
    holder.close()
    after = {p: (os.stat(os.path.join(folder, p)).st_mtime_ns, open(os.path.join(folder, p), "rb").read()) for p in files}
    assert {p: v for p, v in after.items() if p != "disk1.img"} == {p: v for p, v in before.items() if p != "disk1.img"}

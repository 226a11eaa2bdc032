"""The machine's writing operations under the write-back crash model, disks, NVRAM and
machine.json together (convert dynamic, the reboot that finishes it, add disk=N and its
resynchronisation, break, delete disk, convert basic keepdata, clean of a group's disk, drive letters, bootcfg's edits). After any crash, and the restart Windows would go through, the
machine is the one before the operation or the one after it; sgdisk -v and ldmtool read every
disk, and a mirror's plexes hold the same bytes."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import bootmirror
from bootmirror import Disk, Machine, crash, gpt
from conftest import run_tool
from crash_helpers import EPOCH, SEED, TRIED, copy_folder, to_file
from ldm_helpers import assert_ldmtool_sees

MiB = 1 << 20
RANDOM_PER_POINT = 3


def _build(folder: Path) -> None:
    """A small system disk (ESP, C:, MSR) and a shadow disk, both GPT and basic."""
    with bootmirror.deterministic(seed=SEED, epoch=EPOCH):
        m = Machine.create(folder)
        m.create_disk("160 MiB")
        m.create_disk("160 MiB")
        m.diskpart("""select disk 0
convert gpt
select partition 1
delete partition override
create partition efi size=16
create partition primary size=48
assign letter=C
create partition msr size=32
select disk 1
convert gpt
""", check=True)
        m.diskpart("select disk 0\nselect partition 1\nassign letter=S", check=True)
        m.format("s:", "/fs:fat /q /y")
        esp = m.volume("s:")
        esp.makedirs("EFI/Microsoft/WINNT50")
        esp.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"loader" * 5000)
        esp.flush()
        del esp
        m.diskpart("select volume S\nremove", check=True)
        # C: holds data, so a mirror's copy has bytes to move.
        c = m.disk(0).partitions[1]
        m.disk(0).write(c.offset + 5 * MiB, b"C-volume data " * 40000)
        # Windows started from that ESP and C: (its NVRAM is in the folder): add disk=1 adds a boot
        # entry for the new plex, break removes it, a conversion renumbers what entries name.
        m.create_nvram()
        m.add_windows_entry("Windows Server 2003, Enterprise", esp=(0, 1), os=(0, 2))
        assert m.boot().entry is not None
        m.close()


def _prepare(folder: Path, steps: List[Callable[[Machine], object]]) -> None:
    _build(folder)
    for step in steps:
        with bootmirror.deterministic(seed=SEED, epoch=EPOCH), Machine.open(folder) as m:
            step(m)


def _dp(script: str) -> Callable[[Machine], object]:
    """A diskpart script, and the background rebuilds it started (add disk=N), to the end."""

    def step(m: Machine) -> None:
        m.diskpart(script, check=True)
        m.wait()

    return step


def _reboot(m: Machine) -> None:
    """A restart, and the resynchronisations it resumes, to the end."""
    m.reboot()
    m.wait()


def _plex_hashes(m: Machine) -> List[set]:
    """For each mirrored volume, the set of its plexes' content hashes (one element: in sync)."""
    out = []
    for volume in m.volumes:
        if len(volume.plexes) < 2:
            continue
        hashes = set()
        for plex in volume.plexes:
            if plex.missing:
                continue
            (part,) = plex.partitions
            disk = part.disk.disk
            hashes.add(hashlib.sha256(disk.read(part.offset, volume.size_bytes)).hexdigest())
        out.append(hashes)
    return out


def _view(folder: Path) -> Dict[str, object]:
    """What the machine shows after a restart: diskpart's tables, and its mirrors' plexes."""
    with Machine.open(folder) as m:
        _reboot(m)
        script = "list disk\nlist volume\n" + "".join(f"select disk {n}\nlist partition\n" for n in m.disks)
        text = m.diskpart(script) + m.bootcfg()
        # "Rebuild" can only last as long as the machine is off; after the restart it is done.
        return {"text": re.sub(r"[ \t]+\n", "\n", text), "plexes": _plex_hashes(m)}


def _difference(seen, old, new) -> str:
    import difflib

    closer = min((old, new), key=lambda v: sum(1 for _ in difflib.unified_diff(v["text"].splitlines(), seen["text"].splitlines())))
    lines = difflib.unified_diff(closer["text"].splitlines(), seen["text"].splitlines(), "expected", "after the crash", lineterm="")
    return "\n".join(lines) + f"\nplexes {seen['plexes']} (expected {closer['plexes']})"


def _gpt_extents(disk: Disk):
    return [(p.first_lba, p.last_lba) for p in gpt.read(disk).in_offset_order()]


def _outside_readers_accept(folder: Path) -> None:
    """sgdisk reads each disk's table as we do (from the copy it trusts), and finds nothing wrong
    once the table is repaired; ldmtool sees the disk group exactly as we read it."""
    images = sorted(folder.glob("disk*.img"))
    for image in images:
        disk = Disk.open(image)
        shown = run_tool(["sgdisk", "-p", str(image)], check=False)
        rows = [tuple(int(f) for f in line.split()[1:3]) for line in shown.stdout.splitlines()
                if len(line.split()) > 3 and all(f.isdigit() for f in line.split()[:3])]
        if gpt.style(disk) == "raw":  # a disk clean wiped: nothing for either of us to find
            assert rows == [], (image, shown.stdout)
            disk.close()
            continue
        assert rows == _gpt_extents(disk), (image, shown.stdout, shown.stderr)
        repaired = to_file(Disk.overlay(disk), image.with_suffix(".repaired"))
        with Disk.open(repaired, writable=True) as r:
            gpt.repair(r)
        verify = run_tool(["sgdisk", "-v", str(repaired)], check=False)
        assert "No problems found" in verify.stdout, (image, verify.stdout)
        repaired.unlink()
        disk.close()
    with Machine.open(folder) as m:
        group = m.disk_group
        # The disks the machine has: a dead one's image (m.fail_disk) is not in the computer.
        present = [str(d.path) for d in m.disks.values() if d is not None]
        if group is not None:
            assert_ldmtool_sees(group, present)


def _recorded(folder: Path, operation: Callable[[Machine], object]) -> crash.WriteLog:
    """`operation` run on the machine in `folder`, its writes recorded."""
    log = crash.WriteLog()
    with bootmirror.deterministic(seed=SEED, epoch=EPOCH):
        m = Machine.open(folder, log=log)
        operation(m)
        m.close()
    return log


def _apply(state: crash.CrashState, log: crash.WriteLog, target: Path) -> None:
    """Writes what `state` left onto `target`, a copy of the folder the log's operation ran on."""
    disks = [Disk.open(target / Path(log.engine.device_name(i)).name, writable=True) for i in range(log.engine.device_count)]
    state.apply(disks)
    for d in disks:
        d.close()
    state.apply_files(target)


def _states(tmp_path: Path, name: str, before: Path, operation: Callable[[Machine], object]):
    """Runs `operation` on a copy of `before` with its writes recorded; yields each crash state as
    a folder of its own (a copy of `before` with what survived applied), plus the finished one."""
    after = copy_folder(before, tmp_path / "after")
    log = _recorded(after, operation)
    for k, state in enumerate(log.crash_states(random_per_point=RANDOM_PER_POINT, seed=SEED)):
        TRIED[f"machine: {name}"] += 1
        target = copy_folder(before, tmp_path / f"state{k}")
        _apply(state, log, target)
        yield state, target
    yield None, after


def _cut_short(script: str) -> Callable[[Machine], object]:
    """`script` (an add disk=N) stopped by a power cut once the mirror is committed but before any
    of its copy reached the new plex: the volume shows Rebuild until the next restart."""

    def step(m: Machine) -> None:
        folder = Path(m.folder)
        m.close()
        before = copy_folder(folder, folder.with_name(folder.name + "-before-cut"))
        log = _recorded(folder, _dp(script))
        events = [log.describe_event(i) for i in range(log.event_count)]
        last_save = max(i for i, e in enumerate(events) if e.startswith("write of machine.json.tmp"))
        copy_done = max(i for i, e in enumerate(events[:last_save]) if e.startswith("flush of"))
        subprocess.run(["rm", "-rf", str(folder)], check=True)
        copy_folder(before, folder)
        _apply(log.crash(copy_done, "none"), log, folder)
        with Machine.open(folder) as cut:
            assert "Rebuild" in cut.diskpart("list volume")

    return step


def _lose_disk(number: int) -> Callable[[Machine], object]:
    """Disk `number` dies: its image is gone (diskpart then shows it as M<number>, Missing)."""
    return lambda m: Path(m.folder, f"disk{number}.img").unlink()


def _fail_disk(number: int) -> Callable[[Machine], object]:
    """Disk `number` dies under the running machine (its image stays, machine.json says dead)."""
    return lambda m: m.fail_disk(number)


def _write_to_c(m: Machine) -> None:
    """1 MiB written to C: while a disk is gone: its plex misses it (the write-intent bitmap)."""
    m.dynamic_volume("c").device.write(3 * MiB, b"w" * MiB)


def _disk_returns(number: int) -> Callable[[Machine], object]:
    """The dead disk is attached again: only what its plex missed is copied back in."""

    def step(m: Machine) -> None:
        m.attach(Path(m.folder, f"disk{number}.img"))
        m.wait()

    return step


def _blank_image(name: str) -> Callable[[Machine], object]:
    """A new disk's image, made ready beside the machine (not attached)."""
    return lambda m: Disk.create(Path(m.folder, name), "160 MiB").close()


def _replace_disk(number: int, name: str) -> Callable[[Machine], object]:
    return lambda m: m.replace_disk(number, Path(m.folder, name))


def _reactivate(number: int) -> Callable[[Machine], object]:
    """Reactivate Disk on the dead disk: its image connected again, what it missed copied in."""

    def step(m: Machine) -> None:
        m.reactivate(number)
        m.wait()

    return step


def _bootcfg(arguments: str) -> Callable[[Machine], object]:
    return lambda m: m.bootcfg(arguments, check=True)


def _clone_onto_disk_1(m: Machine) -> None:
    """bootcfg /clone of the entries on disk 0's ESP onto a copy of it on disk 1 (an ESP made by
    moving disk 1's MSR aside is not needed: the clone only names the partition)."""
    esp0 = m.disk(0).partitions[0].unique_guid
    target = next(p.unique_guid for p in m.disk(1).partitions if p.kind != "ldm_metadata")
    m.bootcfg(f"/clone /sg {{{esp0}}} /tg {{{target}}} /d+ Cloned_Entry", check=True)


MIRRORED = [_dp("select disk 1\nconvert dynamic\nselect disk 0\nconvert dynamic"), _reboot,
            _dp("select volume C\nadd disk=1")]

CASES = {
    # name: (steps that make the machine before, the operation)
    "convert dynamic (shadow disk)": ([], _dp("select disk 1\nconvert dynamic")),
    "convert dynamic (system disk, waits for reboot)": ([_dp("select disk 1\nconvert dynamic")],
                                                         _dp("select disk 0\nconvert dynamic")),
    "reboot (finishes the conversion)": ([_dp("select disk 1\nconvert dynamic\nselect disk 0\nconvert dynamic")],
                                         _reboot),
    "add disk=1 (mirror and resync)": ([_dp("select disk 1\nconvert dynamic\nselect disk 0\nconvert dynamic"),
                                        _reboot],
                                       _dp("select volume C\nadd disk=1")),
    "break disk=1 nokeep": (MIRRORED, _dp("select volume C\nbreak disk=1 nokeep")),
    "break disk=1 (keep)": (MIRRORED, _dp("select volume C\nbreak disk=1")),
    "break disk=m0 nokeep (disk 0 dead)": (MIRRORED + [_lose_disk(0)], _dp("select volume C\nbreak disk=m0 nokeep")),
    "resync (after add disk=1 was cut short)": (MIRRORED[:2] + [_cut_short("select volume C\nadd disk=1")],
                                                lambda m: m.resync()),
    "delete disk (the dead disk 0)": (MIRRORED + [_lose_disk(0), _dp("select volume C\nbreak disk=m0 nokeep")],
                                      _dp("select disk m0\ndelete disk")),
    "replace disk 0 (dead, kept as M0)": (MIRRORED + [_fail_disk(0), _blank_image("new0.img")],
                                          _replace_disk(0, "new0.img")),
    "reactivate disk 1 (copy from its bitmap)": (MIRRORED + [_fail_disk(1), _write_to_c], _reactivate(1)),
    "disk 1 returns (copy from its bitmap)": (MIRRORED + [_fail_disk(1), _write_to_c], _disk_returns(1)),
    "convert basic keepdata (disk 1, C:'s plex)": (MIRRORED, _dp("select disk 1\nconvert basic keepdata")),
    "clean (disk 1, C:'s plex: it stays as M0)": (MIRRORED, _dp("select disk 1\nclean")),
    "assign letter (machine.json)": ([], _dp("select disk 0\nselect partition 1\nassign letter=S")),
    "bootcfg /clone (both entries)": (MIRRORED + [_bootcfg("/timeout 10")], _clone_onto_disk_1),
    "bootcfg /delete": (MIRRORED, _bootcfg("/delete /id 5")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_crash_leaves_the_machine_before_or_after(name, tmp_path):
    steps, operation = CASES[name]
    before = tmp_path / "before"
    _prepare(before, steps)
    old = _view(copy_folder(before, tmp_path / "old"))
    states = list(_states(tmp_path, name, before, operation))
    new = _view(states[-1][1])
    # A restart finishes what a reboot or a resync itself does: before and after look the same.
    assert (old == new) == name.startswith(("reboot", "resync"))
    for state, folder in states[:-1]:
        seen = _view(folder)
        assert seen in (old, new), (state.description, _difference(seen, old, new))
        for hashes in seen["plexes"]:
            assert len(hashes) == 1, (state.description, "plexes differ after the resync")
        _outside_readers_accept(folder)

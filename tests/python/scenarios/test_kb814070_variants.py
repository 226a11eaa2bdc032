"""The runbook's warnings, replayed: what happens when its user gets a step wrong, and when the
power fails in the middle of a step. Each case ends in the message Windows gives and a machine
that can still be recovered: its disks unchanged by a refused command, or, after a power cut and
the restart, the machine of before the step or of after it, which the outside tools accept.
(The shadow without an ESP is the recovery section's own machine: test_kb814070_recovery.py.)"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Machine, crash, outside_checks, scenarios

# Identifiers and times frozen, so that the runs before and after a crash write the same bytes.
SEED, EPOCH = 20261201, 1_750_000_000

MiB = 1 << 20
SCALE = 0.1  # the article's machine at a tenth of its size: the same steps, quicker


def images(m: Machine) -> dict:
    return {n: hashlib.sha256(d.read(0, d.size)).hexdigest() for n, d in m.disks.items() if d is not None}


def test_the_wrong_disk_selected_is_refused_and_nothing_changes(tmp_path):
    m = scenarios.kb814070(tmp_path / "lab", scale=SCALE, bootable=False)
    before = images(m)
    # "Select the disk that you want to be the shadow drive": disk 0 (Windows' own) by mistake.
    text = m.diskpart("select disk 0\nconvert gpt")
    assert "The specified disk is not convertible. CDROMs and DVDs\nare examples of disks that are not convertible." in text
    # "Note: If you show more than one partition at this point, you have either selected the wrong
    # drive": list partition shows disk 0's three.
    assert len(re.findall(r"Partition \d", m.diskpart("list partition"))) == 3
    assert images(m) == before


def test_a_shadow_that_is_not_raw_shows_more_than_one_partition(tmp_path):
    m = scenarios.kb814070(tmp_path / "lab", scale=SCALE, bootable=False)
    m.diskpart("select disk 1\nconvert gpt\ncreate partition primary size=16", check=True)  # someone's data
    before = images(m)
    text = m.diskpart("select disk 1\nconvert gpt\nlist partition")
    assert "The specified disk is not convertible." in text
    assert len(re.findall(r"Partition \d", text.split("list partition")[-1])) == 2
    assert images(m) == before


def test_a_shadow_too_small_for_the_boot_volume_is_refused(tmp_path):
    m = scenarios.kb814070(tmp_path / "lab", scale=SCALE, bootable=False)
    small = bootmirror.Disk.create(tmp_path / "lab" / "small.img", 256 * MiB)
    m.detach(1)
    m.attach(small)
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    before = images(m)
    text = m.diskpart("select volume c\nadd disk=1")
    assert "There is not enough usable space for this operation." in text
    assert images(m) == before
    assert "Simple" in m.diskpart("list volume")


# -- a power cut in the middle of each step --------------------------------------------------------

def _view(folder: Path) -> str:
    """What the machine shows once restarted: its disks, volumes, partitions and boot menu."""
    with Machine.open(folder) as m:
        m.reboot()
        m.wait()
        script = "list disk\nlist volume\n" + "".join(f"select disk {n}\nlist partition\n" for n in m.disks)
        text = m.diskpart(script) + m.bootcfg()
        return re.sub(r"[ \t]+\n", "\n", re.sub(r"\* ", "  ", text))


def _copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["cp", "-r", "--sparse=always", str(source), str(target)], check=True)
    return target


def _folder_after(before: Path, target: Path, commands) -> Path:
    """`before` copied to `target`, with the first diskpart commands of a step run on it."""
    _copy(before, target)
    with bootmirror.deterministic(seed=SEED, epoch=EPOCH), Machine.open(target) as m:
        for command in commands:
            m.diskpart(command)
        m.wait()
    return target


def _accepted_after_autochk(folder: Path) -> list:
    """The outside tools' complaints once Windows' start-up check ran: autochk repairs a FAT volume
    a crash left with leaked clusters (bootmirror's check(repair=True) does what fsck.fat -a does)."""
    with Machine.open(folder) as m:
        failed = [c for c in outside_checks.run_checks(m) if not c.ok]
        if failed and all(c.tool == "fsck.fat" for c in failed):
            for disk in m.disks.values():
                for part in bootmirror.gpt.partitions(disk) if disk is not None else []:
                    if part.kind == "efi" and bootmirror._core.file_system_on(disk.slice(part.offset, part.size).device)[0]:
                        bootmirror.fat.open(disk.slice(part.offset, part.size)).check(repair=True)
            failed = [c for c in outside_checks.run_checks(m) if not c.ok]
        return failed


@pytest.mark.parametrize("cut", range(len(scenarios.KB814070_STEPS)))
def test_a_power_cut_in_any_step_leaves_the_machine_before_or_after_it(tmp_path, cut):
    """Step `cut` of the runbook's first part stopped by a power cut halfway through its writes
    (a seeded choice of which unflushed writes survive): after the restart the machine is the one
    before the step or after it (a diskpart script: after one of its commands, each of which is
    whole or not done), and once Windows' start-up checks ran, the outside tools accept its disks."""
    lab = tmp_path / "lab"
    with bootmirror.deterministic(seed=SEED, epoch=EPOCH):
        m = scenarios.kb814070(lab, scale=SCALE, bootable=False)
        for step in scenarios.KB814070_STEPS[:cut]:
            step(m)
        m.close()
    before = _copy(lab, tmp_path / "before")
    log = crash.WriteLog()
    with bootmirror.deterministic(seed=SEED, epoch=EPOCH):
        m = Machine.open(lab, log=log)
        step = scenarios.KB814070_STEPS[cut](m)
        m.close()
    states = list(log.crash_states(random_per_point=1, seed=SEED))
    if not states:
        return  # a step that writes nothing (list, bootcfg's display) has no crash to survive
    state = states[len(states) // 2]
    crashed = _copy(before, tmp_path / "crashed")
    disks = [bootmirror.Disk.open(crashed / Path(log.engine.device_name(i)).name, writable=True)
             for i in range(log.engine.device_count)]
    state.apply(disks)
    for d in disks:
        d.close()
    state.apply_files(crashed)
    if step.transcript.lstrip().startswith("DISKPART>"):
        views = [_view(_folder_after(before, tmp_path / f"after{i}", step.commands[:i])) for i in range(len(step.commands) + 1)]
    else:
        views = [_view(_copy(before, tmp_path / "old")), _view(_copy(lab, tmp_path / "new"))]
    assert _view(crashed) in views, (step.title, state.description)
    failed = _accepted_after_autochk(crashed)
    assert not failed, (step.title, state.description, [(c.tool, c.target, c.detail[-600:]) for c in failed])

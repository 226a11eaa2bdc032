"""KB 814070, "Prepare the Shadow Drive for Mirroring", steps 2 to 4, replayed through
Machine.diskpart: every command of the seed is run in order and its answer compared with the
seed's, line by line (blank lines, the seed's "<----" annotations and indentation aside; the
selected row's "*" must be on the same row)."""

from __future__ import annotations

import re
from typing import List, Tuple

from bootmirror import Disk, Machine, gpt, kb814070
from conftest import runbook_text
from seed_disks import build_reinstalled_disk0


def _seed_steps(first: str = "Prepare the Shadow Drive for Mirroring",
                end: str = "  5. Select the EFI partition") -> List[Tuple[str, List[str]]]:
    """The seed's diskpart commands between `first` and `end`, each with its printed answer."""
    text = runbook_text()
    start = text.index(first)
    section = text[start:text.index(end, start)]
    steps: List[Tuple[str, List[str]]] = []
    for raw in section.splitlines():
        line = raw.strip().lstrip("\u2022").strip()
        if line.startswith("DISKPART>"):
            steps.append((line.split("DISKPART>", 1)[1].strip(), []))
        elif steps and (re.match(r"^\d+\.\s", line) or line.startswith("Note:")):
            steps.append(("", []))  # end of the previous answer
        elif steps and steps[-1][0] and line:
            steps[-1][1].append(line)
    return [(command, answer) for command, answer in steps if command]


def _normalize(lines: List[str]) -> List[str]:
    out = []
    for line in lines:
        line = line.split("<----")[0].strip()
        if not line:
            continue
        line = re.sub(r"^\*\s*", "*", line)
        out.append(re.sub(r"\s+", " ", line))
    return out


def _replay(machine: Machine, steps: List[Tuple[str, List[str]]]) -> None:
    for command, expected in steps:
        transcript = machine.diskpart(command, check=True)
        answer = transcript.split("\n", 2)[2].splitlines()  # after the echoed command and blank line
        assert _normalize(answer) == _normalize(expected), f"DISKPART> {command}\n{transcript}"


def test_seed_has_the_steps():
    commands = [command for command, _ in _seed_steps()]
    assert commands[:3] == ["Select disk 1", "Convert GPT", "List partition"]
    assert "create partition efi size=204" in commands
    assert len(commands) == 11


def test_prepare_the_shadow_drive_steps_2_to_4(tmp_path):
    # Disk 0 is the system disk, partitioned as the seed's; disk 1 the raw shadow disk.
    machine = kb814070.rehearsal_machine(tmp_path / "machine")
    _replay(machine, _seed_steps())
    shadow = machine.disk(1)
    assert [(p.kind, p.offset, p.size) for p in shadow.partitions] == [
        ("efi", 17408, 213909504), ("msr", 213926912, 32 << 20)]
    assert gpt.verify(shadow).clean
    # The machine survives: a new process sees the same disks and partitions.
    again = Machine.open(tmp_path / "machine")
    assert [p.unique_guid for p in again.disk(1).partitions] == [p.unique_guid for p in shadow.partitions]
    assert "Partition 2    Reserved            32 MB   204 MB" in again.diskpart("select disk 1\nlist partition")


def test_reestablish_step_4_deletes_the_new_windows_partition(tmp_path):
    """"Re-Establish the Primary Boot Drive Mirror", step 4: on the reinstalled disk 0, list the
    partitions and delete the new Windows partition (a data partition: no override needed)."""
    steps = _seed_steps("4. Delete the new Windows Server operating system partition", "5. Convert disk-0 to Dynamic")
    assert [command for command, _ in steps] == ["select disk 0", "list partition", "select partition 3", "delete partition"]
    machine = Machine.create(tmp_path / "machine")
    machine.create_disk("4 GiB")
    build_reinstalled_disk0(machine.disk(0))
    _replay(machine, steps)
    assert [p.kind for p in machine.disk(0).partitions] == ["efi", "msr"]
    assert gpt.verify(machine.disk(0)).clean

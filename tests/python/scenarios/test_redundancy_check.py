"""Does every disk boot on its own (Machine.check_redundancy, bootmirror check, the pytest
assertion), along the runbook: at each step the check names what still stops the shadow disk from
booting alone and what to do, its advice applied makes the machine survive the loss of either disk,
its predictions match real boots under QEMU with OVMF (ESPs drifted, a disk pulled), and it never
writes a byte of the machine's images or NVRAM."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest

from bootmirror import Machine, UsageError, cli, fat, scenarios
from bootmirror.pytest_plugin import assert_survives_loss_of_any_disk

SCALE = 0.05
LOADER = "EFI/Microsoft/WINNT50/ia64ldr.efi"


def _files(folder: Path) -> dict:
    """Every file of the machine folder by name, as a SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _bootorder(advice: str) -> list:
    return [int(n, 16) for n in re.search(r"--bootorder ([0-9A-F,]+)", advice).group(1).split(",")]


def _only_problem(report, disk: int) -> str:
    row = report.disks[disk]
    assert len(row.problems) == 1 and len(row.advice) == 1, str(report)
    return row.problems[0] + " => " + row.advice[0]


def _mirrored(folder: Path) -> Machine:
    """The runbook's first part done: both disks mirrored, the entries cloned onto disk 1's ESP."""
    m = scenarios.kb814070(folder, scale=SCALE)
    for _ in scenarios.kb814070_steps(m):
        pass
    return m


def test_along_the_runbook_the_check_names_what_stops_the_shadow_and_writes_nothing(tmp_path):
    folder = tmp_path / "lab"
    m = scenarios.kb814070(folder, scale=SCALE)
    seen = []
    for i, step in enumerate(scenarios.KB814070_STEPS):
        before = _files(folder)
        report = m.check_redundancy()
        assert _files(folder) == before, f"the check wrote to the machine before step {i}"
        assert report.disks[0].boots and not report.disks[0].survives_loss
        assert not report.disks[1].boots and report.disks[1].survives_loss
        assert not report.survives_loss_of_any_disk
        seen.append(_only_problem(report, 1))
        step(m)
    report = m.check_redundancy()
    seen.append(_only_problem(report, 1))
    text = "\n".join(seen)
    # Each gap of the shadow, in the order the runbook closes them.
    assert "no EFI system partition => create one on disk 1 (diskpart: create partition efi)" in seen[0]
    assert any("its ESP holds no FAT file system" in s and "format it FAT" in s for s in seen)
    assert any(s.startswith("its ESP has no \\EFI\\Microsoft\\WINNT50\\ia64ldr.efi => copy disk 0's ESP onto it: "
                            "bootmirror esp sync --from 0 --to 1") for s in seen)
    clone = [s for s in seen if s.startswith("no boot entry loads from its ESP")]
    esp0, esp1 = (report.disks[n].esp.guid for n in (0, 1))
    assert clone and clone[0].endswith(f"bootcfg /clone /sg {{{esp0}}} /tg {{{esp1}}} /d+ Disk1"), text
    # After the article's last step the shadow's entries exist, but the firmware's shell comes first.
    assert seen[-1].startswith('the firmware starts Boot0002 "EFI Shell" before it reaches Boot0006 '
                               '"Boot Mirror C: - secondary plex Cloned_Entry", which would boot from disk 1'), text
    assert report.disks[1].entry == 2 and report.disks[1].entry_description == "EFI Shell"
    assert report.disks[0].os_plex == "Volume1 (plex on disk 0)"
    assert "Losing disk 0 leaves the machine unbootable." in str(report)


def test_a_plex_still_being_copied_is_named_with_the_wait(tmp_path):
    m = scenarios.kb814070(tmp_path / "lab", scale=SCALE)
    m.rebuild_speed_limit = 0  # the copy onto disk 1 holds at its start
    for step in scenarios.KB814070_STEPS[:9]:  # up to add disk=1, without the wait
        step(m)
    m.bootcfg(f"/clone /sg {scenarios._esp_guid(m, 0)} /tg {scenarios._esp_guid(m, 1)} /d+ Cloned_Entry", check=True)
    problem = _only_problem(m.check_redundancy(), 1)
    assert "the boot volume's plex on disk 1 is still being copied (0%) => wait for the resynchronisation" in problem


def test_the_advice_applied_survives_either_loss_and_the_assertion_says_why_when_not(tmp_path):
    m = _mirrored(tmp_path / "lab")
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_survives_loss_of_any_disk(m)
    message = str(failed.value)
    assert message.startswith("Losing disk 0 leaves the machine unbootable.")
    assert "what to do: move Boot0006 ahead in BootOrder (efibootmgr --bootorder" in message
    m.nvram.boot_order = _bootorder(m.check_redundancy().disks[1].advice[0])
    # A data disk does not carry the boot: it fails alone, and the machine survives its loss.
    m.create_disk(16 << 20, name="data.img")
    report = assert_survives_loss_of_any_disk(m)
    assert [d.boots for d in report.disks] == [True, True, False]
    assert [d.survives_loss for d in report.disks] == [True, True, True]
    assert report.disks[1].entry == 6 and report.disks[1].os_plex == "Volume1 (plex on disk 1)"
    assert report.disks[2].problems == ["no EFI system partition"]


@pytest.mark.qemu
def test_predictions_match_real_boots_as_the_esps_drift_and_a_disk_is_pulled(tmp_path, redundancy_check, qemu_boot):
    folder = tmp_path / "lab"
    m = _mirrored(folder)
    m.nvram.boot_order = _bootorder(m.check_redundancy().disks[1].advice[0])
    # Drift that still boots: a new file on the primary's ESP only.
    m.esp(0).write_bytes("EFI/Microsoft/WINNT50/new.cfg", b"changed on disk 0 only\n")
    before = _files(folder)
    report = redundancy_check(m, qemu=True)
    assert _files(folder) == before, "the check (QEMU boots included) wrote to the machine"
    assert report.survives_loss_of_any_disk
    assert [d.real.agrees for d in report.disks] == [True, True], str(report)
    assert report.disks[1].real.entry == 6 and report.disks[1].real.loader_partition.disk == 1
    assert [(x.path, x.change) for x in report.disks[1].esp_differences] == [("EFI/Microsoft/WINNT50/new.cfg", "only-in-source")]
    assert "boots, ESP drifted" in str(report) and "bootmirror esp sync --from 0 --to 1" in str(report)
    # Drift that does not: the shadow's loader is gone. The firmware falls through to its shell.
    m.esp(1).remove(LOADER)
    report = redundancy_check(m, qemu=True)
    assert not report.survives_loss_of_any_disk
    shadow = report.disks[1]
    assert shadow.problems[0] == "its ESP has no \\EFI\\Microsoft\\WINNT50\\ia64ldr.efi"
    assert shadow.entry == 2 and shadow.real.entry == 2 and shadow.real.agrees, str(report)
    # Disk 0 is pulled: the real boot does what the check said disk 1 alone would do.
    m.fail_disk(0)
    real = qemu_boot(m)
    assert real.entry == shadow.entry
    # The advice repairs it: disk 0 back, the shadow's ESP synced from the primary's.
    m.reactivate(0)
    m.wait()
    assert "bootmirror esp sync --from 0 --to 1" in m.check_redundancy().disks[1].advice[0]
    fat.sync_tree(m.esp(0), m.esp(1))
    report = assert_survives_loss_of_any_disk(m)
    assert not report.disks[1].esp_differences


def test_bootmirror_check_prints_the_table_and_exits_1_until_the_machine_survives(tmp_path):
    folder = tmp_path / "lab"
    m = _mirrored(folder)
    m.close()

    def run(*args: str):
        out, err = io.StringIO(), io.StringIO()
        return cli.main(["check", "-m", str(folder), *args], stdout=out, stderr=err), out.getvalue()

    code, text = run()
    assert code == 1
    lines = text.splitlines()
    assert lines[0].split() == ["Disk", "ESP", "Loader", "NVRAM", "entry", "OS", "plex", "Alone", "Without", "it"]
    assert lines[3].split()[:2] == ["1", "partition"] and "Boot0002 EFI Shell" in lines[3] and "FAILS" in lines[3]
    assert lines[-1] == "Losing disk 0 leaves the machine unbootable."
    code, text = run("--json")
    doc = json.loads(text)
    assert code == 1 and doc["command"] == "check" and doc["survives_loss_of_any_disk"] is False
    advice = doc["disks"][1]["problems"][0]["advice"]
    m = Machine.open(folder)
    m.nvram.boot_order = _bootorder(advice)
    m.close()
    code, text = run("--verbose")
    assert code == 0 and "Losing any one disk leaves a machine that boots." in text
    assert "disk 1 alone:" in text and "Windows' loader: starts Windows from \\WINDOWS on dynamic volume 0" in text


def test_a_machine_without_nvram_has_no_boot_to_check(tmp_path):
    m = Machine.create(tmp_path / "bare")
    m.create_disk(16 << 20)
    with pytest.raises(UsageError, match="no NVRAM: there is no boot to check"):
        m.check_redundancy()

"""The runbook's machine booted for real under QEMU with OVMF, and by the engine's own boot
(Machine.boot), on the same NVRAM file: both pick the same entry and load the loader from the same
ESP. The ESPs hold a marker loader (GRUB) as Windows' ia64ldr.efi, which names the ESP it was
loaded from, so the copy xcopy put on disk 1 says disk 1. Cases, as issue 12 lists them: the
original entry boots disk 0's loader; after bootcfg /clone the cloned entry boots disk 1's; with
disk 0 dead the cloned entry still boots and the original fails (Not Found); after bootcfg
/mirror /add the new entry boots. Each real boot takes about 5 s."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bootmirror
from bootmirror import gpt, kb814070
from conftest import require_tool

# Real boots take about 5 s each: the sanitizer run leaves them to the normal one (Makefile).
pytestmark = pytest.mark.qemu

TIMEOUT = 45.0


def mirrored_and_cloned(folder: Path) -> bootmirror.Machine:
    """The runbook up to bootcfg /clone: shadow prepared and its ESP copied, both disks dynamic,
    C: mirrored, the Windows entries cloned onto the shadow's ESP."""
    m = kb814070.rehearsal_machine(folder)
    m.diskpart(kb814070.PREPARE_SHADOW_PARTITIONS, check=True)
    m.diskpart(kb814070.ASSIGN_SHADOW_ESP, check=True)
    m.format("s:", "/fs:fat /q /y")
    m.diskpart(kb814070.ASSIGN_PRIMARY_ESP, check=True)
    m.xcopy("p:\\*.*", "s:", "/s /h")
    m.diskpart(kb814070.REMOVE_ESP_LETTERS, check=True)
    m.diskpart(kb814070.CONVERT_TO_DYNAMIC, check=True)
    m.reboot()
    m.diskpart(kb814070.MIRROR_BOOT_VOLUME, check=True)
    m.wait()
    guids = [re.search(r"Partition GUID:   (\{[0-9a-f-]+\})", m.bootcfg(f"/list {n}")).group(1) for n in (0, 1)]
    m.bootcfg(f"/clone /sg {guids[0]} /tg {guids[1]} /d+ Cloned_Entry", check=True)
    return m


def esp_of(m: bootmirror.Machine, disk: int) -> str:
    return next(p.guid for p in bootmirror._core.firmware_partitions(m._m) if p.disk == disk and p.number == 1)


def entry_id(m: bootmirror.Machine, description: str) -> int:
    return next(e.id for e in m.nvram.entries() if e.description == description)


def real_and_emulated(m: bootmirror.Machine, entry):
    """The same choice booted under QEMU and by Machine.boot; (their started entries, ESP GUIDs)."""
    real = m.boot_qemu(entry, timeout=TIMEOUT)
    assert not real.qemu.timed_out, real.qemu.console[-3000:]
    emulated = m.boot(entry)
    marker = real.qemu.markers[-1] if real.qemu.markers else None
    return (real.entry, marker.partition_guid if marker else None), (
        emulated.entry, emulated.loader_partition.guid if emulated.loader_partition else None), real, emulated


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    require_tool("qemu-system-x86_64")
    require_tool("grub-mkstandalone")
    return mirrored_and_cloned(tmp_path_factory.mktemp("boots") / "lab")


def test_the_original_entry_boots_disk_0s_loader_and_the_clone_disk_1s(machine):
    m = machine
    windows, clone = entry_id(m, kb814070.WINDOWS_ENTRY), entry_id(m, kb814070.WINDOWS_ENTRY + " Cloned_Entry")
    real, emulated, result, _ = real_and_emulated(m, windows)
    assert real == emulated and real[1] == esp_of(m, 0), result.qemu.console[-2000:]
    real, emulated, result, _ = real_and_emulated(m, clone)
    assert real == emulated and real[1] == esp_of(m, 1), result.qemu.console[-2000:]
    # What OVMF wrote back reads through the engine: the entries it adds for itself (UiApp,
    # its shell, one per disk) are in BootOrder after ours; our own entries are unchanged.
    names = [e.description for e in m.nvram.entries()]
    assert names[:7] == [kb814070.WINDOWS_ENTRY, "LS120", "CDROM", "EFI Shell", "Boot Mirror C: - secondary plex",
                         kb814070.WINDOWS_ENTRY + " Cloned_Entry", "Boot Mirror C: - secondary plex Cloned_Entry"]
    assert "UiApp" in names[7:]
    assert m.nvram.timeout == 30  # the machine's setting, which OVMF's own (QEMU's menu wait) does not replace
    # list volume's System follows the boot: the clone's loader came from disk 1's ESP.
    assert m.running_system.system_partition.disk == 1


def test_with_disk_0_dead_the_clone_still_boots_and_the_original_is_not_found(machine):
    m = machine
    clone = entry_id(m, kb814070.WINDOWS_ENTRY + " Cloned_Entry")
    m.fail_disk(0)
    # The clone first in BootOrder and the original chosen once (BootNext): the original fails,
    # Not Found, and firmware goes on to the clone, under QEMU as in the engine's boot.
    m.bootcfg(f"/default /id {clone}", check=True)
    original = next(e.number for e in m.nvram.entries() if e.description == kb814070.WINDOWS_ENTRY)
    m.nvram.boot_next = original
    real = m.boot_qemu(timeout=TIMEOUT)
    assert not real.qemu.timed_out, real.qemu.console[-3000:]
    failed = [a for a in real.qemu.attempts if a.option == original]
    assert failed and failed[0].outcome == "load failed" and failed[0].status == "Not Found", real.qemu.console[-3000:]
    assert real.qemu.markers[-1].partition_guid == esp_of(m, 1)
    m.nvram.boot_next = original
    emulated = m.boot()
    assert (emulated.entry, emulated.loader_partition.guid) == (real.entry, esp_of(m, 1))
    assert f"Load of {kb814070.WINDOWS_ENTRY} failed:  Not Found" in emulated.console
    # Chosen in the menu, the original fails as the runbook shows it, and pauses.
    chosen = m.boot(kb814070.WINDOWS_ENTRY)
    assert not chosen.ok and chosen.console.endswith("Paused \u2013 press any key to continue.\n")


def test_the_mirror_entry_added_for_the_shadow_boots_from_its_esp(machine):
    m = machine
    # The shadow's plex: disk 1's LDM data partition, as bootcfg /list 1 shows it.
    plex_guid = next(p.guid for p in bootmirror._core.firmware_partitions(m._m)
                     if p.disk == 1 and p.type_guid == gpt.LDM_DATA.lower())
    m.boot(kb814070.WINDOWS_ENTRY + " Cloned_Entry")  # running from the shadow's ESP
    assert "SUCCESS: The mirrored boot entry has been added." in m.bootcfg(f'/mirror /add {{{plex_guid}}} /D "Original Shadow drive"')
    added = entry_id(m, "Original Shadow drive")
    real, emulated, result, boot = real_and_emulated(m, added)
    assert real == emulated and real[1] == esp_of(m, 1), result.qemu.console[-2000:]
    assert boot.ok, boot.steps  # its Windows is on the degraded mirror, from disk 1's plex


def test_a_shell_that_waits_at_its_prompt_is_stopped_not_timed_out(machine):
    m = machine
    real = m.boot_qemu("EFI Shell", timeout=TIMEOUT)
    assert real.qemu.stopped_idle and not real.qemu.timed_out, real.qemu.console[-2000:]
    emulated = m.boot("EFI Shell")
    assert real.entry == emulated.entry and emulated.ok and "the firmware's own application starts" in emulated.steps[-1]

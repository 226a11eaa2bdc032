r"""Real boots under QEMU and OVMF (issue 12): firmware, not our own reader, says which ESP a boot
entry reaches. Two GPT disks made by bootmirror hold the same marker loader at
\EFI\Microsoft\WINNT50\ia64ldr.efi (disk 1's copied from disk 0's by xcopy, so the files are the
same bytes); the loader prints the partition GUID and FAT serial of the ESP it ran from. Boot
entries are written into a copy of Debian's OVMF variable store with virt-firmware.

Each boot takes 4-5 s under TCG; the two-disk boot is shared by the tests that read it. A missing
QEMU, OVMF or GRUB fails these tests (require_tool, and the engine's UsageError naming the
package); they never skip."""

from __future__ import annotations

from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, fat, qemu
from conftest import require_tool
from qemu_helpers import (LOADER_FOLDER, LOADER_PATH, OVMF_VARS_2M, OVMF_VARS_4M, EspDisk, copy_store, esp_volume,
                          make_esp_disk, sha256_of, virt_fw_vars_print, write_boot_entries)

# Real boots take about 5 s each: the sanitizer run leaves them to the normal one (Makefile).
pytestmark = pytest.mark.qemu

TIMEOUT = 60.0  # seconds; a boot takes 4-5 s, and the machine is shared


def _require_boot_tools() -> None:
    require_tool("qemu-system-x86_64")
    require_tool("grub-mkstandalone")


@pytest.fixture(scope="module")
def disks(tmp_path_factory) -> tuple[EspDisk, EspDisk]:
    """Disk 0 with the marker loader on its ESP, and disk 1 with the same file copied by xcopy."""
    _require_boot_tools()
    folder = tmp_path_factory.mktemp("qemu-disks")
    disk0, disk1 = make_esp_disk(folder / "disk0.img"), make_esp_disk(folder / "disk1.img")
    with Disk.open(disk0.path, writable=True) as d0, Disk.open(disk1.path, writable=True) as d1:
        source, target = esp_volume(d0, disk0), esp_volume(d1, disk1)
        source.makedirs(LOADER_FOLDER)
        source.write_bytes(LOADER_PATH, qemu.build_marker_loader("bootmirror"))
        fat.run_xcopy(source, "p:\\*.*", target, "s:", "/s /h")
        assert target.read_bytes(LOADER_PATH) == source.read_bytes(LOADER_PATH)
    assert disk0.partition_guid != disk1.partition_guid and disk0.fat_serial != disk1.fat_serial
    return disk0, disk1


@pytest.fixture(scope="module")
def boot_disk0_first(disks, tmp_path_factory):
    """Both disks attached, entries for disk 0's ESP and disk 1's, BootOrder disk 0 first; the
    store before the boot and the images' hashes before and after are kept for the tests."""
    disk0, disk1 = disks
    store = copy_store(OVMF_VARS_4M, tmp_path_factory.mktemp("qemu-vars") / "vars.fd")
    write_boot_entries(store, [("bootmirror disk 0", disk0), ("bootmirror disk 1", disk1)])
    before = store.read_bytes()
    images_before = [sha256_of(d.path) for d in disks]
    result = qemu.boot_in_qemu([disk0.spec, disk1.spec], vars=store, timeout=TIMEOUT)
    images_after = [sha256_of(d.path) for d in disks]
    return result, store, before, images_before, images_after


def _ran_from(result: qemu.QemuBootResult, esp: EspDisk) -> None:
    assert not result.timed_out and result.exit_status == 0, result.console
    assert len(result.markers) == 1, result.console
    marker = result.markers[0]
    assert marker.tag == "bootmirror"
    assert (marker.partition_guid, marker.fat_serial) == (esp.partition_guid, esp.fat_serial)
    assert marker.path.endswith("/EFI/Microsoft/WINNT50")


def _entry_path(esp: EspDisk) -> str:
    """How OVMF prints the device path of an entry for `esp`: the HD() node with the GUID in
    capitals and start and size in hex, then the file path node."""
    size = esp.last_lba - esp.first_lba + 1
    return f"HD({esp.number},GPT,{esp.partition_guid.upper()},{esp.first_lba:#x},{size:#x})/{LOADER_PATH}"


def test_the_entry_for_disk_0s_esp_runs_disk_0s_loader(boot_disk0_first, disks):
    result, _, _, images_before, images_after = boot_disk0_first
    _ran_from(result, disks[0])
    [attempt] = result.attempts
    assert (attempt.option, attempt.description, attempt.outcome) == (0, "bootmirror disk 0", "started")
    assert attempt.device_path == _entry_path(disks[0])
    assert images_after == images_before  # snapshot=on: the boot wrote no image
    assert repr(result.markers[0]).startswith(f"<QemuMarker bootmirror part={disks[0].partition_guid} fs=")


def test_ovmf_writes_the_store_and_virt_fw_vars_still_reads_it(boot_disk0_first):
    _, store, before, _, _ = boot_disk0_first
    after = store.read_bytes()
    assert len(after) == len(before) and after != before
    printed = virt_fw_vars_print(store)
    assert 'title="bootmirror disk 0"' in printed and 'title="bootmirror disk 1"' in printed
    # OVMF kept our entries first and appended its own (UiApp, one per disk, the EFI Shell).
    assert "boot order: 0000, 0001, " in printed
    assert 'title="UiApp"' in printed and 'title="EFI Internal Shell"' in printed


def test_the_entry_for_disk_1s_esp_runs_the_copy_on_disk_1(disks, tmp_path):
    disk0, disk1 = disks
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    write_boot_entries(store, [("bootmirror disk 0", disk0), ("bootmirror disk 1", disk1)], order=[1, 0])
    result = qemu.boot_in_qemu([disk0.spec, disk1.spec], vars=store, timeout=TIMEOUT)
    _ran_from(result, disk1)
    assert [(a.option, a.outcome) for a in result.attempts] == [(1, "started")]
    assert result.markers[0].path.startswith("(hd1,")  # the second disk, as GRUB numbers them


def test_with_disk_0_gone_its_entry_is_not_found_and_disk_1s_boots(disks, tmp_path):
    disk0, disk1 = disks
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    write_boot_entries(store, [("bootmirror disk 0", disk0), ("bootmirror disk 1", disk1)])
    result = qemu.boot_in_qemu([disk1.spec], vars=store, timeout=TIMEOUT)
    _ran_from(result, disk1)
    failed, started = result.attempts
    assert (failed.option, failed.outcome, failed.status) == (0, "load failed", "Not Found")
    assert failed.device_path == _entry_path(disk0)
    assert (started.option, started.outcome) == (1, "started")
    assert started.device_path == _entry_path(disk1)
    # OVMF keeps the entry it could not load, first in BootOrder (it never prunes).
    assert "boot order: 0000, 0001, " in virt_fw_vars_print(store)


def test_4096_byte_sector_disks_boot(tmp_path):
    _require_boot_tools()
    disk = make_esp_disk(tmp_path / "disk4k.img", sector_size=4096)
    with Disk.open(disk.path, writable=True) as d:
        volume = esp_volume(d, disk)
        volume.makedirs(LOADER_FOLDER)
        volume.write_bytes(LOADER_PATH, qemu.build_marker_loader("bootmirror"))
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    write_boot_entries(store, [("bootmirror 4K", disk)])
    result = qemu.boot_in_qemu([disk.spec], vars=store, timeout=TIMEOUT)
    _ran_from(result, disk)
    [attempt] = result.attempts
    assert attempt.outcome == "started"
    assert attempt.device_path == _entry_path(disk)  # start and size in 4 KiB blocks


def test_the_2m_store_boots_with_the_2m_code(disks, tmp_path):
    disk0, _ = disks
    store = copy_store(OVMF_VARS_2M, tmp_path / "vars.fd")
    write_boot_entries(store, [("bootmirror 2M", disk0)])
    result = qemu.boot_in_qemu([disk0.spec], vars=store, timeout=TIMEOUT)
    assert Path(result.firmware_code).name == "OVMF_CODE.fd"
    _ran_from(result, disk0)


def test_a_guest_that_never_powers_off_is_stopped_at_the_timeout(tmp_path):
    _require_boot_tools()
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    result = qemu.boot_in_qemu([], vars=store, timeout=2.0)  # no disk: OVMF would end in its shell
    assert result.timed_out
    assert result.markers == []
    assert result.seconds >= 2.0  # not cut short: stopped at the timeout, not before


def test_a_missing_disk_image_is_an_os_error_and_nothing_runs(tmp_path):
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    with pytest.raises(FileNotFoundError):
        qemu.boot_in_qemu([tmp_path / "absent.img"], vars=store)
    assert store.read_bytes() == OVMF_VARS_4M.read_bytes()


def test_a_store_of_no_ovmf_size_is_a_usage_error(tmp_path):
    store = tmp_path / "vars.fd"
    store.write_bytes(bytes(1000))
    with pytest.raises(bootmirror.UsageError, match="OVMF_VARS_4M.fd"):
        qemu.boot_in_qemu([], vars=store)


def test_sector_sizes_other_than_512_and_4096_and_bad_tags_are_usage_errors(disks, tmp_path):
    store = copy_store(OVMF_VARS_4M, tmp_path / "vars.fd")
    with pytest.raises(bootmirror.UsageError, match="512 or 4096"):
        qemu.boot_in_qemu([(disks[0].path, 1024)], vars=store)
    with pytest.raises(bootmirror.UsageError, match="marker tag"):
        qemu.build_marker_loader("two words")
    assert store.read_bytes() == OVMF_VARS_4M.read_bytes()

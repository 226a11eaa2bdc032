"""bootcfg on a machine's NVRAM: its edits, its refusals (which write nothing), and the engine's
boot and stale-entry checks it rests on. The runbook's own transcripts are in
scenarios/test_kb814070_bootcfg.py; real boots in interop/test_machine_boots_qemu.py."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

import bootmirror
from bootmirror import kb814070, nvram
from conftest import require_tool

SYNTAX = 'ERROR: Invalid syntax.\nType "BOOTCFG /?" for usage.\n'


@pytest.fixture
def machine(tmp_path):
    """The article's machine as it starts: Windows' entry (ID 1), LS120, CDROM, EFI Shell."""
    return kb814070.rehearsal_machine(tmp_path / "lab", bootable=False)


def store_hash(m) -> str:
    return hashlib.sha256(Path(m.nvram.path).read_bytes()).hexdigest()


def descriptions(m) -> list:
    return [e.description for e in m.nvram.entries()]


def test_the_query_display_lines_up_as_windows_prints_it(machine):
    text = machine.bootcfg()
    lines = text.splitlines()
    assert lines[:5] == ["Boot Options", "------------", "Timeout:             30",
                         "Default:             \\Device\\HarddiskVolume2\\WINDOWS", "CurrentBootEntryID:  1"]
    assert "Boot entry ID:    1\nOS Friendly Name: Windows 2003 Server, Enterprise\nOsLoadOptions:    N/A\n" in text
    assert "BootFilePath:     \\Device\\HarddiskVolume1\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi\n" in text
    # Firmware entries: their ID and name only.
    assert text.endswith("Boot entry ID:    4\nOS Friendly Name: EFI Shell\n")
    assert machine.bootcfg("/query") == text


@pytest.mark.parametrize("arguments, expected", [
    ("/bogus", SYNTAX),
    ("/query junk", SYNTAX),  # was the query's answer
    ("/? junk", SYNTAX),
    ("/list", SYNTAX),
    ("/list x", SYNTAX),
    ("/list 9", "ERROR: Disk 9 does not exist.\n"),
    ("/delete", SYNTAX),
    ("/delete /id 9", "ERROR: There is no boot entry ID 9.\n"),
    ("/delete /id 1 /id 2", SYNTAX),
    ("/default /id 0", "ERROR: There is no boot entry ID 0.\n"),
    ("/timeout", SYNTAX),
    ("/timeout 1000", "ERROR: The time-out value must be from 0 to 999 seconds.\n"),
    ("/raw \"/fastdetect\" /id 2", "ERROR: Boot entry ID 2 is not a Windows entry: it has no OS load options.\n"),
    ("/clone /sg {nonsense} /tg {476688c5-8ebf-47d2-80e7-cf9d065edb81} /d+ X", SYNTAX),
    ("/clone /sg {476688c5-8ebf-47d2-80e7-cf9d065edb81} /tg {476688c5-8ebf-47d2-80e7-cf9d065edb81}", SYNTAX),
    ("/clone /sg {476688c5-8ebf-47d2-80e7-cf9d065edb81} /tg {476688c5-8ebf-47d2-80e7-cf9d065edb81} /d+ X",
     "ERROR: The partition {476688c5-8ebf-47d2-80e7-cf9d065edb81} was not found on any disk.\n"),
    ("/mirror /add {476688c5-8ebf-47d2-80e7-cf9d065edb81} /d \"X\"",
     "ERROR: The partition {476688c5-8ebf-47d2-80e7-cf9d065edb81} was not found on any disk.\n"),
    ("/mirror /add", SYNTAX),
    ("/delete /id \"1", SYNTAX),
    ("/raw \"/fastdetect\" /id 1 /a junk", SYNTAX),  # /a takes no value: it swallowed "junk"
])
def test_refusals_say_so_and_write_nothing(machine, arguments, expected):
    before = store_hash(machine)
    assert machine.bootcfg(arguments) == expected
    with pytest.raises(bootmirror.UsageError):
        machine.bootcfg(arguments, check=True)
    assert store_hash(machine) == before


def test_delete_default_timeout_and_raw_change_the_menu(machine):
    m = machine
    assert m.bootcfg("/delete /ID 2") == "SUCCESS: Specified boot entry has been deleted.\n"
    assert descriptions(m) == [kb814070.WINDOWS_ENTRY, "CDROM", "EFI Shell"]
    assert [e.description for e in m.nvram.boot_entries()] == ["CDROM", "EFI Shell", kb814070.WINDOWS_ENTRY]  # Boot0000 gone
    assert m.bootcfg("/default /id 3") == "SUCCESS: The default boot entry was changed.\n"
    assert descriptions(m)[0] == "EFI Shell"
    assert m.bootcfg("/timeout 5") == "SUCCESS: Changed the timeout value to 5.\n"
    assert m.nvram.timeout == 5 and "Timeout:             5\n" in m.bootcfg()
    assert m.bootcfg('/raw "/fastdetect" /id 2').startswith("SUCCESS")
    assert m.bootcfg('/raw "/debug /baudrate=57600" /id 2 /a').startswith("SUCCESS")
    windows = next(e for e in m.nvram.entries() if e.windows)
    assert windows.os_load_options == "/fastdetect /debug /baudrate=57600"
    assert "OsLoadOptions:    /fastdetect /debug /baudrate=57600\n" in m.bootcfg()
    # Another process reads the same menu from the machine folder.
    again = bootmirror.Machine.open(m.folder)
    assert descriptions(again) == descriptions(m) and again.nvram.timeout == 5


def test_clone_with_d_replaces_the_description(machine):
    m = machine
    esp = m.disk(0).partitions[0].unique_guid
    text = m.bootcfg(f"/clone /sg {{{esp}}} /tg {{{esp}}} /d Second")
    assert text == "INFO: Boot entry whose id is '1' successfully cloned.\nSUCCESS: The operation completed successfully.\n"
    assert descriptions(m)[-1] == "Second"
    assert m.bootcfg(f"/clone /sg {{{m.disk(0).partitions[1].unique_guid}}} /tg {{{esp}}} /d+ X").startswith("ERROR: No boot entry loads")


def test_virt_fw_vars_reads_the_menu_bootcfg_wrote(machine, tmp_path):
    m = machine
    esp = m.disk(0).partitions[0].unique_guid
    m.bootcfg(f"/clone /sg {{{esp}}} /tg {{{esp}}} /d+ Again", check=True)
    m.bootcfg("/delete /id 3", check=True)
    out = tmp_path / "vars.json"
    subprocess.run([require_tool("virt-fw-vars"), "-i", m.nvram.path, "--output-json", str(out)], check=True,
                   capture_output=True)
    theirs = {v["name"]: bytes.fromhex(v["data"]) for v in json.loads(out.read_text())["variables"]
              if v["guid"].lower() == nvram.GLOBAL.lower()}
    order = [int.from_bytes(theirs["BootOrder"][i:i + 2], "little") for i in range(0, len(theirs["BootOrder"]), 2)]
    assert order == m.nvram.boot_order
    for e in m.nvram.entries():
        assert theirs[nvram.boot_variable_name(e.number)] == m.nvram.get(nvram.boot_variable_name(e.number)).data


def test_boot_uses_boot_next_once_and_falls_through_boot_order(machine):
    m = machine
    shell = next(e.number for e in m.nvram.boot_entries() if e.description == "EFI Shell")
    m.nvram.boot_next = shell
    first = m.boot()
    assert first.entry == shell and first.ok and m.nvram.boot_next is None
    assert m.nvram.boot_current == shell
    # Nothing marks System or Boot while the shell runs.
    assert "System" not in m.diskpart("list volume") and "Boot" not in m.diskpart("list volume")
    second = m.boot()
    assert second.description == kb814070.WINDOWS_ENTRY and second.ok
    assert "Healthy    Boot" in m.diskpart("list volume")


def test_boot_follows_edk2s_rules_for_boot_next_and_the_entries_boot_order_skips(machine):
    # EDK2's BDS boots BootNext as it is (inactive, or an application); BootOrder's pass skips
    # inactive entries and LOAD_OPTION_CATEGORY_APP ones; a BootNext that is not one UINT16 is
    # deleted and ignored. Checked against OVMF under QEMU when found.
    m = machine
    windows = next(e for e in m.nvram.boot_entries() if e.description == kb814070.WINDOWS_ENTRY)
    inactive = nvram.LoadOption(windows.description, windows.device_path, 0, windows.optional_data)
    m.nvram.set_boot_entry(windows.number, inactive)
    m.nvram.boot_next = windows.number
    assert m.boot().entry == windows.number
    assert m.boot().description == "EFI Shell"  # from BootOrder, the inactive entry is skipped
    app = nvram.LoadOption(windows.description, windows.device_path, 0x101, windows.optional_data)
    m.nvram.set_boot_entry(windows.number, app)
    skipped = m.boot()
    assert skipped.description == "EFI Shell" and "LOAD_OPTION_CATEGORY_APP" in skipped.steps[0]
    m.nvram.set("BootNext", b"\x03", guid=nvram.GLOBAL)
    dropped = m.boot()
    assert dropped.description == "EFI Shell" and dropped.steps[0].startswith("BootNext: not a boot option number")
    assert m.nvram.get("BootNext", nvram.GLOBAL) is None


def test_a_short_form_file_path_loads_from_the_first_file_system_holding_it(machine):
    # OVMF loads a File()-only path (virt-fw-vars --append-boot-filepath) from the first file
    # system that holds it, in disk order; boot() said "no media" (checked under QEMU).
    m = machine
    for path, expected in ((kb814070.LOADER_PATH, "loads"), ("\\EFI\\none.efi", "no file system holds")):
        number = m.nvram.add_boot_entry("FileOnly", nvram.DevicePath.parse(path))
        m.nvram.boot_next = number
        result = m.boot()
        assert result.steps[0].startswith(f'Boot{number:04X} "FileOnly": {expected}'), result.steps
        if expected == "loads":
            assert result.entry == number and result.loader_partition.disk == 0


def test_a_boot_order_that_does_not_decode_fails_the_boot_before_anything_is_written(machine):
    m = machine
    m.nvram.boot_next = m.nvram.boot_order[0]
    m.nvram.set("BootOrder", b"\x00" * 9, guid=nvram.GLOBAL)
    before = store_hash(m)
    with pytest.raises(bootmirror.FormatError, match="BootOrder: 9 bytes"):
        m.boot()
    assert store_hash(m) == before  # BootNext was deleted first


def test_twin_descriptions_are_chosen_by_id_and_bootcfg_takes_any_description(machine):
    m = machine
    esp = m.disk(0).partitions[0].unique_guid
    clone = f"/clone /sg {{{esp}}} /tg {{{esp}}} /d "
    m.bootcfg(clone + f'"{kb814070.WINDOWS_ENTRY}"', check=True)
    with pytest.raises(bootmirror.UsageError, match=r"2 boot entries are described as .*\(ID 1\).*\(ID \d\).*bootcfg ID"):
        m.boot(kb814070.WINDOWS_ENTRY)
    # A description firmware kept with a lone surrogate, copied into bootcfg and Python's API.
    odd = "Bad \ud800 entry"
    m.bootcfg(clone + f'"{odd}"', check=True)
    assert odd in [e.description for e in m.nvram.boot_entries()]
    number = m.add_windows_entry(odd + " 2", esp=(0, 1), os=(0, kb814070.BOOT_PARTITION))
    assert m.nvram.boot_entry(number).description == odd + " 2"


def test_a_boot_entry_that_does_not_decode_leaves_the_menu_and_is_named_stale(machine):
    # Firmware skips an invalid load option; bootcfg and entries() raised for the whole menu.
    m = machine
    m.nvram.set("Boot0009", b"\x01\x00", guid=nvram.GLOBAL)
    m.nvram.boot_order = m.nvram.boot_order + [9]
    assert "Boot entry ID:    1" in m.bootcfg() and 9 not in [e.number for e in m.nvram.entries()]
    (stale,) = m.nvram.stale()
    assert stale.number == 9 and stale.reason.startswith("not a valid load option") and "Boot0009" in stale.reason
    # Choosing by description passes it by (it raised for every description), and bootcfg deletes
    # it by its ID, its place in BootOrder.
    assert m.boot(kb814070.WINDOWS_ENTRY).ok and 9 in m.nvram.boot_numbers()
    m.bootcfg(f"/delete /id {m.nvram.boot_order.index(9) + 1}", check=True)
    assert 9 not in m.nvram.boot_numbers() and m.nvram.stale() == []


def test_a_dead_disk_makes_its_entries_stale_and_their_paths_null(machine):
    m = machine
    assert m.nvram.stale() == []
    m.fail_disk(0)
    stale = m.nvram.stale()
    assert [s.description for s in stale] == [kb814070.WINDOWS_ENTRY]
    assert "is on no present disk" in stale[0].reason
    text = m.bootcfg()
    assert "BootFilePath:     (null)\nOsFilePath:       (null)\n" in text
    assert "Default:             (null)\n" in text
    failed = m.boot(1)
    assert not failed.ok and failed.entry is None
    assert failed.console == (f"LOADING.: {kb814070.WINDOWS_ENTRY}\n\nLoad of {kb814070.WINDOWS_ENTRY} failed:  Not Found\n\n"
                              "Paused \u2013 press any key to continue.\n")


def test_a_machine_without_nvram_says_so(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "bare")
    assert not m.has_nvram
    assert m.bootcfg() == "ERROR: This machine has no NVRAM.\n"
    with pytest.raises(bootmirror.UsageError, match="no NVRAM"):
        m.boot()
    m.create_nvram()
    with pytest.raises(bootmirror.UsageError, match="already"):
        m.create_nvram()
    assert descriptions(m) == ["LS120", "CDROM", "EFI Shell"]


def test_a_description_holding_a_lone_surrogate_reads_and_prints(tmp_path):
    """Firmware keeps a description as UCS-2 and checks no surrogates: one holding a lone one
    made bootcfg, nvram.entries() and boot() raise UnicodeDecodeError. The entry keeps it (the
    str holds the surrogate, as a name from disk does); the texts show U+FFFD."""
    m = kb814070.rehearsal_machine(tmp_path / "lab", bootable=False)
    entry = m.nvram.boot_entries()[0]
    m.nvram.set_boot_entry(entry.number, nvram.LoadOption("Bad \ud800 entry", entry.device_path, 1, entry.optional_data))
    text = m.bootcfg()
    assert "Bad \ufffd entry" in text
    text.encode("utf-8")  # printable
    (listed,) = [e for e in m.nvram.entries() if e.number == entry.number]
    assert listed.description == "Bad \ud800 entry"
    result = m.boot(m.nvram.boot_order.index(entry.number) + 1)
    assert "Bad \ufffd entry" in result.steps[0]


def test_a_clone_that_does_not_all_fit_writes_nothing(tmp_path):
    """/clone of two entries into a store with room for one wrote the first, then failed on the
    second: the file changed and held a Boot#### that BootOrder never lists. All must fit first."""
    m = kb814070.rehearsal_machine(tmp_path / "lab", bootable=False)
    esp = m.disk(0).partitions[0].unique_guid
    m.bootcfg(f"/clone /sg {{{esp}}} /tg {{{esp}}} /d+ A", check=True)  # two Windows entries on the ESP now
    m.nvram.reclaim()
    one = m.nvram.get(nvram.boot_variable_name(m.nvram.entries()[0].number))
    clone_record = (60 + 18 + len(one.data) + 2 * len(" B") + 3) // 4 * 4
    filler = m.nvram.free_bytes - (60 + 14) - clone_record - 40  # room for one clone, not two
    m.nvram.set("Filler", b"\0" * (filler - filler % 4), guid="11111111-2222-3333-4444-555555555555")
    path = Path(m.nvram.path)
    before = path.read_bytes()
    text = m.bootcfg(f"/clone /sg {{{esp}}} /tg {{{esp}}} /d+ B")
    assert text.startswith("ERROR:") and "no room" in text
    assert path.read_bytes() == before
    for entry in (9, 2**31):  # 2^31 was pybind11's TypeError
        with pytest.raises(bootmirror.UsageError):
            m.boot(entry)


def test_boot_skips_a_load_option_that_does_not_decode(tmp_path):
    """One damaged Boot#### anywhere made every boot() a FormatError; firmware (EDK2's boot
    manager) skips an invalid load option and tries the next, and so does boot() now."""
    m = kb814070.rehearsal_machine(tmp_path / "lab", bootable=False)
    m.nvram.set("Boot0009", b"\x01\x00")  # 2 bytes: no room for a load option's header
    m.nvram.boot_order = [9] + m.nvram.boot_order
    result = m.boot()
    assert result.steps[0].startswith("Boot0009: not a valid load option") and result.entry is not None

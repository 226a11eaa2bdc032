"""NVRAM stores against virt-fw-vars (PyPI's virt-firmware, run as a program): the stores we write
read the same there (every live variable byte for byte, boot entries and their device paths), and
the stores it writes (file-path and URI boot entries, BootNext, variables from JSON, in-place edits
of our stores) read the same through bootmirror.nvram. A missing virt-fw-vars fails, never skips.

virt-fw-vars reads only records in the added state (EDK2 also reads a copy in deleted transition
when nothing replaced it): the stores compared here are at rest, where the two rules agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from bootmirror import nvram
from conftest import run_tool

TEMPLATE_4M = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
TEMPLATE_2M = Path("/usr/share/OVMF/OVMF_VARS.fd")
VENDOR = "11111111-2222-3333-4444-555555555555"
ESP_A = "476688c5-8ebf-47d2-80e7-cf9d065edb81"
ESP_B = "68d298c0-1b6a-01c1-507b-9e5f8078f531"

Variables = Dict[Tuple[str, str], Tuple[int, bytes]]


def virt_variables(path: Path, tmp_path: Path) -> Variables:
    """Every variable virt-fw-vars reads in `path`, from its JSON output."""
    out = tmp_path / f"{path.name}.json"
    run_tool(["virt-fw-vars", "-i", str(path), "--output-json", str(out)])
    doc = json.loads(out.read_text())
    assert doc["version"] == 2
    return {(v["name"], v["guid"]): (v["attr"], bytes.fromhex(v["data"])) for v in doc["variables"]}


def our_variables(store: nvram.Store) -> Variables:
    return {(v.name, v.guid): (v.attributes, v.data) for v in store.variables()}


def virt_print(path: Path) -> Dict[str, str]:
    """virt-fw-vars --print: variable name -> what it says of the value."""
    shown = run_tool(["virt-fw-vars", "-i", str(path), "--print"]).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S+)\s+: (.*)$", shown, re.M)}


def virt_devpath(path: nvram.DevicePath) -> str:
    """A device path as virt-fw-vars prints it (its own notation, not UEFI's text form): a Hard
    Drive node as Partition(nr=N), a File Path node as FilePath(...), a URI as URI(...)."""
    shown = []
    for node in path.nodes:
        if node.hard_drive is not None:
            shown.append(f"Partition(nr={node.hard_drive.partition_number})")
        elif node.file_path is not None:
            shown.append(f"FilePath({node.file_path})")
        elif (node.type, node.subtype) == (3, 0x18):
            shown.append(f"URI({node.data.decode()})")
        else:
            raise AssertionError(f"no virt-fw-vars notation for {node}")
    return "/".join(shown)


def _windows_entry_data() -> bytes:
    os_path = nvram.DevicePath.parse(rf"HD(2,GPT,{VENDOR},0x66022,0x9000)/\WINDOWS")
    return nvram.WindowsOsOptions.efi("/fastdetect /NOGUIBOOT", os_path).encode()


def _our_store(path: Path, template: Path) -> nvram.Store:
    """A store as bootmirror leaves it: boot entries for two ESPs (one with Windows' OS options),
    replaced and deleted values, BootOrder, BootNext, Timeout and a vendor's variable."""
    s = nvram.create_store(path, template)
    loader = r"\EFI\Microsoft\WINNT50\ia64ldr.efi"
    a = s.add_boot_entry("Windows Server 2003, Enterprise", rf"HD(1,GPT,{ESP_A},0x22,0x66000)/{loader}",
                         optional_data=_windows_entry_data())
    b = s.add_boot_entry("Boot Mirror C: - secondary plex", rf"HD(1,GPT,{ESP_B},0x3f,0x65f80)/{loader}")
    shell = s.add_boot_entry("EFI Shell", r"\EFI\BOOT\shell.efi", active=False)
    s.boot_order = [a, shell]
    s.boot_order = [a, b, shell]  # replaced: the first copy is deleted
    s.timeout = 30
    s.boot_next = b
    s.set("Scratch", b"gone", guid=VENDOR)
    s.delete("Scratch", VENDOR)
    s.set("BootmirrorNote", "mirror of C:".encode("utf-16-le"), guid=VENDOR)
    return s


@pytest.mark.parametrize("template", [TEMPLATE_4M, TEMPLATE_2M], ids=["4M", "2M"])
def test_virt_fw_vars_reads_the_stores_we_write(tmp_path, template):
    path = tmp_path / "ours.fd"
    ours = _our_store(path, template)
    assert virt_variables(path, tmp_path) == our_variables(ours)
    shown = virt_print(path)
    for entry in ours.boot_entries():
        text = shown[entry.name]
        assert f'title="{entry.description}"' in text
        assert f"devpath={virt_devpath(entry.device_path)}" in text
        if entry.optional_data:
            assert f"optdata={entry.optional_data.hex()}" in text
    order = ", ".join(f"{n:04x}" for n in ours.boot_order)
    assert shown["BootOrder"] == f"boot order: {order}"
    assert shown["Timeout"] == "word: 0x001e"


def test_virt_fw_vars_reads_a_reclaimed_store(tmp_path):
    path = tmp_path / "ours.fd"
    ours = _our_store(path, TEMPLATE_2M)
    for i in range(30):  # 30 values of 3000 bytes: more than the 2M store holds without a reclaim
        ours.set("Big", bytes([i]) * 3000, guid=VENDOR)
    assert ours.reclaimable_bytes < 3000 * 15
    assert virt_variables(path, tmp_path) == our_variables(nvram.Store.open(path))


def _virt_store(tmp_path: Path, source: Path, *args: str) -> Path:
    out = tmp_path / "virt.fd"
    run_tool(["virt-fw-vars", "-i", str(source), "-o", str(out), *args])
    return out


def test_we_read_the_stores_virt_fw_vars_writes(tmp_path):
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"version": 2, "variables": [
        {"name": "VendorBlob", "guid": VENDOR, "attr": 7, "data": "00ff10"},
        {"name": "Timeout", "guid": nvram.GLOBAL, "attr": 7, "data": "0300"},
    ]}))
    path = _virt_store(tmp_path, TEMPLATE_4M, "--append-boot-filepath", r"\EFI\BOOT\grubx64.efi",
                       "--set-boot-uri", "http://example.com/boot/netboot.iso", "--set-json", str(extra))
    theirs = virt_variables(path, tmp_path)
    ours = nvram.Store.open(path)
    assert our_variables(ours) == theirs
    shown = virt_print(path)
    entries = {e.number: e for e in ours.boot_entries()}
    for number, entry in entries.items():
        assert f"devpath={virt_devpath(entry.device_path)}" in shown[entry.name]
    assert ours.boot_next == 0x99 and str(entries[0x99].device_path) == "Uri(http://example.com/boot/netboot.iso)"
    file_entries = [e for e in entries.values() if e.number != 0x99]
    assert [str(e.device_path) for e in file_entries] == [r"\EFI\BOOT\grubx64.efi"]
    assert ours.boot_order == [file_entries[0].number]
    assert ours.timeout == 3 and ours.get("VendorBlob", VENDOR).data == b"\x00\xff\x10"


def test_edits_pass_back_and_forth(tmp_path):
    """We write, virt-fw-vars edits in place (it rewrites the store), we edit its result, and
    virt-fw-vars reads what we left."""
    path = tmp_path / "shared.fd"
    _our_store(path, TEMPLATE_4M)
    run_tool(["virt-fw-vars", "--inplace", str(path), "-d", "BootNext", "--append-boot-filepath", r"\EFI\BOOT\BOOTX64.EFI"])
    s = nvram.Store.open(path, writable=True)
    assert s.boot_next is None
    added = [e for e in s.boot_entries() if str(e.device_path) == r"\EFI\BOOT\BOOTX64.EFI"]
    assert len(added) == 1 and s.boot_order[-1] == added[0].number
    assert s.boot_entry(0).windows_options.os_load_options == "/fastdetect /NOGUIBOOT"
    s.delete_boot_entry(added[0].number)
    s.boot_order = s.boot_order[:-1]
    s.set("BootmirrorNote", b"edited", guid=VENDOR)
    assert virt_variables(path, tmp_path) == our_variables(nvram.Store.open(path))

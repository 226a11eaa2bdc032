"""How firmware finds the partition of a boot entry, under QEMU with Debian's OVMF and in the
engine's own boot (Machine.boot), on the same machine: by the Hard Drive node's partition number
and GUID; its start and size are not compared. So an entry with the ESP's number and GUID but a
stale geometry still boots, and one with the right GUID and geometry but another partition
number is Not Found. The engine's rule (firmware::find_partition) is this one; both must agree."""

from __future__ import annotations

import pytest

from bootmirror import kb814070
from conftest import require_tool

pytestmark = pytest.mark.qemu

TIMEOUT = 45.0


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    require_tool("qemu-system-x86_64")
    require_tool("grub-mkstandalone")
    m = kb814070.rehearsal_machine(tmp_path_factory.mktemp("matching") / "lab", scale=0.1)
    esp = m.disk(0).partitions[0]
    sectors = lambda n: hex(n // 512)  # noqa: E731 - the node's start and size are in sectors
    loader = kb814070.LOADER_PATH
    right = f"HD(1,GPT,{esp.unique_guid},{sectors(esp.offset)},{sectors(esp.size)})"
    added = [m.nvram.add_boot_entry("stale geometry", f"HD(1,GPT,{esp.unique_guid},0x1000,0x3039)/{loader}"),
             m.nvram.add_boot_entry("wrong number", right.replace("HD(1,", "HD(7,") + f"/{loader}"),
             m.nvram.add_boot_entry("as Windows wrote it", f"{right}/{loader}")]
    # In BootOrder, after Windows' entry: OVMF deletes the Boot#### variables BootOrder leaves out.
    m.nvram.boot_order = m.nvram.boot_order + added
    return m, esp.unique_guid.lower()


@pytest.mark.parametrize("entry, boots", [("as Windows wrote it", True), ("stale geometry", True), ("wrong number", False)])
def test_ovmf_and_the_engine_match_by_partition_number_and_guid_only(machine, entry, boots):
    m, esp = machine
    real = m.boot_qemu(entry, timeout=TIMEOUT)
    assert not real.qemu.timed_out, real.qemu.console[-3000:]
    ours = next(a for a in real.qemu.attempts if a.description == entry)
    emulated = m.boot(entry)
    if boots:
        assert real.qemu.markers and real.qemu.markers[0].partition_guid == esp, real.qemu.console[-3000:]
        assert emulated.ok and emulated.loader_partition.guid == esp
    else:
        assert ours.outcome == "load failed" and ours.status == "Not Found", real.qemu.console[-3000:]
        assert not emulated.ok and f"Load of {entry} failed:  Not Found" in emulated.console

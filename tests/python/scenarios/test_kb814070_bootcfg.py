"""KB 814070, "Use Bootcfg.exe to Add New EFI Partition Boot Entries to NVRAM", on the article's
machine: every bootcfg transcript of that section, line for line, GUIDs aside. The NVRAM is a real
OVMF variable store; the entries the runbook's steps add (diskpart's "Boot Mirror C: - secondary
plex", bootcfg's clones) are read back from it.

Where the article contradicts itself, these lines follow one side and say which:
- its first bootcfg cuts Default after "WINDO"; the second, after the clone, prints it whole
  (...\\BlockVolume1\\WINDOWS), which is what bootcfg prints: followed here for both.
- CurrentBootEntryID is 5 in both: the article's machine had been started from the mirror's entry
  (ID 5) after the mirror was made. The scenario does the same (a restart choosing ID 5).
- /list shows the LDM data partitions as 5,142,056,960 bytes, while its own list partition shows
  the Windows partition as 4996 MB (5,238,685,696 bytes); the rehearsal machine is built from the
  latter, so those two lengths are the only lines that differ.
- the clone command's target GUID has a stray space in it ("...cf9d06 5edb81}"); bootcfg would
  refuse that, so the scenario types the GUID whole."""

from __future__ import annotations

import pytest

from bootmirror import kb814070
from bootmirror.pytest_plugin import assert_transcript
from runbook import GUID, ours, seed_block, seed_text

@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """The article's machine once the boot volume is mirrored and synchronised, restarted from the
    mirror's entry (ID 5), as the article's first bootcfg finds it."""
    m = kb814070.rehearsal_machine(tmp_path_factory.mktemp("bootcfg") / "lab")
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
    assert m.reboot(5).ok
    return m


def test_the_mirror_adds_its_boot_entry_and_bootcfg_shows_it_as_the_article_does(mirrored):
    expected = seed_block("C:> bootcfg")
    cut = next(i for i, line in enumerate(expected) if line.startswith("Default:"))
    assert expected[cut].endswith("\\BlockVolume1\\WINDO")
    expected[cut] += "WS"
    assert_transcript(mirrored.bootcfg(), "\n".join(expected))


@pytest.mark.parametrize("disk", [0, 1])
def test_bootcfg_list_shows_each_disk_as_the_article_does(mirrored, disk):
    expected = seed_block(f"C:\\> bootcfg /list {disk}")
    seen = ours(mirrored.bootcfg(f"/list {disk}"))
    assert len(seen) == len(expected)
    differ = [(a, b) for a, b in zip(seen, expected) if a != b]
    # Only the LDM data partitions' lengths (see the module's docstring).
    assert [b for _, b in differ] == ["Partition length: 5,142,056,960"], differ
    assert all(a == "Partition length: 5,238,685,696" for a, _ in differ)


def test_bootcfg_clone_copies_both_entries_onto_the_shadow_esp(mirrored):
    m = mirrored
    esp = [GUID.findall(m.bootcfg(f"/list {disk}"))[0] for disk in (0, 1)]
    text = m.bootcfg(f"/clone /sg {esp[0]} /tg {esp[1]} /d+ Cloned_Entry", check=True)
    assert_transcript(text, seed_text("/d+ Cloned_Entry"))
    assert_transcript(m.bootcfg(), seed_text("C:\\>bootcfg"))
    # The clones load from the shadow's ESP, at its number and place: HD(1,GPT,<its GUID>,0x22,0x66000).
    clone = next(e for e in m.nvram.entries() if e.description.endswith("Cloned_Entry"))
    assert str(clone.device_path).lower().startswith(f"hd(1,gpt,{esp[1][1:-1]},0x22,0x66000)/")
    # The article's test boot: the cloned entry starts Windows from the shadow's ESP and the mirror.
    booted = m.boot(f"{kb814070.WINDOWS_ENTRY} Cloned_Entry")
    assert booted.ok and booted.loader_partition.disk == 1 and booted.os_volume.dynamic_volume == 0

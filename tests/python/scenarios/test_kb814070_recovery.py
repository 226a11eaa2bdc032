"""KB 814070, "Recover a Shadow Boot Drive with Missing or Damaged EFI Partition" and "Re-Establish
the Primary Boot Drive Mirror", replayed on the machine that section describes: C: (2996 MB) was
mirrored onto a 4149 MB shadow disk that had no EFI system partition, then disk 0 died. Every
transcript of the section is compared with ours, line for line, GUIDs masked.

The machine: the article's system disk with C: of 2996 MB and Windows' entry named as this section
names it ("Windows Server 2003, Enterprise Edition"), a CD-ROM drive D:, and a raw 4149 MB disk 1
converted to GPT without the shadow ESP the first part of the article makes.

Where the article contradicts itself or shows a machine it does not describe, the test says which
line it follows:
- the boot failure names the entry "Boot Mirror C: - Secondary plex" and then "Boot Mirror c: -
  secondary plex"; the entry diskpart made is "Boot Mirror C: - secondary plex", which is what
  firmware prints (compared without regard to case).
- its /list 1 shows a fourth partition, an LDM data partition over disk 1's free 1120 MB, left by
  a volume the article never made; the machine here has no such volume. (C: is 3,142,056,960
  bytes, as that /list 1 gives its plex, which diskpart shows as 2996 MB.)
- its list volume after the break has one dash too few under Info (restored here).
- list volume after convert dynamic keeps the number 3 for the ESP (diskpart numbered volumes
  when the session started, and the deleted partition was volume 2); each list volume here
  numbers afresh, as a new diskpart session would: volume 2.
- its last bootcfg was taken after changes the article does not show (Timeout back to 30, the new
  mirror's entry moved first, entries renamed "Secondary Plex" and "original shadow system",
  setup's entry gone); the test checks what the steps it shows lead to: the new plex's entry with
  its loader on the new ESP, the old mirror entry now naming the remaining plex, and the two
  deletions it ends with."""

from __future__ import annotations

import pytest

from bootmirror import Disk, kb814070
from bootmirror.pytest_plugin import assert_transcript
from runbook import answer, ours, seed_block, seed_text


def volumes(m) -> list:
    """list volume's answer without diskpart's * on the selected volume, which the article's
    list volume transcripts leave out (its list partition shows it)."""
    return [line[2:] if line.startswith("* ") else line for line in answer(m.diskpart("list volume"))]

MiB = 1 << 20
WINDOWS = "Windows Server 2003, Enterprise Edition"
#: C:, as the article's /list 1 gives its plex (diskpart shows it as 2996 MB).
C_BYTES = 3_142_056_960


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recovery") / "lab"
    m = kb814070.rehearsal_machine(folder, shadow_size=4149 * MiB, boot_volume_size=C_BYTES,
                                   windows_entry=WINDOWS, bootable=False)
    # Disk 1 converted to GPT and mirrored onto as it came: no ESP was made on it.
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    m.fail_disk(0)
    steps = {"failure": m.boot("Boot Mirror C: - secondary plex")}
    # Steps 1 to 7: a new disk 0, and setup on it with a 2996 MB partition for Windows.
    m.replace_disk(0, Disk.create(folder / "disk0-new.img", "10 GiB"))
    steps["setup"] = m.install_windows(0, size=C_BYTES, bootable=False)
    # Steps 8 to 11, here so that each test below finds the machine as its steps leave it.
    steps["bootcfg"] = m.bootcfg()
    steps["list 1"] = m.bootcfg("/list 1")
    guids = [line.split()[-1] for line in steps["list 1"].splitlines() if line.startswith("Partition GUID:")]
    # Step 10: an entry for the shadow's boot partition (the LDM data partition).
    steps["mirror add"] = m.bootcfg(f'/mirror /add {guids[2]} /D "Original Shadow drive"')
    steps["bootcfg after"] = m.bootcfg()
    return m, steps


def test_the_shadow_without_an_esp_does_not_boot(recovered):
    _, steps = recovered
    failed = steps["failure"]
    assert not failed.ok
    expected = ["LOADING.: Boot Mirror C: - Secondary plex", "", "Load of Boot Mirror c: - secondary plex failed:  Not Found",
                "", "Paused \u2013 press any key to continue."]
    assert [line.lower() for line in ours(failed.console)] == [line.lower() for line in expected]


def test_windows_setup_and_bootcfg_mirror_add_as_the_article_shows(recovered):
    _, steps = recovered
    assert steps["setup"].ok
    assert_transcript(steps["bootcfg"], seed_text("C:\\>bootcfg", 1))  # step 8
    # Step 9: the shadow disk's partitions (see the module's docstring for the fourth).
    expected = "\n".join(seed_block("C:\\bootcfg /list 1")).split("\n\n")
    seen = "\n".join(ours(steps["list 1"])).split("\n\n")
    assert seen == expected[:3] and len(expected) == 4
    assert_transcript(steps["mirror add"], seed_text('/D "Original Shadow drive"'))  # step 10
    assert_transcript(steps["bootcfg after"], seed_text("C:\\>bootcfg", 2))  # step 11


def test_re_establishing_the_mirror_as_the_article_does(recovered):
    m, _ = recovered
    # Step 12: the original Windows, started from its shadow.
    assert m.boot("Original Shadow drive").ok
    assert volumes(m) == seed_block("DISKPART> list volume", 0)
    assert answer(m.diskpart("select volume 0")) == seed_block("DISKPART> select volume 0", 0)
    assert answer(m.diskpart("detail volume")) == seed_block("DISKPART> detail volume")
    assert answer(m.diskpart("break disk=m0 nokeep")) == seed_block("DISKPART> break disk=m0 nokeep")
    listed = seed_block("DISKPART> list volume", 1)
    assert listed[1].endswith("  -------")  # the article lost a dash under Info here
    assert volumes(m) == [listed[0], listed[1] + "-", *listed[2:]]
    assert answer(m.diskpart("select disk m0")) == seed_block("DISKPART> select disk m0")
    assert answer(m.diskpart("delete disk")) == seed_block("DISKPART> delete disk")
    assert answer(m.diskpart("select disk 0")) == seed_block("DISKPART> select disk 0", 0)
    listed = seed_block("DISKPART> list partition", 1)  # the article indents its rows two more
    assert answer(m.diskpart("list partition")) == [listed[0], *(line[2:] for line in listed[1:])]
    assert answer(m.diskpart("select partition 3")) == seed_block("DISKPART> select partition 3")
    assert answer(m.diskpart("delete partition")) == seed_block("DISKPART> delete partition")
    assert answer(m.diskpart("convert dynamic")) == seed_block("DISKPART> convert dynamic", 0)
    listed = seed_block("DISKPART> list volume", 2)
    assert volumes(m) == [line.replace("Volume 3 ", "Volume 2 ") for line in listed]
    assert answer(m.diskpart("select volume 0")) == seed_block("DISKPART> select volume 0", 1)
    assert answer(m.diskpart("add disk=0")) == seed_block("DISKPART> add disk=0")
    m.wait()  # step 6: "Wait for the mirror status to become healthy"
    final = volumes(m)
    assert final[:3] == seed_block("DISKPART> list volume", 3)
    # Step 7 (see the module's docstring): the new plex's entry loads from the new ESP; the old
    # mirror entry's Windows is the remaining plex again.
    entries = {e.description: e for e in m.nvram.entries()}
    mirrors = [e for e in m.nvram.entries() if e.description == "Boot Mirror C: - secondary plex"]
    assert [(e.boot_file_path, e.os_file_path) for e in mirrors] == [
        (None, "\\Device\\HarddiskDmVolumes\\PhysicalDmVolumes\\BlockVolume1\\WINDOWS"),
        ("\\Device\\HarddiskVolume1\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi",
         "\\Device\\HarddiskDmVolumes\\PhysicalDmVolumes\\BlockVolume1\\WINDOWS")]
    assert entries["Original Shadow drive"].os_file_path == "\\Device\\HarddiskDmVolumes\\PhysicalDmVolumes\\BlockVolume1\\WINDOWS"
    old_mirror = mirrors[0].id
    assert_transcript(m.bootcfg(f"/delete /ID {old_mirror}"), seed_text("C:\\>bootcfg /delete /ID 6"))
    assert_transcript(m.bootcfg(f"/delete /ID {entries[WINDOWS].id}"), seed_text("C:\\>bootcfg /delete /ID 2"))
    assert [e.description for e in m.nvram.entries()] == [
        "Microsoft Windows Server 2003, Enterprise Edition", "LS120", "CDROM", "EFI Shell", "Original Shadow drive",
        "Boot Mirror C: - secondary plex"]
    # The machine boots from disk 0 again, through the new plex's entry.
    assert m.boot("Boot Mirror C: - secondary plex").ok

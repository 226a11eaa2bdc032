"""make demo's main job, run as make demo runs it: the whole runbook on sparse 10 GiB images, with
real boots under QEMU, its transcripts checked against the article's where the article shows one
(the scenario tests beside this one compare every step; here, the demo prints what they check),
and its summary's outside checks all passing."""

from __future__ import annotations

import pytest

import subprocess
import sys

from conftest import require_tool
from runbook import ours, seed_block

# Real boots take about 5 s each: the sanitizer run leaves them to the normal one (Makefile).
pytestmark = pytest.mark.qemu


def test_demo_replays_the_runbook_and_every_check_passes(tmp_path):
    require_tool("qemu-system-x86_64")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "bootmirror.demo", str(out)], capture_output=True, text=True)
    text = result.stdout
    assert result.returncode == 0 and text.rstrip().splitlines()[-1].startswith("Every check passed"), text[-3000:] + result.stderr

    def block(title: str) -> list:
        """The transcript the demo printed under a step's title (its commands' lines dropped)."""
        body = text.split(f"\n-- {title}\n", 1)[1].split("\n-- ", 1)[0].split("\n== ", 1)[0]
        return [line for line in ours(body) if not line.startswith("C:\\> ")]

    # The first part: the shadow's partitions, its FAT, xcopy, the mirror, bootcfg before and after
    # the clone (the article's own lines), the clone's test boot, also under QEMU from disk 1's ESP.
    assert "* Partition 2    Reserved            32 MB   204 MB" in text
    assert "       52,168 allocation units available on disk." in text
    assert "p:\\MSUtil\\nvrboot.efi\n7 File(s) copied" in text
    assert "Volume 0     C   PRIMARY      NTFS   Mirror      4996 MB  Healthy    Boot" in text
    first = seed_block("C:> bootcfg")
    first[3] += "WS"  # the article cuts this line short in its first bootcfg only
    assert block("step 1: the boot entries") == first
    assert block("step 4: clone the entries onto the shadow's ESP") == seed_block("/d+ Cloned_Entry")
    assert block("step 5: the cloned entries") == seed_block("C:\\>bootcfg")
    assert "that is disk 1's partition 1" in block("the same boot under QEMU with OVMF")
    # The recovery section: the failed load, setup, bootcfg as the article shows it there.
    assert "Load of Boot Mirror C: - secondary plex failed:  Not Found" in text
    assert block("step 8: the boot entries") == seed_block("C:\\>bootcfg", 1)
    assert block("step 11: the new entry") == seed_block("C:\\>bootcfg", 2)
    assert "The service did not update the bootfile.\n\nDiskpart successfully broke the mirror volume." in text
    # Sparse images: the tables, the ESP's files and C:'s NTFS (mkntfs fills its 26 MB $LogFile
    # with 0xFF); mirror copies leave the holes alone.
    for name in ("disk0.img", "disk1.img"):
        image = out / "kb814070" / name
        assert image.stat().st_size == 10 * 2**30 and image.stat().st_blocks * 512 <= 40 << 20

"""The pytest plugin (entry point pytest11 "bootmirror"): its fixtures and helpers, in pytest runs of
their own, as a user's suite gets them after installing bootmirror."""

from __future__ import annotations

import pytest

from bootmirror.pytest_plugin import assert_transcript, mask_transcript

pytest_plugins = ("pytester",)


def run_suite(pytester: pytest.Pytester, source: str, *args: str, ci: bool = False) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    if ci:
        pytester._monkeypatch.setenv("CI", "true")
    else:
        pytester._monkeypatch.delenv("CI", raising=False)
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *args)


def test_the_fixtures_in_a_suite_of_their_own(pytester):
    result = run_suite(pytester, '''
import pytest
import bootmirror
from bootmirror import gpt, ldm


def test_machine(machine):
    assert machine.folder.endswith("machine") and machine.disks == {}
    assert machine.create_disk("1 GiB") == 0


@pytest.mark.parametrize("layout, kinds", [("raw", []), ("gpt", ["msr"]), ("esp", ["efi", "msr"])])
def test_disk_factory_layouts(disk_factory, layout, kinds):
    disk = disk_factory("256 MiB", layout=layout)
    assert [p.kind for p in disk.partitions] == kinds
    if layout == "esp":
        esp = disk.partitions[0]
        assert bootmirror.fat.open(disk.slice(esp.offset, esp.size)).label == "SYSTEM"


def test_disk_factory_dynamic_and_4k(disk_factory):
    disk = disk_factory("256 MiB", sector_size=4096, layout="dynamic", name="dyn.img")
    assert disk.sector_size == 4096 and ldm.is_dynamic(disk) and disk.path.endswith("dyn.img")


def test_disk_factory_makes_its_disks_in_the_tests_folder_only(disk_factory, tmp_path):
    for name in ("../outside.img", "sub/x.img", ".."):
        with pytest.raises(bootmirror.UsageError, match="is not a file name"):
            disk_factory("1 MiB", name=name)
    assert not (tmp_path.parent / "outside.img").exists()


@pytest.mark.kb814070(scale="tiny")
def test_a_scale_that_is_no_number(request):
    with pytest.raises(bootmirror.UsageError, match="scale 'tiny' is not a number"):
        request.getfixturevalue("kb814070_machine")


def test_faulty_disk(faulty_disk):
    faulty_disk.fail_range(0, 4096)
    with pytest.raises(OSError):
        faulty_disk.read(0, 512)


@pytest.mark.parametrize("faulty_disk", [{"size": "256 MiB", "layout": "gpt"}], indirect=True)
def test_faulty_disk_chosen(faulty_disk):
    assert faulty_disk.size == 256 << 20 and gpt.verify(faulty_disk).clean


def test_kb814070_machine(kb814070_machine):
    assert kb814070_machine.disk(1).size == 10 << 30
    assert "C   PRIMARY      NTFS   Partition   4996 MB  Healthy    Boot" in kb814070_machine.diskpart("list volume")


@pytest.mark.kb814070(scale=0.9)
def test_kb814070_machine_scaled(kb814070_machine):
    assert kb814070_machine.disk(0).size < 10 << 30  # how the machine scales is the scenario's
''')
    result.assert_outcomes(passed=11)


def test_a_missing_tool_skips_outside_ci_and_fails_in_ci(pytester):
    source = '''
from bootmirror.pytest_plugin import require_tool

def test_needs_a_tool():
    require_tool("no-such-tool-bootmirror")
'''
    skipped = run_suite(pytester, source, "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*outside tool 'no-such-tool-bootmirror' is not installed*"])
    failed = run_suite(pytester, source, ci=True)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*CI=true: a missing tool fails the test*"])
    pytester.makeini("[pytest]\nbootmirror_missing_tools = fail\n")
    run_suite(pytester, source).assert_outcomes(failed=1)


@pytest.mark.qemu
def test_qemu_boot_boots_the_runbook_machine(pytester):
    result = run_suite(pytester, '''
def test_boot(kb814070_machine, qemu_boot):
    boot = qemu_boot(kb814070_machine)
    assert boot.loader_partition.disk == 0 and boot.qemu.markers
''', ci=True)
    result.assert_outcomes(passed=1)


def test_assert_transcript_masks_what_changes_and_shows_a_diff(pytester):
    ours = "Partition GUID:   {476688c5-8ebf-47d2-80e7-cf9d065edb81}\nVolume Serial Number is 420B-8034\n\n"
    theirs = "Partition GUID:   {68d298c0-1b6a-01c1-507b-9e5f8078f531}   \nVolume Serial Number is EA34-03C7"
    assert_transcript(ours, theirs)
    assert mask_transcript("on 2/28/2007 at 10:42 PM, 2024-01-05 10:42:07") == ["on DATE at TIME, DATE TIME"]
    assert_transcript("  Disk 0    Online", "Disk 0    Online", ignore_indent=True)
    with pytest.raises(AssertionError, match="Disk 0 is now the selected disk"):
        assert_transcript("Disk 1 is now the selected disk.", "Disk 0 is now the selected disk.")
    result = run_suite(pytester, '''
from bootmirror.pytest_plugin import assert_transcript

def test_transcript(machine):
    machine.create_disk("1 GiB")
    assert_transcript(machine.diskpart("select disk 0"), """
DISKPART> select disk 0

Disk 1 is now the selected disk.
""")
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-Disk 1 is now the selected disk.", "*+Disk 0 is now the selected disk."])

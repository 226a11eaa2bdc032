"""Long work in Python (a notebook, a script): progress=True draws a tqdm bar, and an interrupt
(Ctrl-C, Jupyter's "Interrupt the kernel": KeyboardInterrupt in the main thread) stops the waiting,
the verify, a format or a tree copy at once and leaves the machine consistent."""

from __future__ import annotations

import _thread
import time

import pytest

import bootmirror
from bootmirror import fat, kb814070, ntfs
from conftest import require_tool


def mirrored_machine(tmp_path, limit=None):
    m = kb814070.rehearsal_machine(tmp_path / "lab")
    m.diskpart(kb814070.PREPARE_SHADOW_PARTITIONS + kb814070.CONVERT_TO_DYNAMIC, check=True)
    m.reboot()
    m.rebuild_speed_limit = limit
    m.diskpart(kb814070.MIRROR_BOOT_VOLUME, check=True)
    return m


def test_progress_true_draws_a_bar_for_the_copy_and_the_verify(tmp_path, capsys):
    m = mirrored_machine(tmp_path, limit=4 << 30)  # holes count too: about a second, outlasting the start of the wait
    assert m.wait(progress=True)
    volume = m.dynamic_volume("c")
    assert volume.verify(progress=True).identical
    drawn = capsys.readouterr().err
    assert "Rebuild: " in drawn and "Verify volume 0: " in drawn and "100%" in drawn


def test_an_interrupted_wait_leaves_the_copy_running(tmp_path):
    m = mirrored_machine(tmp_path, limit=16 << 20)
    with pytest.raises(KeyboardInterrupt):
        m.wait(progress=lambda done, total: _thread.interrupt_main())
    assert m.dynamic_volume("c").status == "Rebuild"
    m.rebuild_speed_limit = None
    assert m.wait(timeout=120)
    assert m.dynamic_volume("c").verify().identical


def test_an_interrupted_verify_raises_and_writes_nothing(tmp_path):
    m = mirrored_machine(tmp_path)
    assert m.wait(timeout=120)
    seen = []

    def interrupt(done, total):
        seen.append(done)
        if len(seen) == 1:
            _thread.interrupt_main()

    volume = m.dynamic_volume("c")
    before = [m.disk(n).read(0, 1 << 20) for n in (0, 1)]
    with pytest.raises(KeyboardInterrupt):
        volume.verify(region_bytes=1 << 20, progress=interrupt)
    assert len(seen) >= 1 and [m.disk(n).read(0, 1 << 20) for n in (0, 1)] == before
    assert volume.verify().identical and volume.status == "Healthy"


def test_a_verify_whose_progress_callback_raises_raises_its_error(tmp_path):
    # The callback's error stops the hashing threads before it is raised: one left running ended
    # the process (std::terminate).
    m = mirrored_machine(tmp_path)
    assert m.wait(timeout=120)

    def broken(done, total):
        raise ValueError("the callback's own error")

    volume = m.dynamic_volume("c")
    with pytest.raises(ValueError, match="the callback's own error"):
        volume.verify(progress=broken)
    assert volume.verify().identical


# -- formats and tree copies ---------------------------------------------------------------------

def host_tree(root, files=30, size=100 << 10):
    """A host folder of `files` files of `size` bytes in two subfolders."""
    for i in range(files):
        folder = root / ("a" if i % 2 else "a/b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i}.bin").write_bytes(bytes([i]) * size)
    return root


def recorder():
    seen = []
    return seen, lambda done, total: seen.append((done, total))


def reaches_total(seen):
    """Reports only ever go up, under one total, and the last is the whole of it."""
    assert seen, "no progress reported"
    total = seen[-1][1]
    return total > 0 and seen[-1][0] == total and all(t == total for _, t in seen) and \
        all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_a_full_format_and_the_tree_copies_report_their_bytes(tmp_path):
    disk = bootmirror.Disk.memory("64 MiB")
    seen, report = recorder()
    fat.format(disk, quick=False, progress=report)
    assert reaches_total(seen) and seen[-1][1] >= 60 << 20 and len(seen) > 10
    vol = fat.open(disk)
    for copy in (lambda p: vol.import_tree(host_tree(tmp_path / "in"), "tree", progress=p),
                 lambda p: fat.copy_tree(vol, "tree", vol, "copy", recurse=True, progress=p),
                 lambda p: vol.export_tree("tree", tmp_path / "out", progress=p)):
        seen, report = recorder()
        copy(report)
        assert reaches_total(seen) and seen[-1][1] == 30 * (100 << 10)
    assert vol.check().clean


def test_progress_true_draws_a_bar_for_a_format_and_an_import(tmp_path, capsys):
    disk = bootmirror.Disk.memory("32 MiB")
    fat.format(disk, quick=False, progress=True)
    fat.open(disk).import_tree(host_tree(tmp_path / "in"), progress=True)
    drawn = capsys.readouterr().err
    assert "Format: " in drawn and "Import: " in drawn and "100%" in drawn


def test_an_interrupted_import_or_xcopy_leaves_the_volume_as_it_was(tmp_path):
    disk = bootmirror.Disk.memory("64 MiB")
    fat.format(disk, serial=1)
    vol = fat.open(disk)
    vol.makedirs("keep")
    before = disk.read(0, disk.size)
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 2:  # after the start: the copy is under way
            _thread.interrupt_main()
            # Ctrl-C as a user types it, while the copy runs: the waiting thread sees it within
            # its poll (0.2 s); the small copy would otherwise end first.
            time.sleep(1)

    with pytest.raises(KeyboardInterrupt):
        vol.import_tree(host_tree(tmp_path / "in"), "tree", progress=interrupt)
    assert disk.read(0, disk.size) == before and not vol.exists("tree")
    vol.import_tree(tmp_path / "in", "tree")
    imported = disk.read(0, disk.size)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        fat.copy_tree(vol, "tree", vol, "copy", recurse=True, progress=interrupt)
    assert disk.read(0, disk.size) == imported and not vol.exists("copy")
    assert vol.check().clean


def test_a_callable_that_answers_false_stops_a_format_before_it_writes(tmp_path):
    disk = bootmirror.Disk.memory("32 MiB")
    disk.write(0, b"\x5a" * (1 << 20))
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError, match="was stopped"):
        fat.format(disk, quick=False, progress=lambda done, total: False)
    assert disk.read(0, disk.size) == before
    with pytest.raises(bootmirror.UsageError, match="was stopped"):
        fat.format(disk, quick=False, progress=lambda done, total: done == 0)  # stopped part way
    with pytest.raises(bootmirror.FormatError):
        fat.open(disk)  # as after a cancelled Windows format: no file system


def test_an_ntfs_format_and_export_report_their_bytes(tmp_path):
    require_tool("mkntfs")
    require_tool("wimlib-imagex")
    disk = bootmirror.Disk.memory("64 MiB")
    seen, report = recorder()
    ntfs.format(disk, label="DATA", quick=False, progress=report)
    assert reaches_total(seen) and seen[-1][1] > 64 << 20  # the surface check, then what mkntfs wrote
    ntfs.install_tree(disk, host_tree(tmp_path / "in"))
    seen, report = recorder()
    stats = ntfs.open(disk).export_tree("a", tmp_path / "out", progress=report)
    assert stats.files == 30 and reaches_total(seen) and seen[-1][1] == stats.bytes == 30 * (100 << 10)

"""Long work in Python (a notebook, a script): progress=True draws a tqdm bar, and an interrupt
(Ctrl-C, Jupyter's "Interrupt the kernel": KeyboardInterrupt in the main thread) stops the waiting
or the verify at once and leaves the machine consistent."""

from __future__ import annotations

import _thread

import pytest

from bootmirror import kb814070


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

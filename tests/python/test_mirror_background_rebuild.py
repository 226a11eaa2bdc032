"""The background resynchronisation: "add disk=N" answers at once and the copy runs in the engine's
own thread while the volume stays in use. Writes from several Python threads during the copy
(behind and ahead of its cursor) end in identical plexes; closing the machine stops the copy at a
durable checkpoint, and the next wait() resumes it from there; wait() reports progress."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bootmirror
from ldm_helpers import dynamic_boot_machine

MiB = 1 << 20


def dynamic_boot_volume(tmp_path: Path) -> bootmirror.Machine:
    """The runbook's machine just before "add disk=1", with data all over C: (72 MB)."""
    m = dynamic_boot_machine(tmp_path / "lab")
    device = m.dynamic_volume("c").device
    rng = random.Random(7)
    device.write(0, rng.randbytes(device.size))
    return m


def test_writes_from_threads_during_the_copy_end_in_identical_plexes(tmp_path):
    m = dynamic_boot_volume(tmp_path)
    m.rebuild_speed_limit = 24 * MiB  # about 3 s for the volume: the writers run beside the copy
    assert "Diskpart succeeded in adding a mirror to the volume." in m.diskpart("select volume c\nadd disk=1", check=True)
    volume = m.dynamic_volume("c")
    device = volume.device
    expected = {}
    lock = threading.Lock()
    stop = threading.Event()
    seen_cursors = set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            at = rng.randrange(device.size // 4096) * 4096
            data = rng.randbytes(4096)
            with lock:  # the test's own record of the last write to each block, in write order
                device.write(at, data)
                expected[at] = data
            (plex,) = [p for p in volume.plexes if p.name.endswith("-02")] or [None]
            if plex is not None and plex.state == "rebuilding":
                seen_cursors.add(plex.cursor)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    assert volume.status == "Rebuild"
    try:
        assert m.wait(timeout=120)
    finally:
        stop.set()
        for t in threads:
            t.join()
    # The writers saw the copy under way (their writes landed on both sides of its cursor).
    assert len(seen_cursors) > 3 and any(0 < c < device.size // 2 for c in seen_cursors)
    assert volume.status == "Healthy"
    assert volume.verify().identical
    assert all(device.read(at, 4096) == data for at, data in expected.items())


def test_closing_stops_the_copy_at_a_checkpoint_and_wait_resumes_it(tmp_path):
    m = dynamic_boot_volume(tmp_path)
    m.rebuild_speed_limit = 16 * MiB
    m.diskpart("select volume c\nadd disk=1", check=True)
    volume = m.dynamic_volume("c")
    # Past the first durable checkpoint (every 64 MiB of the 72 MB volume), then held there (the
    # last 6 MiB take a third of a second at this speed: time enough to see the cursor pass).
    deadline = time.monotonic() + 60
    while (volume.progress or 0) * volume.device.size < 66 * MiB:
        assert time.monotonic() < deadline and volume.status == "Rebuild"
        time.sleep(0.005)
    m.rebuild_speed_limit = 0
    assert volume.status == "Rebuild"
    m.close()  # the copy stops at its next chunk and records where it stopped, after a flush

    m = bootmirror.Machine.open(tmp_path / "lab")
    (rebuild,) = bootmirror._core.dynamic.rebuild_status(m._m)
    assert (rebuild.volume, rebuild.disk) == (0, 1)
    assert 66 * MiB <= rebuild.done < rebuild.total == m.volumes[0].size_bytes
    assert "Rebuild" in m.diskpart("list volume")
    calls = []
    assert m.wait(progress=lambda done, total: calls.append((done, total)))
    assert calls[0][0] == rebuild.done and calls[-1][0] == calls[-1][1] == rebuild.total
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").verify().identical


def test_a_held_copy_waits_and_a_timeout_says_so(tmp_path):
    m = dynamic_boot_volume(tmp_path)
    m.rebuild_speed_limit = 0
    m.diskpart("select volume c\nadd disk=1", check=True)
    assert m.rebuild_speed_limit == 0
    assert m.wait(timeout=0.3) is False
    assert m.dynamic_volume("c").wait(timeout=0.2) is False
    assert m.dynamic_volume("c").progress == 0.0
    m.rebuild_speed_limit = None
    assert m.dynamic_volume("c").wait(timeout=60)
    assert m.dynamic_volume("c").status == "Healthy"
    # The image of disk 1 holds the copy (read by plain file I/O, outside the engine).
    plex0, plex1 = (p.partitions[0] for p in m.volumes[0].plexes)
    with open(m._m.image(0), "rb") as a, open(m._m.image(1), "rb") as b:
        a.seek(plex0.offset)
        b.seek(plex1.offset)
        assert a.read(m.volumes[0].size_bytes) == b.read(m.volumes[0].size_bytes)
    assert os.path.getsize(m._m.image(1)) == 340 * MiB


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootmirror", *args], **kwargs)


def test_the_cli_waits_for_the_copy_with_a_progress_bar_on_a_terminal(tmp_path):
    dynamic_boot_volume(tmp_path).close()
    script = tmp_path / "mirror.txt"
    script.write_text("select volume c\nadd disk=1\n")
    # A terminal on stderr: the progress bar is drawn there, and the command returns when done.
    controller, terminal = os.openpty()
    try:
        # Held to 64 MiB/s, the 72 MB copy outlasts the command's start of its wait.
        run = _cli("diskpart", "--machine", str(tmp_path / "lab"), "/s", str(script), "--speed-limit", "64MiB",
                   stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=300)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert run.returncode == 0, run.stdout
    assert "Diskpart succeeded in adding a mirror to the volume." in run.stdout
    assert "Resynchronizing mirrors: " in shown.decode() and "100%" in shown.decode()  # a tqdm bar
    with bootmirror.Machine.open(tmp_path / "lab") as m:
        assert bootmirror._core.dynamic.rebuild_status(m._m) == []
        assert m.dynamic_volume("c").status == "Healthy"


def test_the_cli_with_no_wait_leaves_the_copy_to_the_next_use(tmp_path):
    m = dynamic_boot_volume(tmp_path)
    m.close()
    script = tmp_path / "mirror.txt"
    script.write_text("select volume c\nadd disk=1\nlist volume\n")
    run = _cli("diskpart", "--machine", str(tmp_path / "lab"), "--no-wait", "/s", str(script),
               capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Resynchronizing" not in run.stderr
    # Rebuild, or Healthy if the copy was done by then: the process exits without waiting for it.
    assert re.search(r"Mirror        72 MB  (Rebuild|Healthy)", run.stdout), run.stdout
    with bootmirror.Machine.open(tmp_path / "lab") as m:
        assert m.wait(timeout=120)
        assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").verify().identical


def test_a_negative_speed_limit_is_a_usage_error():
    m = bootmirror.Machine()
    with pytest.raises(bootmirror.UsageError, match="bytes per second"):
        m.rebuild_speed_limit = -1
    assert m.rebuild_speed_limit is None
    m.rebuild_speed_limit = 5
    assert m.rebuild_speed_limit == 5


REFUSED = "The disk management services could not complete the operation."


def test_no_break_or_delete_throws_away_the_only_whole_copy_during_the_copy(tmp_path):
    """While disk 1's plex is being copied into, only disk 0's holds C:. "break disk=0 nokeep"
    left C: on the uncopied plex (zeros, later shown Healthy), "break disk=1" kept the uncopied
    plex as a Healthy volume, and with disk 0 missing "break disk=m0 nokeep" or "delete disk"
    dropped the only copy for good. Each is refused and changes nothing; once the copy ends, the
    runbook's break works."""
    m = dynamic_boot_volume(tmp_path)
    data = m.dynamic_volume("c").device.read(0, 1 << 20)
    m.rebuild_speed_limit = 0  # the copy holds at its start
    m.diskpart("select volume c\nadd disk=1", check=True)
    for command in ("break disk=0 nokeep", "break disk=1"):
        out = m.diskpart(f"select volume c\n{command}\nlist volume")
        assert REFUSED in out and "Mirror" in out and m.dynamic_volume("c").status == "Rebuild", out
    assert len(m.volumes) == 1
    m.fail_disk(0)
    for command in ("select volume c\nbreak disk=m0 nokeep", "select disk m0\ndelete disk"):
        assert REFUSED in m.diskpart(command), command
    assert m.dynamic_volume("c").status == "Failed"
    m.reactivate(0)  # disk 0 is back: the copy goes on from it
    m.rebuild_speed_limit = None
    assert m.wait(timeout=120)
    assert m.dynamic_volume("c").status == "Healthy" and m.dynamic_volume("c").device.read(0, 1 << 20) == data
    assert "Diskpart successfully broke the mirror volume." in m.diskpart("select volume c\nbreak disk=1 nokeep", check=True)
    assert m.dynamic_volume("c").device.read(0, 1 << 20) == data

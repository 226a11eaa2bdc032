"""NVRAM updates under the write-back crash model: after a power cut at any point of a set, a
replacement, a deletion or a reclaim, the store decodes (by EDK2's rule for which copy is live)
with exactly one live copy of the changed variable holding its old value or its new one (or none
where that is the old or new state), and every other variable as it was. virt-fw-vars reads the
states that are at rest by its own rule (it ignores copies in deleted transition) the same way."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import pytest

import bootmirror
from bootmirror import Disk, crash, nvram
from crash_helpers import RANDOM_PER_POINT, SEED, TRIED, states

TEMPLATE_2M = Path("/usr/share/OVMF/OVMF_VARS.fd")
VENDOR = "11111111-2222-3333-4444-555555555555"

View = Dict[Tuple[str, str], bytes]


def _view(store: nvram.Store) -> View:
    return {(v.name, v.guid): v.data for v in store.variables()}


def _live_copies(store: nvram.Store, name: str) -> int:
    return sum(1 for r in store.records() if r.live and r.variable.name == name and r.variable.guid == VENDOR)


def _prepared() -> Disk:
    """A 2M store with a few variables."""
    raw = TEMPLATE_2M.read_bytes()
    disk = Disk.memory(len(raw))
    disk.write(0, raw)
    s = nvram.Store.from_disk(disk)
    s.set("Keep", b"kept value", guid=VENDOR)
    s.add_boot_entry("bootmirror", r"HD(1,GPT,476688c5-8ebf-47d2-80e7-cf9d065edb81,0x800,0x14000)/\EFI\BOOT\BOOTX64.EFI")
    s.boot_order = [0]
    s.set("Target", b"old value " * 20, guid=VENDOR)
    return disk


NEW = b"the new value, longer than a sector so that its write tears " * 12

OPERATIONS: Dict[str, Tuple[Callable[[nvram.Store], object], Optional[bytes], Optional[bytes]]] = {
    # name: (operation, value before, value after) of the variable "Target" or "Fresh"
    "replace": (lambda s: s.set("Target", NEW, guid=VENDOR), b"old value " * 20, NEW),
    "delete": (lambda s: s.delete("Target", VENDOR), b"old value " * 20, None),
    "add": (lambda s: s.set("Fresh", NEW, guid=VENDOR), None, NEW),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_crash_leaves_one_copy_old_or_new(name):
    operation, old, new = OPERATIONS[name]
    target = "Fresh" if name == "add" else "Target"
    base = _prepared()
    before = _view(nvram.Store.from_disk(base))
    others = {k: v for k, v in before.items() if k != (target, VENDOR)}
    seen = set()
    # Many random subsets per point (each state takes a millisecond), so that the multi-sector
    # write of the name and data is also torn. (The model keeps a write shorter than a sector
    # whole; a header torn at a sector boundary is tested in tests/cpp/nvram_test.cpp.)
    torn = 0
    for state, (disk,) in states(lambda disks: operation(nvram.Store.from_disk(disks[0])), [base], f"nvram: {name}",
                                 random_per_point=4 * RANDOM_PER_POINT):
        torn += "torn" in state.description
        store = nvram.Store.from_disk(disk)
        view = _view(store)
        value = view.pop((target, VENDOR), None)
        assert value in (old, new), state.description
        assert _live_copies(store, target) == (0 if value is None else 1), state.description
        assert view == others, state.description
        seen.add(value)
        # The next update works from whatever the crash left, and leaves one copy.
        store.set(target, b"after the crash", guid=VENDOR)
        assert _live_copies(nvram.Store.from_disk(disk), target) == 1, state.description
    assert seen == {old, new}
    assert torn or name == "delete"  # a deletion writes single bytes, which cannot tear


def _full_store(folder: Path) -> Path:
    """A 2M store in a file whose next 3000-byte value needs a reclaim."""
    path = folder / "vars.fd"
    s = nvram.create_store(path, TEMPLATE_2M)
    s.set("Keep", b"kept value", guid=VENDOR)
    s.set("Small", b"small old", guid=VENDOR)
    i = 0
    while s.free_bytes >= 3100:
        s.set("Big", bytes([i]) * 3000, guid=VENDOR)
        i += 1
    s.set("Big", b"B" * 3000, guid=VENDOR) if s.free_bytes >= 3100 else None
    return path


def test_every_crash_of_a_reclaim_leaves_the_old_store_or_the_new_one(tmp_path):
    """An in-place replacement, then a value that only fits after a reclaim (the file replaced by
    replace_file), recorded together: device writes and file steps."""
    before = tmp_path / "before"
    before.mkdir()
    path = _full_store(before)
    old_big = nvram.Store.open(path).get("Big", VENDOR).data
    after = tmp_path / "after"
    shutil.copytree(before, after)
    log = crash.WriteLog()
    with bootmirror.deterministic(seed=SEED, epoch=1_750_000_000):
        s = nvram.Store.open(after / "vars.fd", writable=True, log=log)
        s.set("Small", b"small new", guid=VENDOR)
        free_before = s.free_bytes
        s.set("Big", b"N" * 3000, guid=VENDOR)
    assert free_before < 3000 and s.reclaimable_bytes == 0  # the second set reclaimed
    outcomes = set()
    for k, state in enumerate(log.crash_states(RANDOM_PER_POINT, SEED)):
        TRIED["nvram: reclaim"] += 1
        target = tmp_path / f"state{k}"
        shutil.copytree(before, target)
        disks = [Disk.open(target / Path(log.engine.device_name(i)).name, writable=True) for i in range(log.engine.device_count)]
        state.apply(disks)
        for d in disks:
            d.close()
        state.apply_files(target)
        store = nvram.Store.open(target / "vars.fd")
        view = _view(store)
        small, big = view[("Small", VENDOR)], view[("Big", VENDOR)]
        assert small in (b"small old", b"small new"), state.description
        assert big in (old_big, b"N" * 3000), state.description
        assert big == old_big or small == b"small new", state.description  # the reclaim came second
        assert view[("Keep", VENDOR)] == b"kept value", state.description
        for name in ("Small", "Big", "Keep"):
            assert _live_copies(store, name) == 1, (name, state.description)
        outcomes.add((small, big == old_big))
        shutil.rmtree(target)
    assert outcomes == {(b"small old", True), (b"small new", True), (b"small new", False)}

"""The write-back crash model: record what an operation writes, then look at every state a power
cut could have left.

Real disks lose any subset of the writes issued since the last flush and tear multi-sector writes;
file systems lose unsynced file contents and renames the folder was not fsynced for. A
:class:`WriteLog` records an operation's writes and flushes (through :class:`bootmirror.FaultyDisk`)
and file steps (through a machine kept in a folder); :meth:`WriteLog.crash_states` lists the
outcomes of a crash at every flush point, with the in-flight writes lost, whole, torn, or a seeded
random mix of the three::

    for state, disks in bootmirror.crash.explore(lambda d: d[0].convert_gpt(), [disk]):
        assert gpt.verify(disks[0]).primary.valid or gpt.verify(disks[0]).backup.valid, state
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core
from .disk import Disk, FaultyDisk

DiskLike = Union[Disk, _core.BlockDevice]


def _device(disk: DiskLike) -> _core.BlockDevice:
    return disk.device if isinstance(disk, Disk) else disk


class CrashState:
    """One outcome of a power cut: what reached each disk and each file of the folder."""

    def __init__(self, state: _core.CrashState) -> None:
        self._state = state

    @property
    def point(self) -> int:
        """The crash came just before this event of the log (its length: after the last one)."""
        return self._state.point

    @property
    def description(self) -> str:
        """What survived, in words: enough to reproduce the state (point, seed, fates)."""
        return self._state.description

    @property
    def signature(self) -> str:
        """A digest of what the state holds: two states with the same signature are the same state."""
        return self._state.signature

    @property
    def surviving_writes(self) -> int:
        """How many of the recorded writes this state keeps (whole or torn)."""
        return self._state.surviving_writes

    @property
    def files(self) -> Dict[str, Optional[bytes]]:
        """Files of the folder the crash changed: contents, or None for a file that is gone."""
        return self._state.files

    def apply(self, disks: Sequence[DiskLike]) -> None:
        """Write what survived onto `disks` (one per recorded disk, in recording order, each
        holding that disk's contents from before the operation)."""
        self._state.apply([_device(d) for d in disks])

    def apply_files(self, folder: Union[str, os.PathLike]) -> None:
        """Write the surviving files into `folder` (a copy of the folder from before)."""
        self._state.apply_files(os.fsencode(folder))

    def __repr__(self) -> str:
        return f"<CrashState {self.description}>"


class WriteLog:
    """The writes, flushes and file steps of an operation, in the order they were issued."""

    def __init__(self) -> None:
        self._log = _core.WriteLog()

    @property
    def engine(self) -> _core.WriteLog:
        """The engine's log, for the bindings that record into it."""
        return self._log

    def record(self, disk: FaultyDisk) -> int:
        """Record `disk`'s later writes and flushes; returns its number in this log."""
        if not isinstance(disk, FaultyDisk):
            raise _core.UsageError(f"only a FaultyDisk records its writes, not {type(disk).__name__}")
        return disk.device.record_to(self._log)

    @property
    def event_count(self) -> int:
        """Writes and flushes recorded so far."""
        return self._log.event_count

    @property
    def write_count(self) -> int:
        """Writes recorded so far."""
        return self._log.write_count

    def describe_event(self, index: int) -> str:
        """One recorded event (a write or a flush) in words: its device, offset and length."""
        return self._log.describe_event(index)

    def crash_points(self) -> List[int]:
        """Before any event, just before each flush or sync, and after the last event."""
        return self._log.crash_points()

    def crash(self, point: int, choice: str = "random", seed: int = 0) -> CrashState:
        """The state a crash just before event `point` leaves: in-flight writes 'none' survive,
        'all' do, or a 'random' (seeded) mix of lost, whole and torn ones."""
        return CrashState(self._log.crash(point, choice, seed))

    def crash_states(self, random_per_point: int = 8, seed: int = 0) -> List[CrashState]:
        """Every crash point with none and all of its in-flight writes surviving, plus
        `random_per_point` seeded random subsets; states leaving the same bytes come once."""
        return [CrashState(s) for s in self._log.crash_states(random_per_point, seed)]

    def __repr__(self) -> str:
        return f"<WriteLog {self.event_count} events, {self.write_count} writes>"


def explore(
    operation: Callable[[List[Disk]], object],
    disks: Sequence[DiskLike],
    random_per_point: int = 8,
    seed: int = 0,
) -> Iterator[Tuple[CrashState, List[Disk]]]:
    """Run `operation` on copy-on-write views of `disks` (which stay untouched), recording it,
    then yield every crash state with fresh views of `disks` holding what that crash left."""
    bases = [Disk(_device(d)) for d in disks]
    log = WriteLog()
    live = [FaultyDisk(Disk.overlay(d), log=log) for d in bases]
    operation(live)
    for state in log.crash_states(random_per_point, seed):
        after = [Disk.overlay(d) for d in bases]
        state.apply(after)
        yield state, after


__all__ = ["CrashState", "WriteLog", "explore"]

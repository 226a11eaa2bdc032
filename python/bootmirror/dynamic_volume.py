"""A machine's dynamic volume as diskpart manages it: its plexes, status and rebuild progress,
its bytes as a block device over every plex, and a verify that compares the plexes.

    v = m.dynamic_volume("c:")       # or its number as list volume shows it: m.dynamic_volume(0)
    v.status                          # 'Healthy', 'Rebuild', 'Failed Rd' or 'Failed'
    v.plexes                          # [Plex('Volume1-01', 'in sync'), Plex('Volume1-02', 'rebuilding', 37%)]
    report = v.verify()               # XXH3-128 of every plex, region by region
    report.mismatches                 # [(volume offset, length), ...] where the plexes differ

Everything here is the engine's answer (bootmirror._core.mirror); nothing is computed again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple, Union

from . import _core
from .disk import Disk
from .ldm import plex_name
from .progress import ProgressArg, callback, run_interruptibly, run_reporting

if TYPE_CHECKING:
    from .machine import Machine

# How often wait() reports progress (and looks whether its volume is done).
_POLL_SECONDS = 0.2


def rebuild_progress(machine: "Machine", volume: Optional[int]) -> Tuple[int, int]:
    """(bytes copied, bytes to copy) of the rebuilds in progress, of one volume or all."""
    found = [r for r in _core.dynamic.rebuild_status(machine._m) if volume is None or r.volume == volume]
    return sum(r.done for r in found), sum(r.total for r in found)


def wait_polling(machine: "Machine", timeout: Optional[float], progress: "ProgressArg",
                 measure: Callable[[], Tuple[int, int]], done: Optional[Callable[[], bool]] = None) -> bool:
    """The engine's wait for the machine's rebuilds, in short steps: a progress callback (or a bar,
    for ``progress=True``) is called between them, a condition `done` looked at, and Ctrl-C
    (KeyboardInterrupt) stops the waiting, never the copies. False when `timeout` passed first."""
    if timeout is not None and not timeout >= 0:
        raise _core.UsageError("the timeout must be a number of seconds, 0 or more")
    report, finish = callback(progress, "Rebuild")
    if report is None and done is None:
        # One engine wait, as long as it takes, in a thread of its own so that Ctrl-C reaches this
        # one (waiting in steps would start the copies again at every step).
        return run_interruptibly(lambda stopped: _core.dynamic.wait_for_rebuilds(machine._m, timeout), abandon=True)
    try:
        return _wait_in_steps(machine, timeout, report, measure, done)
    finally:
        finish()


def _wait_in_steps(machine: "Machine", timeout: Optional[float], progress: Optional[Callable[[int, int], object]],
                   measure: Callable[[], Tuple[int, int]], done: Optional[Callable[[], bool]]) -> bool:
    deadline = None if timeout is None else time.monotonic() + timeout
    last_total = 0
    if progress is not None:
        copied, last_total = measure()
        progress(copied, last_total)
    while True:
        step = _POLL_SECONDS if deadline is None else max(0.0, min(_POLL_SECONDS, deadline - time.monotonic()))
        idle = _core.dynamic.wait_for_rebuilds(machine._m, step)
        if progress is not None:
            copied, total = measure()
            if total:
                last_total = total
            elif idle or (done is not None and done()):
                copied = total = last_total  # all copied: their records are gone
            progress(copied, total)
        if idle or (done is not None and done()):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


class DynamicVolume:
    """A dynamic volume of a :class:`~bootmirror.Machine`, named by letter or number."""

    def __init__(self, machine: "Machine", which: str) -> None:
        self._machine = machine
        self._index, self._device = _core.mirror.machine_volume(machine._m, which)

    @property
    def number(self) -> int:
        """The volume's number in list volume."""
        return self._index

    @property
    def device(self) -> Optional[Disk]:
        """The volume's bytes over all its plexes (reads from a plex in sync, writes to every plex
        that takes them); None when no plex can be described."""
        return Disk(self._device) if self._device is not None else None

    @property
    def plexes(self) -> List["_core.mirror.PlexStatus"]:
        """Each plex: name, state ('in sync', 'rebuilding', 'failed'), cursor, problem."""
        return list(self._device.plexes) if self._device is not None else []

    def plex_device(self, plex: Union[str, int]) -> Disk:
        """One plex on its own, read-only, by name ("Volume1-01") or place in :attr:`plexes`: what
        its disks hold for the volume's bytes, whatever its state (to check or compare each plex
        alone, as mdadm examines one member). UsageError for a plex on a missing disk."""
        if self._device is None:
            raise _core.UsageError(f"dynamic volume {self._index} has no plex that can be described")
        return Disk(_core.mirror.PlexView(self._device, plex_name(self.plexes, plex)))

    @property
    def status(self) -> str:
        """diskpart's Status column: Healthy, Rebuild, Failed Rd or Failed."""
        return _core.mirror.machine_volume_status(self._machine._m, str(self._index))

    def wait(self, timeout: Optional[float] = None, progress: ProgressArg = None) -> bool:
        """Block until this volume's rebuild is done (see :meth:`Machine.wait`); `progress(done,
        total)` gets its bytes copied a few times a second (True: a tqdm bar). False when
        `timeout` passed first. Ctrl-C stops the waiting; the copy goes on."""
        return wait_polling(self._machine, timeout, progress, lambda: rebuild_progress(self._machine, self._index),
                            done=lambda: not any(r.volume == self._index for r in _core.dynamic.rebuild_status(self._machine._m)))

    @property
    def progress(self) -> Optional[float]:
        """While a plex is being rebuilt, the fraction of the volume copied (0.0 to 1.0); None
        otherwise."""
        rebuilding = [p for p in self.plexes if p.state == "rebuilding"]
        if not rebuilding or self._device is None or self._device.size == 0:
            return None
        return min(p.cursor for p in rebuilding) / self._device.size

    def verify(self, region_bytes: int = 1 << 20, progress: ProgressArg = None) -> "_core.mirror.VerifyReport":
        """Hash every plex in sync with XXH3-128, region by region (the plexes in parallel), and
        report where they differ (``.identical``, ``.mismatches`` as (offset, length)).
        `progress(done, total)` gets the bytes hashed (True: a tqdm bar). Ctrl-C stops the verify
        between regions (KeyboardInterrupt); it writes nothing."""
        device = self._device
        if device is None:
            raise _core.UsageError(f"dynamic volume {self._index} has no readable plex")
        return run_reporting(lambda report: device.verify(region_bytes, report), progress,
                             f"Verify volume {self._index}")

    def __repr__(self) -> str:
        shown = self.progress
        rebuild = f" {shown:.0%} rebuilt" if shown is not None else ""
        plexes = ", ".join(f"{p.name} {p.state}" for p in self.plexes)
        return f"<DynamicVolume {self._index} {self.status}{rebuild}: {plexes}>"

    def _repr_html_(self) -> str:
        """The volume's status and its plexes: state, a rebuild's progress bar, problem."""
        from . import _html

        rows = []
        for p in self.plexes:
            bar = ""
            if p.state == "rebuilding" and self._device is not None and self._device.size:
                bar = f'<progress value="{p.cursor}" max="{self._device.size}"></progress>'
            rows.append(f"<tr><td>{_html.escape(p.name)}</td><td>{_html.escape(p.state)}</td><td>{bar}</td>"
                        f"<td>{_html.escape(p.problem)}</td></tr>")
        return (f"<table><caption>Volume {self._index}: {_html.escape(self.status)}</caption>"
                f"<tr><th>plex</th><th>state</th><th>rebuild</th><th>problem</th></tr>{''.join(rows)}</table>")

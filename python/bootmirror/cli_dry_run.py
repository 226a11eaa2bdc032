"""The machine a verb works on under ``--dry-run``: a scratch copy of the real one.

Its own module so that a command without --dry-run does not import the machine's modules to
define it (the command line imports them only when a verb opens a machine)."""

from __future__ import annotations

from . import _core
from .machine import Machine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple


class DryRunMachine(Machine):
    """A scratch copy of `real` (its disks overlays, its NVRAM and machine.json copies in memory).
    Closing it records what the verb would have written there (:attr:`planned`: target,
    [(offset, length)]) and closes the real one unwritten."""

    def __init__(self, real: Machine) -> None:
        super().__init__(_core.machine_scratch_copy(real._m))
        self._real = real
        self.planned: Optional[List[Tuple[str, List[Tuple[int, int]]]]] = None

    def close(self) -> None:
        if self.planned is None:
            self.planned = _core.machine_planned_writes(self._real._m, self._m)
            self._real.close()
        super().close()

"""Reproducible identifiers and times.

Every GUID, serial number and timestamp bootmirror writes comes from one source. By default it
is random and follows the real clock; ``SOURCE_DATE_EPOCH`` freezes the clock and
``BOOTMIRROR_SEED`` seeds the identifiers. :func:`deterministic` does the same from Python.
"""

from __future__ import annotations

from . import _core

TYPE_CHECKING = False  # importing typing would cost every command milliseconds
if TYPE_CHECKING:
    from typing import Optional

new_guid = _core.new_guid
now = _core.now


class deterministic:
    """Make identifiers and times reproducible: ``bootmirror.deterministic(seed, epoch)``.

    Takes effect at once. Used as a context manager, the previous settings come back on exit::

        with bootmirror.deterministic(seed=1, epoch=1_700_000_000):
            disk = bootmirror.Disk.create("a.img", "64 MiB")

    ``seed=None`` keeps identifiers random; ``epoch=None`` keeps the real clock.
    """

    def __init__(self, seed: Optional[int] = 0, epoch: Optional[int] = 0) -> None:
        if seed is not None and not 0 <= seed < 1 << 64:
            raise _core.UsageError(f"seed {seed} is not between 0 and 2**64 - 1")
        if epoch is not None and not -(1 << 63) <= epoch < 1 << 63:
            raise _core.UsageError(f"epoch {epoch} does not fit a signed 64-bit number of seconds")
        self._previous = _core._identity_settings()
        self.seed = seed
        self.epoch = epoch
        _core._identity_configure(seed, epoch)

    def __enter__(self) -> "deterministic":
        return self

    def __exit__(self, *exc_info: object) -> None:
        _core._identity_configure(*self._previous)

    def __repr__(self) -> str:
        return f"deterministic(seed={self.seed!r}, epoch={self.epoch!r})"

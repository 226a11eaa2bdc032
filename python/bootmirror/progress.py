"""Progress of long work (mirror rebuilds, verifies, formats, tree copies), shown as it goes, and
stopping it.

Every long operation takes ``progress=``: a callable ``progress(done, total)`` (bytes), or
``True`` for a ``tqdm`` bar, which ``tqdm.auto`` draws as a widget in Jupyter and as a text bar on
a terminal::

    m.wait(progress=True)                      # the mirror copies, with a bar
    m.dynamic_volume("c").verify(progress=True)
    m.format("s:", "/fs:fat32 /v:ESP /y", progress=True)
    vol.import_tree("esp-files", progress=True)

Interrupting (Ctrl-C, or Jupyter's "Interrupt the kernel") raises ``KeyboardInterrupt`` within a
fraction of a second and leaves the machine consistent: a rebuild goes on in the background (and
resumes from its last checkpoint at the machine's next start if the process ends); a verify
stops between regions and writes nothing; an import or xcopy into a FAT volume leaves it as it
was; an export leaves the host files copied so far; a format stopped before its first write
leaves the volume as it was, and after it a volume with no file system (as a cancelled Windows
format does). A callable that answers False stops the work the same way, with
:class:`bootmirror.UsageError` ("... was stopped") instead of KeyboardInterrupt.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import IO, Any, Callable, Optional, TypeVar, Union

__all__ = ["JsonLines", "Progress", "ProgressArg", "bar", "callback", "run_interruptibly", "run_reporting", "stoppable"]

#: What a long operation's ``progress=`` accepts: a callable ``(done, total)``, True for a bar,
#: or None for nothing.
Progress = Callable[[int, int], object]
ProgressArg = Union[Progress, bool, None]

T = TypeVar("T")

#: How often a waiting thread looks for an interrupt, in seconds.
POLL_SECONDS = 0.2


def _terminal_columns(stream: IO[str]) -> Optional[int]:
    """The width of the terminal `stream` writes to (0 for a terminal that does not say, as a
    fresh pseudo-terminal), or None when it is not a terminal."""
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None


class bar:  # noqa: N801 - used like a function: progress=bootmirror.progress.bar("Rebuild")
    """A ``tqdm`` bar (``tqdm.auto``: a widget in Jupyter, text on a terminal) as a progress
    callback, counting bytes. Close it when the work is done (or use it as a ``with`` block);
    the operations that make their own bar from ``progress=True`` close it themselves."""

    def __init__(self, description: str = "", file: Optional[IO[str]] = None, leave: bool = True) -> None:
        from tqdm.auto import tqdm

        # A terminal that gives no size (a fresh pseudo-terminal) would hide the bar: 80 x 24.
        unsized = _terminal_columns(file if file is not None else sys.stderr) == 0
        self._make = lambda total: tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024,
                                        file=file, leave=leave, ncols=80 if unsized else None,
                                        nrows=24 if unsized else None, dynamic_ncols=not unsized)
        self._bar: Optional[Any] = None  # drawn from the first report that knows the total

    def __call__(self, done: int, total: int) -> None:
        """Move the bar to `done` of `total` bytes (nothing is drawn before a total is known)."""
        if not total:
            return
        if self._bar is None:
            self._bar = self._make(total)
        elif self._bar.total != total:
            self._bar.total = total
        self._bar.n = min(done, total)
        self._bar.refresh()

    def close(self) -> None:
        """Leave the bar as it stands (finished or not) and stop drawing it."""
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "bar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonLines:
    """A progress callback that writes one JSON document a line, ``{"schema": ..., "progress":
    {"task": ..., "done": ..., "total": ...}}``, to `stream` (the command line's ``--json``
    progress on stderr), at most once per percent."""

    def __init__(self, task: str, stream: IO[str], schema: str) -> None:
        self._task = task
        self._stream = stream
        self._schema = schema
        self._last: Optional[tuple] = None

    def __call__(self, done: int, total: int) -> None:
        """Write a line when the percentage (or the total) changed."""
        shown = (total, 100 * done // total if total else 0)
        if shown == self._last:
            return
        self._last = shown
        self._stream.write(json.dumps({"schema": self._schema,
                                       "progress": {"task": self._task, "done": done, "total": total}}) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Nothing to release: every line is written as it comes."""


def callback(progress: ProgressArg, description: str) -> "tuple[Optional[Progress], Callable[[], None]]":
    """The callable a ``progress=`` argument stands for, and how to finish it: True makes a
    :class:`bar` (closed by the finisher), a callable is used as it is, None and False give None."""
    if progress is True:
        shown = bar(description)
        return shown, shown.close
    if progress is None or progress is False:
        return None, lambda: None
    return progress, lambda: None


def run_interruptibly(work: Callable[[Callable[[], bool]], T], abandon: bool = False) -> T:
    """Run ``work(stopped)`` in a thread and wait for it in short steps, so that the calling
    thread sees Ctrl-C (Python delivers signals to the main thread only, and never while it waits
    inside the engine). `work` passes ``stopped()`` on to the engine's progress callback, which
    stops the engine when it turns True. On an interrupt, ``stopped()`` turns True, the work is
    waited for (it ends at its next progress report) and KeyboardInterrupt is raised; with
    `abandon`, for work that only waits, KeyboardInterrupt is raised at once and the thread is
    left to its wait."""
    outcome: dict = {}
    stop = threading.Event()
    # The work begins only once this thread is inside the try below: a Ctrl-C that lands while
    # the thread starts must stop the work too, not leave it running behind the raised error.
    go = threading.Event()

    def run() -> None:
        go.wait()
        if stop.is_set():
            return
        try:
            outcome["value"] = work(stop.is_set)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="bootmirror-work", daemon=True)
    try:
        thread.start()
        go.set()
        while thread.is_alive():
            thread.join(POLL_SECONDS)
    except KeyboardInterrupt:
        stop.set()
        go.set()
        if not abandon:
            try:
                thread.join()
            except RuntimeError:  # interrupted before the thread started: no work was begun
                pass
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class stoppable:  # noqa: N801 - used like a function
    """An engine progress callback that reports to `progress` and answers False (stop) once
    `stopped()` is True or `progress` answered a false value other than None (a bar and a plain
    function answer None: go on); :meth:`finished` reports the last total as done (the engine's
    last report may come before its last region)."""

    def __init__(self, progress: Optional[Progress], stopped: Callable[[], bool]) -> None:
        self._progress = progress
        self._stopped = stopped
        self._total = 0

    def __call__(self, done: int, total: int) -> bool:
        """Report, and say whether to go on."""
        self._total = total or self._total
        if self._progress is not None:
            answer = self._progress(done, total)
            if answer is not None and not answer:
                return False
        return not self._stopped()

    def finished(self) -> None:
        """The work is done: report all of it."""
        if self._progress is not None and self._total:
            self._progress(self._total, self._total)


def run_reporting(work: Callable[[Callable[[int, int], bool]], T], progress: ProgressArg, description: str) -> T:
    """Run ``work(engine_progress)``, engine work that takes a progress callback, the way every
    long operation runs: interruptibly (:func:`run_interruptibly`), reporting to what `progress`
    stands for (:func:`callback`; `description` names a bar), with the last total reported as
    done when the work completes, and the bar closed whatever happens."""
    report, finish = callback(progress, description)

    def run(stopped: Callable[[], bool]) -> T:
        engine_progress = stoppable(report, stopped)
        result = work(engine_progress)
        if not stopped():
            engine_progress.finished()
        return result

    try:
        return run_interruptibly(run)
    finally:
        finish()

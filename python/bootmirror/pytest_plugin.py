"""pytest fixtures and helpers for suites that test with bootmirror (a ``pytest11`` plugin: installing
bootmirror makes them available to every pytest run, nothing to import).

Fixtures:

- ``machine``: a fresh :class:`bootmirror.Machine` kept in the test's temporary folder;
- ``disk_factory``: ``disk_factory(size="128 MiB", sector_size=512, layout="raw", name=None)`` makes
  sparse images in the temporary folder, blank (``"raw"``), with an empty GPT (``"gpt"``: Windows'
  MSR only), with an EFI system partition formatted FAT (``"esp"``), or a dynamic disk of a new
  group (``"dynamic"``);
- ``faulty_disk``: a :class:`bootmirror.FaultyDisk` over such a disk (``@pytest.mark.parametrize(
  "faulty_disk", [{"size": ..., "layout": ...}], indirect=True)`` to choose);
- ``kb814070_machine``: the machine of Microsoft KB 814070 (:func:`bootmirror.kb814070.rehearsal_machine`),
  full size, or scaled with ``@pytest.mark.kb814070(scale=...)`` (or indirect parametrization);
- ``qemu_boot``: ``qemu_boot(machine, entry=None, timeout=60)`` boots the machine under QEMU and
  OVMF (:meth:`bootmirror.Machine.boot_qemu`). Without QEMU and OVMF the test is skipped, except
  under ``CI=true``, where it fails.
- ``redundancy_check``: ``redundancy_check(machine, qemu=False)`` is
  :meth:`bootmirror.Machine.check_redundancy`; with ``qemu=True`` it needs QEMU and OVMF as
  ``qemu_boot`` does.

Helpers, imported from this module:

- :func:`assert_transcript` compares the text of Windows' tools with a reference, GUIDs, volume
  serial numbers, dates and times masked, and shows a readable diff;
- :func:`assert_survives_loss_of_any_disk` fails the test, with the check's table and advice,
  when losing some disk of the machine would leave it unbootable;
- :func:`require_tool` finds an outside program or skips the test (fails under ``CI=true``, or
  everywhere with the ini option ``bootmirror_missing_tools = fail``).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Union

import pytest

from . import Disk, FaultyDisk, Machine, UsageError, fat, kb814070, ldm
from .disk import SizeLike

__all__ = [
    "DiskFactory", "QemuBoot", "assert_survives_loss_of_any_disk", "assert_transcript", "disk_factory", "faulty_disk", "kb814070_machine", "machine",
    "make_disk", "mask_transcript", "qemu_boot", "redundancy_check", "require_tool",
]

#: What ``disk_factory`` is: ``(size, sector_size, layout, name) -> Disk``.
DiskFactory = Callable[..., Disk]
#: What ``qemu_boot`` is: ``(machine, entry=None, timeout=60.0) -> the boot``.
QemuBoot = Callable[..., Any]

#: The layouts ``disk_factory`` makes.
LAYOUTS = ("raw", "gpt", "esp", "dynamic")
#: The EFI system partition of the "esp" layout, as Windows Server 2003's setup sizes it.
ESP_SIZE = "100 MiB"
#: Where Debian's ovmf package puts the firmware qemu_boot needs.
OVMF_FOLDER = "/usr/share/OVMF"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini option ``bootmirror_missing_tools``: "skip" (the default: skip outside CI, fail
    under ``CI=true``) or "fail" (fail everywhere, for suites that never skip)."""
    parser.addini("bootmirror_missing_tools", "what a missing outside tool does to a test: skip (outside CI) or fail",
                  default="skip")


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``kb814070`` marker."""
    config.addinivalue_line("markers", "kb814070(scale=1.0): the size of the kb814070_machine fixture's disks, "
                                       "as a fraction of the article's 10 GiB")
    global _CONFIG
    _CONFIG = config


_CONFIG: Optional[pytest.Config] = None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """The path of the outside program `name` (looked up in PATH, then /usr/sbin and /sbin). When it
    is missing the test is skipped, or fails under ``CI=true`` (and everywhere when the ini option
    ``bootmirror_missing_tools`` is "fail"), naming the program."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        _missing(f"outside tool '{name}' is not installed")
    return path


def _missing(message: str) -> NoReturn:
    strict = _CONFIG is not None and str(_CONFIG.getini("bootmirror_missing_tools")).strip().lower() == "fail"
    if strict or _in_ci():
        pytest.fail(message + (" (CI=true: a missing tool fails the test)" if _in_ci() else ""), pytrace=False)
    pytest.skip(message)


# -- transcripts --------------------------------------------------------------------------------------

_MASKS = (
    # GUIDs, with or without braces: every one the same width, so columns stay aligned.
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
     "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"),
    # FAT volume serial numbers (EA34-03C7) and NTFS ones (0x2EBA2ED6478D6252).
    (re.compile(r"\b[0-9A-F]{4}-[0-9A-F]{4}\b"), "XXXX-XXXX"),
    (re.compile(r"\b0x[0-9A-Fa-f]{16}\b"), "0xXXXXXXXXXXXXXXXX"),
    # Dates (2/28/2007, 2007-02-28) and times (10:42, 10:42:07, 10:42 PM).
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "DATE"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "DATE"),
    (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?(\s?[AP]M)?\b"), "TIME"),
)


def mask_transcript(text: str, ignore_indent: bool = False) -> List[str]:
    """`text` as :func:`assert_transcript` compares it: lines with GUIDs, serial numbers, dates
    and times masked, trailing spaces and the blank lines at either end dropped (and leading
    spaces too with `ignore_indent`)."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        for pattern, mask in _MASKS:
            line = pattern.sub(mask, line)
        line = line.rstrip()
        lines.append(line.lstrip() if ignore_indent else line)
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def assert_transcript(actual: str, expected: str, ignore_indent: bool = False) -> None:
    """Assert that a tool's text (diskpart's, bootcfg's, format's, a boot's) is `expected`, the
    identifiers and times that differ from run to run masked (see :func:`mask_transcript`). On a
    difference, the AssertionError shows a unified diff of the masked texts."""
    ours, theirs = mask_transcript(actual, ignore_indent), mask_transcript(expected, ignore_indent)
    if ours == theirs:
        return
    diff = "\n".join(difflib.unified_diff(theirs, ours, "expected", "actual", lineterm=""))
    raise AssertionError("the transcript differs (GUIDs, serial numbers, dates and times masked):\n" + diff)


# -- disks ---------------------------------------------------------------------------------------------

def _lay_out(disk: Disk, layout: str) -> None:
    if layout == "raw":
        return
    disk.convert_gpt()
    if layout == "gpt":
        return
    if layout == "esp":
        disk.delete_partition(1, override=True)
        part = disk.create_partition("efi", ESP_SIZE)
        disk.create_partition("msr", "32 MiB")
        fat.format(disk.slice(part.offset, part.size), "FAT", label="SYSTEM")
    elif layout == "dynamic":
        ldm.convert_dynamic(disk)
    disk.flush()


class _Disks:
    """The disks a test made, closed after it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: List[Disk] = []

    def make(self, size: SizeLike = "128 MiB", sector_size: int = 512, layout: str = "raw",
             name: Optional[str] = None) -> Disk:
        if layout not in LAYOUTS:
            raise UsageError(f"disk_factory: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        if name is not None and (Path(name).name != name or name in (".", "..")):
            raise UsageError(f"disk_factory: name {name!r} is not a file name (the disk is made in the test's folder)")
        disk = Disk.create(self.folder / (name or f"disk{len(self.made)}.img"), size, sector_size=sector_size)
        self.made.append(disk)
        _lay_out(disk, layout)
        return disk

    def close(self) -> None:
        for disk in self.made:
            disk.close()


@pytest.fixture
def disk_factory(tmp_path: Path) -> Iterator[DiskFactory]:
    """``disk_factory(size="128 MiB", sector_size=512, layout="raw", name=None)``: a sparse image
    in the test's temporary folder, laid out as "raw", "gpt", "esp" or "dynamic" (see the module);
    closed after the test."""
    disks = _Disks(tmp_path)
    yield disks.make
    disks.close()


@pytest.fixture
def make_disk(disk_factory: DiskFactory) -> DiskFactory:
    """``disk_factory`` under its former name."""
    return disk_factory


@pytest.fixture
def faulty_disk(request: pytest.FixtureRequest, disk_factory: DiskFactory) -> FaultyDisk:
    """A :class:`bootmirror.FaultyDisk` over a new disk from ``disk_factory`` (128 MiB, raw, unless
    the test parametrizes the fixture indirectly with a dict of ``disk_factory``'s arguments):
    ``fail_range``, ``cut_power_after`` and ``missing`` make it misbehave."""
    options: Dict[str, Any] = dict(getattr(request, "param", None) or {})
    return FaultyDisk(disk_factory(**options))


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    """A new, empty :class:`bootmirror.Machine` kept in the folder ``machine`` of the test's
    temporary folder (add disks with ``create_disk``); closed after the test."""
    with Machine.create(tmp_path / "machine") as m:
        yield m


def _scale(request: pytest.FixtureRequest) -> float:
    param = getattr(request, "param", None)
    marker = request.node.get_closest_marker("kb814070")
    if isinstance(param, dict):
        given = param.get("scale", 1.0)
    elif param is not None:
        given = param
    elif marker is not None:
        given = marker.kwargs.get("scale", marker.args[0] if marker.args else 1.0)
    else:
        return 1.0
    try:
        return float(given)
    except (TypeError, ValueError):
        raise UsageError(f"kb814070: scale {given!r} is not a number") from None


@pytest.fixture
def kb814070_machine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Machine]:
    """The machine of Microsoft KB 814070 as the article finds it, in the folder ``kb814070`` of
    the test's temporary folder: disk 0 with its ESP and Windows on C:, disk 1 raw, NVRAM with
    Windows' entry, Windows started. Its disks are 10 GiB (sparse) times the scale given by
    ``@pytest.mark.kb814070(scale=...)`` or an indirect parameter; closed after the test."""
    scale = _scale(request)
    with kb814070.rehearsal_machine(tmp_path / "kb814070", scale=scale) as m:
        yield m


def _require_qemu() -> None:
    require_tool("qemu-system-x86_64")
    if not Path(OVMF_FOLDER).is_dir():
        _missing(f"OVMF is not installed ({OVMF_FOLDER}: Debian's package ovmf)")


def assert_survives_loss_of_any_disk(machine: Machine, qemu: bool = False, timeout: float = 60.0) -> Any:
    """Fail the test unless losing any one disk of `machine` leaves a machine that boots
    (:meth:`bootmirror.Machine.check_redundancy`; with `qemu`, each disk also boots alone under
    QEMU, and a real boot the check did not predict fails too). The message is the check's table
    with each problem and what to do about it. Returns the report."""
    __tracebackhide__ = True
    if qemu:
        _require_qemu()
    report = machine.check_redundancy(qemu=qemu, timeout=timeout)
    unpredicted = [d.disk for d in report.disks if d.real is not None and not d.real.agrees]
    if not report.survives_loss_of_any_disk or unpredicted:
        extra = f"\nQEMU did not boot as predicted for disk(s) {unpredicted}" if unpredicted else ""
        pytest.fail(f"{report.summary()}\n\n{report}{extra}", pytrace=False)
    return report


@pytest.fixture
def redundancy_check() -> Callable[..., Any]:
    """``redundancy_check(machine, qemu=False, timeout=60.0)``: :meth:`bootmirror.Machine.check_redundancy`.
    With ``qemu=True`` the test is skipped when QEMU or OVMF is missing (fails under ``CI=true``)."""

    def check(machine: Machine, qemu: bool = False, timeout: float = 60.0) -> Any:
        if qemu:
            _require_qemu()
        return machine.check_redundancy(qemu=qemu, timeout=timeout)

    return check


@pytest.fixture
def qemu_boot() -> QemuBoot:
    """``qemu_boot(machine, entry=None, timeout=60.0)``: boot the machine under QEMU with OVMF
    (about 5 seconds) and return :meth:`bootmirror.Machine.boot_qemu`'s result. The test is
    skipped when qemu-system-x86_64 or OVMF is missing, and fails instead under ``CI=true``."""
    _require_qemu()

    def boot(machine: Machine, entry: Union[int, str, None] = None, timeout: float = 60.0) -> Any:
        return machine.boot_qemu(entry, timeout=timeout)

    return boot

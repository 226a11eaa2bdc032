"""bootmirror: build, inspect, mirror and repair bootable disk images.

GPT partition tables, FAT file systems, Windows LDM dynamic disks and their mirrors, and EFI
NVRAM boot entries, on image files, with a fast C++ engine underneath.

Errors: every error raised for bad input or bad use is a :class:`bootmirror.Error`:
:class:`FormatError` for corrupt or unsupported on-disk data (with ``.offset``),
:class:`UsageError` for bad arguments or state. Failures of the operating system are ``OSError``
(``FileNotFoundError``, ...) carrying the path.
"""

# Importing the package loads nothing else: each name below is imported the first time it is
# used (PEP 562), so that a command or script pays only for what it touches. The engine
# (bootmirror._core) alone takes several milliseconds to load, dataclasses and inspect ten more.
from ._version import __version__

# Where each public name lives; submodules map to themselves.
_NAMES = {
    "Error": "_core", "FormatError": "_core", "UsageError": "_core",
    "crc32": "_core", "describe_size": "_core", "parse_size": "_core",
    "Disk": "disk", "FaultyDisk": "disk", "buffer": "disk",
    "deterministic": "identity", "new_guid": "identity", "now": "identity",
    "Machine": "machine",
}
_SUBMODULES = ("crash", "fat", "firmware", "gpt", "kb814070", "ldm", "ntfs", "nvram", "qemu", "redundancy")

# A literal list, so that type checkers see what the package exports (mypy --strict re-exports
# only what __all__ names); the assert keeps it the same as the names above.
__all__ = [
    "__version__",
    "Error", "FormatError", "UsageError", "crc32", "describe_size", "parse_size",
    "Disk", "FaultyDisk", "buffer",
    "deterministic", "new_guid", "now",
    "Machine",
    "crash", "fat", "firmware", "gpt", "kb814070", "ldm", "ntfs", "nvram", "qemu", "redundancy",
]
assert set(__all__) == {"__version__", *_NAMES, *_SUBMODULES}


def __getattr__(name: str):
    from importlib import import_module

    module = _NAMES.get(name)
    if module is not None:
        value = getattr(import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    # Any submodule, public or not (bootmirror.gpt, bootmirror._core), as an attribute: the import
    # system sets it on the package.
    if not name.startswith("__"):
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


TYPE_CHECKING = False  # not typing's: importing typing costs 5 ms; type checkers take any TYPE_CHECKING
if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from . import crash, fat, firmware, gpt, kb814070, ldm, ntfs, nvram, qemu
    from ._core import Error, FormatError, UsageError, crc32, describe_size, parse_size
    from .disk import Disk, FaultyDisk, buffer
    from .identity import deterministic, new_guid, now
    from .machine import Machine

"""The command line's ``--json`` output and exit codes, defined here once (docs/cli.md shows them).

Every document the command line prints with ``--json`` is one JSON object on stdout, naming the
schema and the command::

    {"schema": "bootmirror/1", "command": "disk verify", ...the command's fields...}

An error is a document too, on stdout, with the exit code of its kind::

    {"schema": "bootmirror/1", "command": "disk verify",
     "error": {"type": "FormatError", "class": "FormatError", "message": "...", "offset": 512,
               "errno": null, "filename": null}}

Long work reports progress as JSON lines on stderr::

    {"schema": "bootmirror/1", "progress": {"task": "rebuild", "done": 1048576, "total": 5238685696}}

Fields are only ever added within ``bootmirror/1``; a field that changes meaning or goes away
comes with ``bootmirror/2``. The values are the engine's answers, converted by the functions
below (never worked out again here).
"""

from __future__ import annotations

from . import _core, gpt

# json, dataclasses and typing are imported where used: a text command never needs them, and
# they cost a whole-process command like `disk show` a quarter of its time (dataclasses imports
# inspect). A type checker takes any TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Dict, Optional

__all__ = [
    "BAD_DATA", "CHECK_FAILED", "INTERRUPTED", "IO_ERROR", "OK", "SCHEMA", "USAGE",
    "document", "error_document", "error_exit_code", "fields", "write",
]

#: The schema every document names.
SCHEMA = "bootmirror/1"

#: Exit codes, one per kind of outcome.
OK = 0
#: The command ran and found a problem or was refused: a check found damage or stale boot
#: entries, a diskpart or bootcfg command failed, a boot did not start, a wait timed out.
CHECK_FAILED = 1
#: Bad arguments, or an operation the machine's state does not allow (``UsageError``).
USAGE = 2
#: Corrupt or unsupported on-disk data (``FormatError``).
BAD_DATA = 3
#: The operating system failed: a missing image, an I/O error (``OSError``).
IO_ERROR = 4
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def document(command: str, **values: Any) -> Dict[str, Any]:
    """A document of `command` holding `values` (converted with :func:`fields`)."""
    out: Dict[str, Any] = {"schema": SCHEMA, "command": command}
    out.update({key: fields(value) for key, value in values.items()})
    return out


def error_exit_code(error: BaseException) -> int:
    """The exit code of an error: FormatError 3, UsageError 2, OSError 4, Ctrl-C 130."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(error, _core.FormatError):
        return BAD_DATA
    if isinstance(error, OSError):
        return IO_ERROR
    return USAGE


def _error_type(error: BaseException) -> str:
    for kind in (_core.FormatError, _core.UsageError, _core.Error, OSError):
        if isinstance(error, kind):
            return kind.__name__
    return "Interrupted" if isinstance(error, KeyboardInterrupt) else type(error).__name__


def error_document(command: Optional[str], error: BaseException) -> Dict[str, Any]:
    """The document of an error: its type ("FormatError", "UsageError", "Error", "OSError" or
    "Interrupted"), its exact class ("FileNotFoundError"), message, byte offset (FormatError), and
    errno and file (OSError)."""
    if isinstance(error, OSError):
        message = error.strerror or str(error)
    elif isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = str(error)
    return {"schema": SCHEMA, "command": command, "error": {
        "type": _error_type(error),
        "class": type(error).__name__,
        "message": message,
        "offset": getattr(error, "offset", None) if isinstance(error, _core.FormatError) else None,
        "errno": error.errno if isinstance(error, OSError) else None,
        "filename": error.filename if isinstance(error, OSError) and isinstance(error.filename, str) else None,
    }}


# The engine's result types, by the attributes a document shows of them.
_ATTRIBUTES = {
    "BootResult": ("ok", "entry", "description", "loader", "loader_partition", "os_volume", "steps", "console"),
    "MachineQemuBoot": ("entry", "loader_partition", "qemu"),
    "QemuBootResult": ("exit_status", "timed_out", "seconds", "firmware_code", "markers", "attempts", "console"),
    "QemuMarker": ("tag", "fat_serial", "path"),
    "QemuBootAttempt": ("option", "device_path", "outcome", "status"),
    "FirmwarePartition": ("disk", "number", "entry", "guid", "type_guid", "offset", "size"),
    "FirmwareOsVolume": ("partition", "dynamic_volume"),
    "RunningSystem": ("entry", "system_partition", "boot_volume"),
    "StaleBootEntry": ("number", "description", "reason"),
    "Health": ("clean", "problems"),
    "CopyState": ("valid", "header_found", "header_valid", "array_valid", "header_lba", "problem"),
    "Damage": ("structure", "offset", "problem"),
    "FatCheckReport": ("clean", "problems", "files", "directories", "used_clusters", "cluster_count"),
    "FatCheckProblem": ("kind", "path", "message", "repaired"),
    "VerifyReport": ("identical", "mismatches", "plexes", "region_bytes"),
    "RebuildStatus": ("volume", "disk", "done", "total"),
    "PlexStatus": ("name", "state", "cursor", "problem"),
}
# A boot menu entry's NVRAM record (firmware.MenuEntry.entry) is shown by its own fields instead.
_DATACLASS_SKIP = {"MenuEntry": ("entry",)}
# What the Python layer's dataclasses add as properties (from the engine's values).
_DATACLASS_MORE = {"MenuEntry": ("active",)}
# Health of a GPT (bootmirror._core.gpt) and of an LDM disk (bootmirror._core.ldm) share a name.
_HEALTH = {
    _core.gpt.Health: ("clean", "is_gpt", "protective_mbr", "copies_agree", "backup_at_end", "primary", "backup",
                       "problems"),
    _core.ldm.Health: ("clean", "is_dynamic", "readable", "problems", "damage"),
}


def fields(value: Any) -> Any:
    """`value` as JSON: plain values as they are, lists and tuples as lists, dicts by key,
    dataclasses by field (their record of the engine left out), and the engine's result types by
    the attributes listed above."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [fields(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fields(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(type(value), "__dataclass_fields__"):  # dataclasses.is_dataclass of an instance
        import dataclasses

        skip = _DATACLASS_SKIP.get(type(value).__name__, ())
        names = [f.name for f in dataclasses.fields(value) if f.name not in skip]
        return {name: fields(getattr(value, name)) for name in names + list(_DATACLASS_MORE.get(type(value).__name__, ()))}
    if isinstance(value, gpt.Partition):  # a slotted record (gpt imports no dataclasses): its fields, then
        return {name: fields(getattr(value, name))  # what it computes from them
                for name in (*gpt.Partition.__slots__, "type_name", "offset", "size")}
    names = _HEALTH.get(type(value)) or _ATTRIBUTES.get(type(value).__name__)
    if names is None:
        raise TypeError(f"no JSON form for {type(value).__name__}")
    return {name: fields(getattr(value, name)) for name in names}


def write(doc: Dict[str, Any], stream: IO[str]) -> None:
    """Print one document (indented, one key a line, for people reading it too), in ASCII: a host
    path that is not UTF-8 holds lone surrogates (os.fsdecode's), which no encoding of stdout can
    write raw and no JSON reader would accept as UTF-8; escaped, every document is valid JSON."""
    import json

    stream.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
    stream.flush()

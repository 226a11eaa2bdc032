r"""A machine's firmware: its NVRAM (an OVMF variable store in the machine folder) seen with the
machine's disks, and its boots.

    m.create_nvram()                         # Debian's OVMF_VARS_4M.fd, with LS120, CDROM, EFI Shell
    m.nvram.entries()                        # bootcfg's view: id, description, BootFilePath, OsFilePath
    m.nvram.stale()                          # entries whose ESP, loader or Windows is gone
    result = m.boot()                        # BootNext, then BootOrder, as firmware does
    print(m.bootcfg())                       # Windows' bootcfg, as Server 2003 prints it

Everything here is the engine's answer (bootmirror/firmware.h); nothing is computed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional

from . import _core, nvram

if TYPE_CHECKING:
    from .machine import Machine

BootResult = _core.BootResult
StaleEntry = _core.StaleBootEntry
Partition = _core.FirmwarePartition


@dataclass(frozen=True)
class MenuEntry:
    """One boot entry as bootcfg lists it, with its NVRAM record."""

    id: int                            #: bootcfg's Boot entry ID: its place in BootOrder from 1
    number: int                        #: its Boot#### number
    description: str
    windows: bool                      #: Windows' OS options are in its optional data
    os_load_options: str
    boot_file_path: Optional[str]      #: \Device\HarddiskVolume1\EFI\...; None where bootcfg says (null)
    os_file_path: Optional[str]        #: \Device\...\WINDOWS; None where bootcfg says (null)
    entry: Optional[nvram.BootEntry]   #: the Boot#### itself: device path, attributes, optional data

    @property
    def device_path(self) -> Optional[nvram.DevicePath]:
        """The entry's device path (where its loader is), or None without an NVRAM record."""
        return self.entry.device_path if self.entry is not None else None

    @property
    def os_load_path(self) -> Optional[nvram.DevicePath]:
        """The OS load path of a Windows entry (its Windows options' device path)."""
        options = self.entry.windows_options if self.entry is not None else None
        return options.os_load_path if options is not None else None

    @property
    def active(self) -> bool:
        """Whether the entry's LOAD_OPTION_ACTIVE attribute is set (firmware boots only active entries)."""
        return bool(self.entry is not None and self.entry.active)


class MachineNvram(nvram.Store):
    """The machine's NVRAM: a :class:`bootmirror.nvram.Store` that always reads the machine's
    current copy and writes through the machine (which takes the folder's write lock first), with
    what only the machine can tell: the boot menu as bootcfg shows it and the stale entries."""

    def __init__(self, machine: "Machine") -> None:  # noqa: D107 - a view; see the class
        self._machine = machine

    @property
    def _store(self) -> _core.NvramStore:  # type: ignore[override]
        store = _core.firmware_store(self._machine._m)
        if store is None:
            raise _core.UsageError("This machine has no NVRAM (Machine.create_nvram makes it).")
        return store

    def _writable(self) -> None:
        _core.firmware_writable_store(self._machine._m)

    def set(self, name: str, data: bytes, attributes: int = nvram.DEFAULT_ATTRIBUTES, guid: str = nvram.GLOBAL) -> None:
        self._writable()
        super().set(name, data, attributes, guid)

    def delete(self, name: str, guid: str = nvram.GLOBAL) -> bool:
        self._writable()
        return super().delete(name, guid)

    def reclaim(self) -> None:
        self._writable()
        super().reclaim()

    def set_boot_entry(self, number: int, option: nvram.LoadOption, attributes: int = nvram.DEFAULT_ATTRIBUTES) -> None:
        self._writable()
        super().set_boot_entry(number, option, attributes)

    def add_boot_entry(self, description: str, device_path: "nvram.DevicePath | str", optional_data: bytes = b"",
                       active: bool = True) -> int:
        self._writable()
        return super().add_boot_entry(description, device_path, optional_data, active)

    def delete_boot_entry(self, number: int) -> bool:
        """Delete Boot#### `number` and drop it from BootOrder; False when there was none."""
        self._writable()
        return super().delete_boot_entry(number)

    @nvram.Store.boot_order.setter  # type: ignore[attr-defined, misc]
    def boot_order(self, order: List[int]) -> None:
        self._writable()
        self._store.boot_order = list(order)

    @nvram.Store.boot_next.setter  # type: ignore[attr-defined, misc]
    def boot_next(self, number: Optional[int]) -> None:
        self._writable()
        self._store.boot_next = number

    @nvram.Store.timeout.setter  # type: ignore[attr-defined, misc]
    def timeout(self, seconds: Optional[int]) -> None:
        self._writable()
        self._store.timeout = seconds

    @property
    def boot_current(self) -> Optional[int]:
        """The Boot#### the machine last started (firmware keeps BootCurrent in memory only; the
        machine records it)."""
        return _core.firmware_boot_current(self._machine._m)

    def entries(self) -> List[MenuEntry]:
        """The entries of BootOrder as bootcfg lists them, with where their paths lead."""
        _, _, _, views = _core.firmware_boot_menu(self._machine._m)
        store = self._store
        return [MenuEntry(v.id, v.number, v.description, v.windows, v.os_load_options, v.boot_file_path,
                          v.os_file_path, store.boot_entry(v.number)) for v in views]

    def stale(self) -> List[StaleEntry]:
        """Entries firmware keeps though their ESP, loader file or Windows volume is gone (it never
        prunes them)."""
        return _core.firmware_stale_entries(self._machine._m)

    def _repr_html_(self) -> str:
        """The boot menu with bootcfg's IDs, the running entry and the stale ones marked."""
        from . import _html

        if not self._machine.has_nvram:
            return "<p>No NVRAM yet (Machine.create_nvram makes it).</p>"
        return _html.boot_menu(self, {e.number: e.id for e in self.entries()}, self.stale())

    def __repr__(self) -> str:
        if not self._machine.has_nvram:  # a repr answers whatever the state (a notebook shows it)
            return "<MachineNvram: none yet (Machine.create_nvram makes it)>"
        return f"<MachineNvram {self.path}: {len(self.boot_order)} entries in BootOrder>"

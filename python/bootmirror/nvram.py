r"""EFI NVRAM as OVMF keeps it: the variable store in a VARS file, its boot entries, and device paths.

    store = bootmirror.nvram.create_store("vars.fd")          # a copy of Debian's OVMF_VARS_4M.fd
    path = nvram.DevicePath.parse(r"HD(1,GPT,c12a7328-...,0x800,0x14000)/\EFI\BOOT\BOOTX64.EFI")
    number = store.add_boot_entry("bootmirror", path)
    store.boot_order = [number] + store.boot_order
    for entry in store.boot_entries():
        print(entry.name, entry.description, entry.device_path)

    store = nvram.Store.open("vars.fd")                      # read-only unless writable=True
    store.get("BootOrder"), store.variables(), store.records()

Updates follow EDK2's variable driver, one flushed step at a time, so a power cut leaves the old
value or the new one; when the store is full it is compacted (a reclaim) by replacing the whole
file. Everything here is the engine's answer (bootmirror._core); damage raises FormatError naming
what and the byte offset, and a store that cannot be read is never written.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, List, Optional, Union

from . import _core

if TYPE_CHECKING:
    from .crash import WriteLog
    from .disk import Disk

#: EFI_GLOBAL_VARIABLE: the vendor GUID of Boot####, BootOrder, BootNext, Timeout, ...
GLOBAL: str = _core.nvram_global_guid()
#: Variable attributes (UEFI 2.10, 8.2).
NV, BS, RT = 0x1, 0x2, 0x4
DEFAULT_ATTRIBUTES = NV | BS | RT
#: EFI_LOAD_OPTION attributes.
LOAD_OPTION_ACTIVE = 0x1
LOAD_OPTION_HIDDEN = 0x8
#: The VARS file Debian's ovmf package installs, which create_store copies by default.
DEFAULT_TEMPLATE: str = _core.nvram_default_template()

DevicePath = _core.DevicePath
DevicePathNode = _core.DevicePathNode
HardDrive = _core.HardDrive
LoadOption = _core.LoadOption
WindowsOsOptions = _core.WindowsOsOptions
BootEntry = _core.NvramBootEntry
Variable = _core.NvramVariable
Record = _core.NvramRecord

PathLike = Union[str, bytes, "os.PathLike[str]"]


def boot_variable_name(number: int) -> str:
    """"Boot0003" for 3: four uppercase hex digits."""
    return _core.nvram_boot_variable_name(number)


def boot_number(name: str) -> Optional[int]:
    """The number of a Boot#### variable name, or None for any other name."""
    return _core.nvram_boot_number(name)


class Store:
    """A variable store: OVMF's VARS file, or the same bytes on a bootmirror block device."""

    def __init__(self, store: _core.NvramStore) -> None:
        self._store = store

    @classmethod
    def open(cls, path: PathLike, writable: bool = False, log: "Optional[WriteLog]" = None) -> "Store":
        """The store in a VARS file, read-only unless `writable`. With a
        :class:`bootmirror.crash.WriteLog`, its writes and a reclaim's file steps are recorded."""
        return cls(_core.NvramStore.open(path, writable, log.engine if log is not None else None))

    @classmethod
    def from_disk(cls, disk: "Union[Disk, _core.BlockDevice]") -> "Store":
        """The store held by a bootmirror Disk or block device (a copy in memory, a FaultyDisk).
        Such a store cannot be reclaimed: that replaces a file."""
        device = disk if isinstance(disk, _core.BlockDevice) else disk.device
        return cls(_core.NvramStore.on_device(device))

    @property
    def engine(self) -> _core.NvramStore:
        """The engine's store, for the bindings that take it."""
        return self._store

    @property
    def path(self) -> Optional[str]:
        """The VARS file, or None for a store on a device."""
        return self._store.path

    @property
    def writable(self) -> bool:
        """Whether the store may be written."""
        return self._store.writable

    @property
    def free_bytes(self) -> int:
        """Bytes free at the end of the store for new variables (without a reclaim)."""
        return self._store.free_bytes

    @property
    def reclaimable_bytes(self) -> int:
        """Bytes of deleted and unfinished records a reclaim would give back."""
        return self._store.reclaimable_bytes

    def variables(self) -> List[Variable]:
        """The live variables in store order: name, guid, attributes, data, ..."""
        return self._store.variables()

    def records(self) -> List[Record]:
        """Every record in the store, deleted ones included, with its offset and state."""
        return self._store.records()

    def get(self, name: str, guid: str = GLOBAL) -> Optional[Variable]:
        """The live variable `name` of vendor `guid`, or None."""
        return self._store.get(name, guid)

    def set(self, name: str, data: bytes, attributes: int = DEFAULT_ATTRIBUTES, guid: str = GLOBAL) -> None:
        """Add or replace a variable (nothing is written when it already holds `data`)."""
        self._store.set(name, data, attributes, guid)

    def delete(self, name: str, guid: str = GLOBAL) -> bool:
        """Delete a variable; False when there is none."""
        return self._store.delete(name, guid)

    def reclaim(self) -> None:
        """Compact the store to its live variables (the file is replaced, crash-safely)."""
        self._store.reclaim()

    def image(self) -> bytes:
        """The whole file's bytes as the store holds them."""
        return self._store.image()

    def boot_entries(self) -> List[BootEntry]:
        """The Boot#### entries by number: description, device_path, active, optional data and
        Windows' OS options when they are there."""
        return self._store.boot_entries()

    def boot_numbers(self) -> List[int]:
        """The numbers of the Boot#### variables, none decoded: one that does not decode (which
        :meth:`boot_entries` raises on, naming it) is listed too."""
        return self._store.boot_numbers()

    def boot_entry(self, number: int) -> Optional[BootEntry]:
        """Boot#### `number` decoded, or None when there is none."""
        return self._store.boot_entry(number)

    def set_boot_entry(self, number: int, option: LoadOption, attributes: int = DEFAULT_ATTRIBUTES) -> None:
        """Write Boot#### `number` (BootOrder is left alone)."""
        self._store.set_boot_entry(number, option, attributes)

    def add_boot_entry(self, description: str, device_path: Union[DevicePath, str], optional_data: bytes = b"",
                       active: bool = True) -> int:
        """Write a new Boot#### under the lowest free number and return the number (BootOrder
        is left alone)."""
        number = self._store.free_boot_number()
        option = LoadOption(description, device_path, LOAD_OPTION_ACTIVE if active else 0, optional_data)
        self._store.set_boot_entry(number, option)
        return number

    def delete_boot_entry(self, number: int) -> bool:
        """Delete Boot#### `number` and drop it from BootOrder; False when there was none."""
        return self._store.delete_boot_entry(number)

    @property
    def boot_order(self) -> List[int]:
        """BootOrder: the Boot#### numbers in the order firmware tries them ([] when unset);
        assigning [] deletes it."""
        return self._store.boot_order

    @boot_order.setter
    def boot_order(self, order: List[int]) -> None:
        self._store.boot_order = list(order)

    @property
    def boot_next(self) -> Optional[int]:
        """BootNext (the entry for the next boot only), or None; assigning None deletes it."""
        return self._store.boot_next

    @boot_next.setter
    def boot_next(self, number: Optional[int]) -> None:
        self._store.boot_next = number

    @property
    def boot_current(self) -> Optional[int]:
        """BootCurrent when the store holds one (firmware keeps it in memory only)."""
        return self._store.boot_current

    @property
    def timeout(self) -> Optional[int]:
        """Timeout in seconds, or None; assigning None deletes it."""
        return self._store.timeout

    @timeout.setter
    def timeout(self, seconds: Optional[int]) -> None:
        self._store.timeout = seconds

    def _repr_html_(self) -> str:
        from . import _html

        return _html.boot_menu(self)

    def __repr__(self) -> str:
        where = self.path or "a device"
        return f"<nvram.Store {where}: {len(self.variables())} variables, {self.free_bytes:,} bytes free>"


def create_store(path: PathLike, template: Optional[PathLike] = None) -> Store:
    """A new VARS file at `path` (which must not exist), a copy of `template` (Debian's
    OVMF_VARS_4M.fd by default; OVMF_VARS.fd is the 2M layout), opened writable."""
    return Store(_core.NvramStore.create(path, DEFAULT_TEMPLATE if template is None else template))


__all__ = [
    "BS", "BootEntry", "DEFAULT_ATTRIBUTES", "DEFAULT_TEMPLATE", "DevicePath", "DevicePathNode", "GLOBAL", "HardDrive",
    "LOAD_OPTION_ACTIVE", "LOAD_OPTION_HIDDEN", "LoadOption", "NV", "RT", "Record", "Store", "Variable", "WindowsOsOptions",
    "boot_number", "boot_variable_name", "create_store",
]

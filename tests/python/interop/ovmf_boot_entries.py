#!/usr/bin/env python3
r"""Boot entries written into an OVMF variable store by an outside writer, virt-firmware (PyPI, a
test dependency, kept by OVMF's developers; GPL-2.0): the QEMU boot tests' stand-in until
bootmirror writes NVRAM itself. Run as a program, never imported: bootmirror does not link it.

    ovmf_boot_entries.py STORE ENTRIES_JSON

ENTRIES_JSON: {"entries": [{"title", "number", "start", "size", "guid", "path"}, ...],
"order": [option numbers] or null}. Each entry becomes the first free Boot#### with the device
path HD(number, GPT, guid, start, size)/path (what Windows' bootcfg writes for an ESP); BootOrder
gets `order` appended (default: the new entries in the order given). Prints the new numbers.
"""

from __future__ import annotations

import json
import sys

from virt.firmware.efi import devpath
from virt.firmware.varstore import edk2


def main() -> int:
    store, spec = sys.argv[1], json.loads(sys.argv[2])
    varstore = edk2.Edk2VarStore(store)
    variables = varstore.get_varlist()
    numbers = []
    for entry in spec["entries"]:
        hard_drive = devpath.DevicePathElem()
        hard_drive.set_gpt(entry["number"], entry["start"], entry["size"], entry["guid"])
        file_path = devpath.DevicePathElem()
        file_path.set_filepath(entry["path"])
        path = devpath.DevicePath()
        path.append(hard_drive)
        path.append(file_path)
        numbers.append(variables.add_boot_entry(entry["title"], path))
    for number in numbers if spec.get("order") is None else spec["order"]:
        variables.append_boot_order(number)
    varstore.write_varstore(store, variables)
    print(json.dumps(numbers))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An independent reader's view of an NTFS volume, for the tests to compare ours with: the tree
as dissect.ntfs (PyPI, a test dependency) reads it from an image, printed as JSON lines
[path, is_dir, size, sha256 or null, modified_ns]. Run as a program, never imported: bootmirror
does not link it.

    ntfs_reference_tree.py IMAGE
"""

from __future__ import annotations

import hashlib
import json
import sys

from dissect.ntfs import NTFS

FIRST_USER_RECORD = 16  # the volume's own files are not listed, as Windows does not list them


def main() -> int:
    with open(sys.argv[1], "rb") as fh:
        fs = NTFS(fh)
        pending = [("", fs.mft.get("\\"))]
        while pending:
            folder, record = pending.pop(0)
            for name, entry in sorted(record.listdir().items()):
                child = entry.dereference()
                if child.segment < FIRST_USER_RECORD or name in (".", ".."):
                    continue
                path = f"{folder}/{name}" if folder else name
                si = child.attributes[0x10][0]
                if child.is_dir():
                    print(json.dumps([path, True, 0, None, si.last_modification_time_ns]))
                    pending.append((path, child))
                else:
                    data = child.open().read()
                    print(json.dumps([path, False, child.size(), hashlib.sha256(data).hexdigest(), si.last_modification_time_ns]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

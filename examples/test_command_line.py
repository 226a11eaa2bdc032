"""The bootmirror command installed with the package: --json documents and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, Tuple


def bootmirror_json(*args: str) -> Tuple[int, Dict[str, Any]]:
    done = subprocess.run(["bootmirror", *args, "--json"], capture_output=True, text=True)
    document: Dict[str, Any] = json.loads(done.stdout)
    assert document["schema"] == "bootmirror/1"
    return done.returncode, document


def test_a_machine_from_the_command_line(tmp_path: Path) -> None:
    folder = str(tmp_path / "lab")
    code, document = bootmirror_json("machine", "new", folder, "--disk", "1GiB", "--disk", "1GiB")
    assert code == 0 and len(document["machine"]["disks"]) == 2
    script = tmp_path / "s.txt"
    script.write_text("select disk 1\nconvert gpt\nlist partition\n")
    code, document = bootmirror_json("diskpart", "-m", folder, "/s", str(script))
    assert code == 0 and document["commands"][1]["ok"]
    code, document = bootmirror_json("disk", "verify", "-m", folder, "1")
    assert code == 0 and document["clean"]
    code, document = bootmirror_json("disk", "show", "-m", folder, "7")
    assert code == 2 and document["error"]["type"] == "UsageError"

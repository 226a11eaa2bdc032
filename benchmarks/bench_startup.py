#!/usr/bin/env python3
"""Start-up: the `import bootmirror` statement measured in-process, and showing a disk or a disk
group as a whole process against sgdisk and ldmtool, with the floor the interpreter's own start.

The measurements are of a regular install, as `pip install .` gives: when bootmirror is an
editable install (make build), its Python files and built extension are copied into a virtual
environment of their own in the scratch folder, with their bytecode compiled (an editable install
adds its import hook, and PYTHONDONTWRITEBYTECODE, set in some shells, makes every import compile
its source again: neither is what a user's install pays). Subprocesses run without that variable.

- `import bootmirror` in a fresh interpreter, timed inside it (perf_counter around the statement);
  the floor is importing an empty package from the same site-packages;
- show a GPT disk that sgdisk made, as a process: python -c "from bootmirror import Disk, gpt;
  print(gpt.partitions(Disk.open(image)))" against `sgdisk -v` of the same image;
- show the disk groups of the 19 Windows images, as a process (ldm.read_group of each group, its
  volumes printed) against `ldmtool scan` of the same images;
- the command line's verbs, `bootmirror disk show IMAGE` and `bootmirror ldm show IMAGE...`, run
  by the console script pip writes for pyproject's [project.scripts] (the same lines; `python -m
  bootmirror` would add runpy's imports, which a user's command does not pay), against `sgdisk -v`
  and `ldmtool scan` on the same images (ldm show takes one group: the 10 disks of 2003 R2).
The floor of the process rows is `python -c pass` with the same interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, print_table, require, rounds, row, scratch, windows_images  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import _core  # noqa: E402

RUNS = ROUNDS * 6


def regular_install(folder: Path) -> str:
    """A Python whose site-packages holds bootmirror as a regular install would: the package's
    files, the extension, compiled bytecode, and an empty package beside it."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    package = Path(bootmirror.__file__).parent
    shutil.copytree(package, site / "bootmirror", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(_core.__file__, site / "bootmirror")
    (site / "emptypackage").mkdir()
    (site / "emptypackage" / "__init__.py").write_text("")
    subprocess.run([python, "-m", "compileall", "-q", str(site / "bootmirror"), str(site / "emptypackage")], check=True)
    # The console script, as pip writes it for `bootmirror = "bootmirror.cli:main"`.
    script = venv / "bin" / "bootmirror"
    script.write_text(f"#!{python}\nimport sys\nfrom bootmirror.cli import main\nif __name__ == '__main__':\n"
                      "    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit(main())\n")
    script.chmod(0o755)
    return python


def main() -> int:
    sgdisk = shutil.which("sgdisk") or shutil.which("sgdisk", path="/usr/sbin:/sbin") or require("sgdisk")
    ldmtool = require("ldmtool")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    quiet = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    rows = []
    with scratch("startup") as folder:
        python = regular_install(folder)
        cwd = folder / "empty"  # the interpreter lists its working folder: an empty one
        cwd.mkdir()

        def in_process(module: str):
            def work() -> None:
                out = subprocess.run([python, "-c", f"import time; t = time.perf_counter(); import {module}; "
                                      "print(time.perf_counter() - t)"], check=True, capture_output=True, text=True,
                                     env=env, cwd=cwd).stdout
                measured.setdefault(module, []).append(float(out))
            return work

        measured: dict = {}
        rounds({"bootmirror": in_process("bootmirror"), "floor": in_process("emptypackage")}, RUNS)
        rows.append(row("import bootmirror, timed in the interpreter", {"bootmirror": measured["bootmirror"],
                        "floor": measured["emptypackage"]}, "", "import of an empty package"))

        image = folder / "sgdisk.img"
        with open(image, "wb") as f:
            f.truncate(1 << 30)
        subprocess.run([sgdisk, "-o", "-n", "1:0:+100M", "-t", "1:ef00", "-n", "2:0:+16M", "-t", "2:0c01", "-n", "3:0:0",
                        str(image)], **quiet)
        show_disk = f"from bootmirror import Disk, gpt; print(gpt.partitions(Disk.open({str(image)!r})))"
        times = rounds({"bootmirror": lambda: subprocess.run([python, "-c", show_disk], cwd=cwd, **quiet),
                        "peer": lambda: subprocess.run([sgdisk, "-v", str(image)], **quiet),
                        "floor": lambda: subprocess.run([python, "-c", "pass"], cwd=cwd, **quiet)}, RUNS)
        rows.append(row("show a GPT disk sgdisk made, whole process", times, "sgdisk -v", "python -c pass"))

        images = windows_images(folder / "windows")
        sets = [[str(p) for p in images if p.name.startswith(prefix)] for prefix in ("ldm-2003r2-", "ldm-2008r2-")]
        show_groups = ("from bootmirror import Disk, ldm\n"
                       f"for paths in {sets!r}:\n"
                       "    g = ldm.read_group([Disk.open(p) for p in paths])\n"
                       "    print(g.name, [v.name for v in g.volumes])")
        times = rounds({"bootmirror": lambda: subprocess.run([python, "-c", show_groups], cwd=cwd, **quiet),
                        "peer": lambda: subprocess.run([ldmtool, "scan", *map(str, images)], **quiet),
                        "floor": lambda: subprocess.run([python, "-c", "pass"], cwd=cwd, **quiet)}, RUNS)
        rows.append(row(f"show the {len(images)} Windows LDM images' groups, whole process", times, "ldmtool scan",
                        "python -c pass"))

        cli = [str(Path(python).parent / "bootmirror")]
        times = rounds({"bootmirror": lambda: subprocess.run([*cli, "disk", "show", str(image)], cwd=cwd, **quiet),
                        "peer": lambda: subprocess.run([sgdisk, "-v", str(image)], **quiet),
                        "floor": lambda: subprocess.run([python, "-c", "pass"], cwd=cwd, **quiet)}, RUNS)
        rows.append(row("bootmirror disk show IMAGE (sgdisk's disk)", times, "sgdisk -v", "python -c pass"))
        group = sets[0]
        times = rounds({"bootmirror": lambda: subprocess.run([*cli, "ldm", "show", *group], cwd=cwd, **quiet),
                        "peer": lambda: subprocess.run([ldmtool, "scan", *group], **quiet),
                        "floor": lambda: subprocess.run([python, "-c", "pass"], cwd=cwd, **quiet)}, RUNS)
        rows.append(row(f"bootmirror ldm show of the {len(group)} disks of one Windows group", times, "ldmtool scan",
                        "python -c pass"))
    print_table(f"Start-up ({RUNS} rounds; a regular install: package files, extension and compiled bytecode "
                f"in a virtual environment of their own; Python {sysconfig.get_python_version()})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

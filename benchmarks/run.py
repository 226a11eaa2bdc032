#!/usr/bin/env python3
"""Run every benchmark (benchmarks/bench_*.py), or those named on the command line.

Each benchmark is a standalone script that times bootmirror, a peer tool and the floor (what the
machine allows) on the same work in the same run, in rotating rounds, and prints a markdown table
with min and median of each and the ratios of medians. Nothing here asserts a time.

What the scripts print is also written to bench-out/latest.md (bench-out/ is ignored by git, and
the scripts' scratch files live there too), so that the README's table can be taken from one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not wanted or p.stem.removeprefix("bench_") in wanted)
    if not scripts:
        print(f"no benchmark matches {sorted(wanted)}", file=sys.stderr)
        return 2
    failed = 0
    out_folder = HERE.parent / "bench-out"
    out_folder.mkdir(exist_ok=True)
    with open(out_folder / "latest.md", "w") as out:
        def say(text: str) -> None:
            print(text, end="", flush=True)
            out.write(text)
            out.flush()

        say(f"bench run of {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores\n")
        for script in scripts:
            say(f"\n## {script.stem.removeprefix('bench_')}\n\n")
            started = time.perf_counter()
            process = subprocess.Popen([sys.executable, str(script)], cwd=HERE.parent, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None
            for line in process.stdout:
                say(line)
            failed += process.wait() != 0
            say(f"\n({script.name}: {time.perf_counter() - started:.1f} s)\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Run every benchmark (benchmarks/bench_*.py), or those named on the command line.

Each benchmark is a standalone script that times bootmirror and a peer tool on the same work in
the same run and prints a markdown table with the ratio. Nothing here asserts a time.
"""

from __future__ import annotations

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
    for script in scripts:
        print(f"\n## {script.stem.removeprefix('bench_')}\n", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(f"\n({script.name}: {time.perf_counter() - started:.1f} s)", flush=True)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

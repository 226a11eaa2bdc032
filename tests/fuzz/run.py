#!/usr/bin/env python3
"""Runs the libFuzzer targets, --jobs at a time (default: one per core): `make fuzz`
(FUZZ_SECONDS each, default 60).

Each target starts from its seed corpus (tests/fuzz/corpus/<name>, read only) and its regression
inputs, plus a working corpus kept outside the repository (build/fuzz-corpus/<name>) that grows
from run to run, with tests/fuzz/<name>.dict as its dictionary when there is one. Per target it
prints the executions, executions per second, coverage (libFuzzer's cov: edges and ft: features)
and the outcome. An input that crashes, leaks, hangs or runs out of memory is copied into
tests/fuzz/regressions/<name>/ (where CTest replays it from then on) and the run fails.

    tests/fuzz/run.py --build build/asan/cmake/tests/fuzz --seconds 60 [--jobs N] [target ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = ROOT / "build" / "fuzz-corpus"
ARTIFACTS = ROOT / "build" / "fuzz-artifacts"

# What a target may use: leaks and 2 GiB are bugs, and an input taking over 10 s hangs.
LIBFUZZER_OPTIONS = ["-timeout=10", "-rss_limit_mb=2048", "-malloc_limit_mb=1024", "-print_final_stats=1",
                     "-detect_leaks=1"]
FAILURES = ("crash-", "leak-", "timeout-", "oom-")
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")
STAT = re.compile(r"^stat::(\w+):\s+(\d+)")


def targets() -> list[str]:
    return sorted(p.name[: -len("_fuzz.cpp")] for p in HERE.glob("*_fuzz.cpp"))


def fuzz(binary: Path, name: str, seconds: int) -> dict:
    work = WORK / name
    artifacts = ARTIFACTS / name
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    command = [str(binary), f"-max_total_time={seconds}", f"-artifact_prefix={artifacts}/", *LIBFUZZER_OPTIONS]
    dictionary = HERE / f"{name}.dict"
    if dictionary.exists():
        command.append(f"-dict={dictionary}")
    command.append(str(work))  # first: where new inputs go
    for seeds in (HERE / "corpus" / name, HERE / "regressions" / name):
        if seeds.is_dir() and any(seeds.iterdir()):
            command.append(str(seeds))
    log_path = artifacts / "fuzz.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=artifacts)
    elapsed = time.monotonic() - started
    out = {"name": name, "rc": result.returncode, "elapsed": elapsed, "log": log_path,
           "execs": 0, "exec_s": 0, "cov": 0, "ft": 0, "corpus": len(list(work.iterdir())), "crashes": []}
    for line in log_path.read_text(errors="replace").splitlines():
        if m := STATUS.match(line):
            out["cov"], out["ft"] = int(m.group(2)), int(m.group(3))
        if m := STAT.match(line):
            out[{"number_of_executed_units": "execs", "average_exec_per_sec": "exec_s"}.get(m.group(1), m.group(1))] = int(
                m.group(2))
    for found in sorted(artifacts.iterdir()):
        if found.name.startswith(FAILURES):
            kept = HERE / "regressions" / name / found.name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, kept)
            out["crashes"].append(kept)
    if result.returncode != 0 and not out["crashes"]:
        out["crashes"].append(f"libFuzzer exited with {result.returncode} and left no input (see {log_path})")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True, help="folder holding the <name>_fuzz binaries")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="targets run at once")
    parser.add_argument("names", nargs="*", help="targets to run (all by default)")
    args = parser.parse_args()
    names = args.names or targets()
    unknown = sorted(set(names) - set(targets()))
    if unknown:
        print(f"unknown fuzz targets: {' '.join(unknown)} (have: {' '.join(targets())})")
        return 2
    binaries = {name: (args.build / f"{name}_fuzz").resolve() for name in names}
    for binary in binaries.values():
        if not binary.exists():
            print(f"{binary} is missing: build it with make asan-build")
            return 2
    print(f"fuzzing {len(names)} targets for {args.seconds} s each, {args.jobs} at a time ...", flush=True)

    def report(r: dict) -> dict:
        verdict = "ok" if not r["crashes"] else f"{len(r['crashes'])} FOUND"
        lines = [f"  {r['name']:16} {r['execs']:>10} execs {r['exec_s']:>7}/s  cov: {r['cov']:>5} ft: {r['ft']:>6}  "
                 f"corpus {r['corpus']:>5}  {verdict}"]
        lines += [f"    {crash}" for crash in r["crashes"]]
        if r["crashes"]:
            lines += ["    " + line for line in Path(r["log"]).read_text(errors="replace").splitlines()[-40:]]
        print("\n".join(lines), flush=True)
        return r

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda name: report(fuzz(binaries[name], name, args.seconds)), names))
    print()
    print(f"{'target':16} {'execs':>11} {'exec/s':>8} {'cov':>6} {'ft':>7}  crashes")
    for r in results:
        print(f"{r['name']:16} {r['execs']:>11} {r['exec_s']:>8} {r['cov']:>6} {r['ft']:>7}  {len(r['crashes'])}")
    found = [c for r in results for c in r["crashes"]]
    if found:
        print(f"\n{len(found)} failing inputs, kept in tests/fuzz/regressions/ (CTest replays them); fix them and commit them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

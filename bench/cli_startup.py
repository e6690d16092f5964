"""CLI start-up benchmark: how long `escalation --help` takes, against `python -c "import click"`.

    .venv/bin/python bench/cli_startup.py               # 15 runs of each, interleaved
    .venv/bin/python bench/cli_startup.py --runs 30 --limit 3

What it does, in one run: after one warm-up run of each, it runs `--runs` rounds, and in every
round each of these once as a subprocess, in an order shuffled per round (so a burst of load
on this shared machine spreads over all of them), timing each from start to exit:

- `python -c "pass"`, the interpreter alone (for context);
- `python -c "import click"`, the baseline: no command line can start faster than its library;
- `escalation --help`, the console script installed beside this Python;
- `escalation report|worker|serve|raise --help`: a command's own help also builds the command
  group, and `raise --help` reads its choices from the rules, which load `holidays`.

It prints the machine (cores, load, Python, click), the median and spread of each in
milliseconds and each median's ratio to the click baseline. The target: `escalation --help` at
most `--limit` (3) times the baseline, which holds only while the command modules import click
and little else until a command runs (tests/cli/test_cli_startup.py checks which modules each help
loads, without timing). It exits 1 if the target is missed, or if any command fails.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

BASELINE = "python -c 'import click'"
TARGET = "escalation --help"


def commands(python: str, script: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [python, "-c", "pass"],
        BASELINE: [python, "-c", "import click"],
        TARGET: [script, "--help"],
        **{
            f"escalation {name} --help": [script, name, "--help"]
            for name in ("report", "worker", "serve", "raise")
        },
    }


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return seconds


def measure(argvs: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    for argv in argvs.values():  # warm-up: the file system cache, .pyc files
        time_once(argv)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    order = list(argvs)
    for _ in range(runs):
        random.shuffle(order)
        for name in order:
            times[name].append(time_once(argvs[name]))
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--limit", type=float, default=3.0, help="target ratio (default 3)")
    args = parser.parse_args(argv)
    script = Path(sys.executable).parent / "escalation"
    if not script.exists():
        sys.exit(f"no console script {script}: install the package (pip install -e .)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"CLI start-up: {args.runs} runs of each, interleaved; {os.cpu_count()} cores, "
        f"load {load}; Python {sys.version.split()[0]}, click {version('click')}"
    )
    times = measure(commands(sys.executable, str(script)), args.runs)
    baseline = statistics.median(times[BASELINE])
    width = max(len(name) for name in times)
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:{width}}  median {median * 1000:6.0f} ms  "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})  "
            f"{median / baseline:5.2f}x the baseline"
        )
    ratio = statistics.median(times[TARGET]) / baseline
    verdict = "PASS" if ratio <= args.limit else "FAIL"
    print(f"{verdict}: `{TARGET}` is {ratio:.2f}x `{BASELINE}` (target: at most {args.limit}x)")
    return 0 if ratio <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())

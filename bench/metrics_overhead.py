"""What /metrics' bookkeeping adds to one webhook request, beside the request's own cost.

Per request the LINE webhook now counts its events by type and times itself
(`handlers.metrics.count_events`, `Timer`). This measures that bookkeeping alone, in
this process, beside the baseline of the same loop doing nothing (measured in the same
run), and in multi-process mode (PROMETHEUS_MULTIPROC_DIR, as under --workers N), where
each update writes to a memory-mapped file.

    .venv/bin/python bench/metrics_overhead.py [--n 200000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import sys, time
from handlers import metrics
n = int(sys.argv[1])
events = ["message"]
def timed(body):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        body()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e9
def baseline():
    for _ in range(n):
        pass
def instrumented():
    for _ in range(n):
        timer = metrics.Timer("line")
        metrics.count_events("line", events)
        timer.done()
print(f"{timed(baseline):.0f} {timed(instrumented):.0f}")
"""


def run(n: int, multiprocess: bool) -> tuple[float, float]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as folder:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="requests simulated per round")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{'mode':<28}{'baseline ns/req':>17}{'with metrics ns/req':>22}{'added ns/req':>15}")
    for label, multi in (("one process", False), ("--workers N (multiprocess)", True)):
        base, with_metrics = run(args.n, multi)
        print(f"{label:<28}{base:>17.0f}{with_metrics:>22.0f}{with_metrics - base:>15.0f}")
    print(f"(best of 5 rounds of {args.n:,}; {time.perf_counter() - started:.1f} s in all)")


if __name__ == "__main__":
    main()

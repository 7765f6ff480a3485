"""`python -m bench`: every benchmark in turn, then the tables and plots (bench/report.py).

    .venv/bin/python -m bench [ingest economy drain worker memory breakdown backfill]

About 25 minutes on 2 cores (the backfill alone about 11). Raw results go to
bench/out/<name>.json; the tables printed at the end are what bench/RESULTS.md quotes. The
machine's load is printed before each one: other work on the machine skews every number.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from bench import backfill, breakdown, drain, economy, ingest, memory, report, worker
from bench.common import log

BENCHMARKS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "ingest": ingest.main,
    "economy": economy.main,
    "drain": drain.main,
    "worker": worker.main,
    "memory": memory.main,
    "breakdown": breakdown.main,
    "backfill": backfill.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        log(f"=== {name} (load average {load})")
        BENCHMARKS[name]([])
    print(report.markdown())
    report.plots()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

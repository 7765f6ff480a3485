"""Sampling profiles of running processes with py-spy, summed up by function.

`record(pid, seconds, path)` samples a process (py-spy record, raw collapsed stacks);
`summary(path)` gives each function's share of the samples that include it (inclusive) and
that end in it (self), so a RESULTS.md line can say where a process spends its time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^:]*)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def record(pid: int, seconds: int, path: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` into `path` (collapsed stacks); wait() on it."""
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _label(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/bench/out/src/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            if marker == "/bench/out/src/":
                file = file.split("/", 1)[1]
    return f"{match['name']} ({file})"


def summary(path: Path, top: int = 25) -> dict[str, object]:
    """Inclusive and self shares of the busiest functions (idle samples left out)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_label(f) for f in stack.split(";")]
        if any(idle in frames[-1] for idle in ("epoll", "select (", "sleep", "_poll", "wait (")):
            continue
        n = int(count)
        total += n
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    return {
        "busy_samples": total,
        "inclusive": [(name, round(n / total, 3)) for name, n in inclusive.most_common(top)],
        "self": [(name, round(n / total, 3)) for name, n in own.most_common(top)],
    }

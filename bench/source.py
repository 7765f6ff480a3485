"""Which code the benchmarks measure: the last commit, not a working tree others are editing.

`activate()` (run by `bench/__init__.py`) exports `bridge/`, `mappers/` and the Procfile of
HEAD into bench/out/src/<commit>/ and puts that first on the import path, for this process
and (through PYTHONPATH) for every process it starts. BENCH_SOURCE=worktree measures the
working tree instead.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("bridge", "mappers", "Procfile")


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def describe() -> str:
    """The commit measured (with "+worktree" when measuring uncommitted code)."""
    return os.environ.get("BENCH_COMMIT", "unknown")


def activate() -> Path:
    """Make HEAD's code the one imported here and in child processes; its directory."""
    if os.environ.get("BENCH_SOURCE") == "worktree":
        os.environ.setdefault("BENCH_COMMIT", _commit() + "+worktree")
        return ROOT
    if "BENCH_SNAPSHOT" in os.environ:  # a child of a benchmark: already set up
        return Path(os.environ["BENCH_SNAPSHOT"])
    commit = _commit()
    if commit == "unknown":  # not a git checkout: the files as they are
        return ROOT
    target = ROOT / "bench" / "out" / "src" / commit[:12]
    if not (target / "Procfile").exists():
        archive = _git("archive", "--format=tar", commit, *PATHS)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(target), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.environ["BENCH_SNAPSHOT"] = str(target)
    os.environ["BENCH_COMMIT"] = commit
    return target


def _commit() -> str:
    try:
        return _git("rev-parse", "HEAD").decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"

"""The repository stands on its own: nothing tracked reads the folder beside the checkout.

A user's clone has nothing beside it, so a test, golden, demo or benchmark that reads the
team's reference folder next to the checkout fails for everyone but us.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIBLING = "sha" + "red"  # spelled apart so that this file does not match its own pattern

# The parent folder's reference folder, however a path to it is spelled (see the test below).
OUTSIDE = re.compile(
    rf"\.\./{SIBLING}\b|parent[^\n]{{0,40}}{SIBLING}|[\"']{SIBLING}[\"']", re.IGNORECASE
)


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the files to check are the tracked ones")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_reads_the_folder_beside_the_checkout() -> None:
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (screenshots, plots)
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offenders, "files refer to the folder beside the checkout:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_is_for() -> None:
    for line in (
        f"FIXTURES = ROOT.parent / '{SIBLING}' / 'fixtures'",
        f'FIXTURES = Path(__file__).resolve().parents[2].parent / "{SIBLING}" / "fixtures"',
        f"see ../{SIBLING}/reference/kanal-api.md",
    ):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("Each Kanal store's budget is shared by every worker")


def test_every_fixture_a_test_names_is_in_the_repository() -> None:
    fixtures = ROOT / "tests" / "fixtures"
    named = set()
    for path in (ROOT / "tests").rglob("*.py"):
        named.update(re.findall(r"[\w.-]+\.json", path.read_text(encoding="utf-8")))
    present = {p.name for p in fixtures.rglob("*.json")} | {
        p.name for p in (ROOT / "tests" / "golden").glob("*.json")
    }
    missing = sorted(
        name
        for name in named
        if name not in present
        and (name.startswith(("gadget-", "docs-", "ios-", "shopify-")) or "built" in name)
    )
    assert not missing, f"tests name fixtures the repository lacks: {missing}"

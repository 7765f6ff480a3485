"""Benchmarks of kanal-bridge (see bench/RESULTS.md). They measure the last commit's code."""

from bench.source import activate

activate()

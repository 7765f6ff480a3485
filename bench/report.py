"""Tables (markdown) and plots from the raw results in bench/out/*.json.

.venv/bin/python -m bench.report      print the tables, redraw bench/*.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import OUT, ROOT

LABELS = {
    "a_body_only": "(a) body only",
    "b_verify_orjson_set_hiredis": "(b) HMAC+orjson+SET, hiredis",
    "b0_verify_orjson_set_no_hiredis": "(b0) the same without hiredis",
    # Results written before hiredis was a dependency: (b) then ran without it.
    "b_verify_orjson_set": "(b0) HMAC+orjson+SET, no hiredis",
    "c_rq_receiver": "(c) RQ receiver",
    "bridge": "bridge (web)",
}


def load(name: str) -> dict[str, Any] | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(data: dict[str, Any]) -> str:
    m = data["machine"]
    load = ", ".join(f"{value:.2f}" for value in m["load"])
    return (
        f"_{m['date']}, commit {m['commit'][:12]}, {m['nproc']} cores ({m['cpu']}), "
        f"{m['mem_gib']} GiB, Python {m['python']}, {m['redis'].split(' sha')[0]}, "
        f"load average at the end {load}_"
    )


B = "b_verify_orjson_set_hiredis"
B0 = "b0_verify_orjson_set_no_hiredis"


def saturation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The lowest concurrency reaching 95 % of the best throughput."""

    def accepted(row: dict[str, Any]) -> float:
        return float(row["rps"] * row["accepted"] / row["requests"])

    best = max(accepted(row) for row in rows)
    return next(row for row in rows if accepted(row) >= 0.95 * best)


def floor_ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """The bridge's best accepted throughput over each floor's best, by floor."""

    def best(target: str) -> float:
        return max(r["rps"] * r["accepted"] / r["requests"] for r in runs[target])

    floors = [t for t in (B, B0, "b_verify_orjson_set") if t in runs]
    return {t: best("bridge") / best(t) for t in floors} if "bridge" in runs else {}


def ingest_md(data: dict[str, Any]) -> str:
    runs = data["runs"]
    header = ["connections"] + [f"{LABELS[t]} req/s (p50 / p99 / p99.9 ms)" for t in runs]
    rows = []
    for n, level in enumerate(data["levels"]):
        row: list[Any] = [level]
        for target in runs:
            r = runs[target][n]
            row.append(
                f"**{r['rps']:.0f}** ({r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['p999_ms']:.1f})"
            )
        rows.append(row)
    out = [_machine(data), "", _table(header, rows), ""]
    floors = [t for t in (B, B0, "b_verify_orjson_set") if t in runs]
    if "bridge" in runs and floors and {"a_body_only", "c_rq_receiver"} <= set(runs):
        best = {
            t: max(r["rps"] * r["accepted"] / r["requests"] for r in rows_)
            for t, rows_ in runs.items()
        }
        sat = saturation(runs["bridge"])
        ratios = ", ".join(
            f"**{ratio:.2f} x {LABELS[t].split(' ')[0]}**"
            for t, ratio in floor_ratios(runs).items()
        )
        out += [
            f"Best accepted throughput: bridge {best['bridge']:.0f} req/s = {ratios} "
            f"(target >= 0.5 x (b), the floor with hiredis) and "
            f"**{best['bridge'] / best['c_rq_receiver']:.2f} x (c)** (target >= 1.5); "
            + ", ".join(
                f"{LABELS[t].split(' ')[0]} = {best[t] / best['a_body_only']:.2f} x (a)"
                for t in floors
            )
            + ".",
            f"Bridge saturation: {sat['connections']} connections, {sat['rps']:.0f} req/s, "
            f"p99 {sat['p99_ms']:.0f} ms, p99.9 {sat['p999_ms']:.0f} ms (Shopify: 5,000 ms).",
            *(
                f"Bridge at 16 connections: p99 {r['p99_ms']:.1f} ms (target < 50)."
                for r in runs["bridge"]
                if r["connections"] == 16
            ),
            "Server CPU per request (ms): "
            + ", ".join(
                f"{LABELS[t]} {max(r['server_cpu_ms_per_request'] for r in rs):.2f}"
                for t, rs in runs.items()
            ),
            "wrk's own CPU: "
            + ", ".join(
                f"{LABELS[t]} {max(r['wrk_cpu_s'] / r['seconds'] for r in rs):.0%} of a core"
                for t, rs in runs.items()
            ),
        ]
    return "\n".join(out)


def economy_md(data: dict[str, Any]) -> str:
    header = [
        "stream",
        "webhooks/order",
        "bridge: order calls/order",
        "all calls/order",
        "429s",
        "one call per burst",
        "naive calls/order",
        f"naive 429s at {data['rpm']}/min",
        "naive 429s at 60/min",
        "orders not newest",
    ]
    rows = [
        [
            s["timeline"],
            round(s["webhooks"] / s["orders"], 2),
            f"**{s['order_calls_per_order']}**",
            s["calls_per_order"],
            s["rate_limited"],
            s["one_call_per_burst"],
            s["naive"]["calls_per_order"],
            s["naive"]["rate_limited"],
            s["naive_at_60_per_minute"]["rate_limited"],
            s["orders_not_newest"],
        ]
        for s in data["scenarios"]
    ]
    return "\n".join([_machine(data), "", _table(header, rows)])


def drain_md(data: dict[str, Any]) -> str:
    header = [
        "scenario",
        "orders",
        "webhooks (sent in)",
        "minimum (records / rate)",
        "drain",
        "over minimum",
        "Kanal calls",
        "429s",
    ]
    rows = [
        [
            f"{s['stores']} x {s['requests_per_minute_each']}/min",
            s["orders"],
            f"{s['webhooks']} ({s['webhooks_sent_in_s']} s)",
            f"{s['minimum_s']} s",
            f"**{s['drain_s']} s**",
            f"{100 * s['over_minimum']:+.1f} %",
            s["kanal_calls"],
            s["rate_limited"],
        ]
        for s in data["scenarios"]
    ]
    return "\n".join([_machine(data), "", _table(header, rows)])


def worker_md(data: dict[str, Any]) -> str:
    header = [
        "emulator latency",
        "workers",
        "pushes/s",
        "per worker",
        "httpx loop (1 process)",
        "worker CPU ms/push",
        "Redis commands/push",
    ]
    rows = [
        [
            f"{r['latency_ms']} ms",
            r["workers"],
            f"**{r['pushes_per_s']}**",
            r["pushes_per_s_per_worker"],
            r["httpx_loop_per_s"],
            r["worker_cpu_ms_per_push"],
            r["redis_commands_per_push"],
        ]
        for r in data["runs"]
    ]
    return "\n".join([_machine(data), "", _table(header, rows)])


def memory_md(data: dict[str, Any]) -> str:
    redis_data = data["redis"]
    kinds = sorted(set(redis_data["pending"]["keys"]) | set(redis_data["delivered"]["keys"]))
    rows = []
    for name in kinds:
        cells: list[Any] = [f"`{name}`"]
        for state in ("pending", "delivered"):
            k = redis_data[state]["keys"].get(name)
            cells.append(f"{k['keys']} x {k['mean_bytes']} B, ttl {k['ttl_s']} s" if k else "-")
        rows.append(cells)
    web = data["web_rss"]
    kept = redis_data.get("finished_push", {})
    return "\n".join(
        [
            _machine(data),
            "",
            f"{redis_data['records']} records; used_memory growth per record: pending "
            f"**{redis_data['pending']['used_memory_per_record']} B**, after delivery "
            f"**{redis_data['delivered']['used_memory_per_record']} B** (with what RQ keeps of "
            "finished jobs, if anything). Kept per finished push beyond the delivered record: "
            f"RQ's job keys {kept.get('rq_job_keys_bytes', '?')} B, used_memory growth less the "
            f"record's own keys {kept.get('beyond_record_bytes', '?')} B.",
            "",
            _table(["key kind", "pending", "delivered"], rows),
            "",
            f"Web RSS: idle {web['idle_mib']} MiB, peak {web['peak_mib']} MiB under load "
            f"({web['requests']} webhooks at 64 connections, {web['rps']} req/s).",
        ]
    )


def breakdown_md(data: dict[str, Any]) -> str:
    rows = [[name, f"{value:.0f}"] for name, value in data["steps_us"].items()]
    return "\n".join(
        [
            _machine(data),
            "",
            f"{data['count']} deliveries of the ingest mix "
            f"(mean body {data['mean_body_bytes']} B), "
            "each step alone, one process:",
            "",
            _table(["step", "us per webhook"], rows),
            *(
                [
                    "",
                    f"Per RecordStore.accept: {data['redis_calls_per_accept']:.2f} EVALSHA from "
                    f"the web, {data['redis_commands_per_accept']:.1f} Redis commands in all "
                    "(INFO commandstats, the script's own calls included).",
                ]
                if "redis_calls_per_accept" in data
                else []
            ),
        ]
    )


def backfill_md(data: dict[str, Any]) -> str:
    base, live = data["live_baseline"], data["live_during_backfill"]
    header = [
        "historic orders",
        "Kanal limit",
        "live orders",
        "minimum (orders / rate left by live)",
        "drain",
        "over minimum",
        "live p50 / p95 / max, alone",
        "live p50 / p95 / max, during the backfill",
        "Shopify queries (cost points)",
        "Kanal calls",
        "429s",
    ]
    row = [
        data["orders"],
        f"{data['requests_per_minute']}/min",
        f"1 every {data['live_every_s']:g} s",
        f"{data['minimum_s']} s",
        f"**{data['drain_s']} s**",
        f"{100 * data['over_minimum']:+.1f} %",
        f"{base['p50']} / {base['p95']} / {base['max']} s",
        f"{live['p50']} / **{live['p95']}** / {live['max']} s",
        f"{data['shopify_queries']} ({data['shopify_cost_points']:,.0f})",
        data["kanal_calls"],
        data["rate_limited"],
    ]
    return "\n".join([_machine(data), "", _table(header, [row])])


def markdown() -> str:
    parts = []
    for name, render in (
        ("ingest", ingest_md),
        ("economy", economy_md),
        ("drain", drain_md),
        ("worker", worker_md),
        ("memory", memory_md),
        ("backfill", backfill_md),
    ):
        data = load(name)
        if data is not None:
            parts.append(f"### {name}\n\n{render(data)}\n")
    return "\n".join(parts)


def plots() -> list[Path]:
    """bench/ingest.png and bench/drain.png (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    made = []
    ingest = load("ingest")
    if ingest:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        for target, rows in ingest["runs"].items():
            levels = [r["connections"] for r in rows]
            accepted = [r["rps"] * r["accepted"] / r["requests"] for r in rows]
            left.plot(levels, accepted, marker="o", label=LABELS[target])
            right.plot(levels, [r["p99_ms"] for r in rows], marker="o", label=LABELS[target])
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("concurrent connections")
            ax.grid(alpha=0.3)
        left.set_ylabel("accepted webhooks / s")
        right.set_ylabel("p99 latency (ms)")
        right.set_yscale("log")
        left.legend(fontsize=7)
        fig.suptitle("Ingest: signed Shopify orders, 1 uvicorn process, 2 cores", fontsize=10)
        fig.tight_layout()
        made.append(_save(fig, "ingest.png"))
    drain = load("drain")
    if drain:
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for s in drain["scenarios"]:
            times = s["call_times_s"]
            label = f"{s['stores']} x {s['requests_per_minute_each']}/min"
            ax.plot(times, range(1, len(times) + 1), label=f"bridge, {label}")
            rate = s["stores"] * s["requests_per_minute_each"] / 60
            ax.plot(
                [0, s["minimum_s"]],
                [0, rate * s["minimum_s"]],
                linestyle="--",
                label=f"limit, {label}",
            )
        ax.set_xlabel("seconds since the first webhook")
        ax.set_ylabel("Kanal calls made")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("Drain: 1,000 orders x 4 webhooks", fontsize=10)
        fig.tight_layout()
        made.append(_save(fig, "drain.png"))
    return made


def _save(fig: Any, name: str) -> Path:
    path = ROOT / "bench" / name
    fig.savefig(path, dpi=80)
    return path


if __name__ == "__main__":
    print(markdown())
    print("\n".join(str(p) for p in plots()))

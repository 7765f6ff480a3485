"""The load generator: `wrk` (C, one thread, a Lua script) replaying pre-signed webhooks.

Each request is one delivery from a file written beforehand (signature, webhook id, topic and
body), so the generator spends nothing on JSON or HMAC while it runs. wrk is closed-loop:
`connections` requests are in flight at any time, so latency here includes no coordinated
omission correction (a saturated server shows up as higher latency, not as dropped load).
For the bridge a run must not send a delivery twice (a duplicate is answered from a shorter
path), so it is given more deliveries than it can answer in the run, and stops at the end of
the file if it ever gets there; the baselines do the same work for a repeat and loop over it.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.payloads import SHOP_DOMAIN, Webhook, sign

LUA = r"""
local path = os.getenv("BENCH_PATH")
local file = os.getenv("BENCH_BODIES")
local host = os.getenv("BENCH_DOMAIN")
local stop_at_end = os.getenv("BENCH_STOP") == "1"
local requests_ = {}
sent, answered, ok, accepted, other = 0, 0, 0, 0, 0  -- globals: done() reads them

function init(args)
  local f = assert(io.open(file, "rb"))
  while true do
    local header = f:read("*l")
    if not header then break end
    local len, topic, mac, id = header:match("^(%d+) (%S+) (%S+) (%S+)$")
    local body = f:read(tonumber(len))
    f:read(1)
    requests_[#requests_ + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Shopify-Topic"] = topic,
      ["X-Shopify-Hmac-Sha256"] = mac,
      ["X-Shopify-Shop-Domain"] = host,
      ["X-Shopify-API-Version"] = "2026-04",
      ["X-Shopify-Webhook-Id"] = id,
    }, body)
  end
  f:close()
end

function request()
  sent = sent + 1
  return requests_[(sent - 1) % #requests_ + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 then ok = ok + 1 end
  if body:find("accepted", 1, true) then accepted = accepted + 1 else other = other + 1 end
  if stop_at_end and answered >= #requests_ then wrk.thread:stop() end
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
  local ok_, accepted_, other_ = 0, 0, 0
  for _, t in ipairs(threads) do
    ok_ = ok_ + t:get("ok"); accepted_ = accepted_ + t:get("accepted")
    other_ = other_ + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "accepted": %d, "other": %d, '
    .. '"errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, '
    .. '"mean_us": %f}\n',
    summary.requests, summary.duration, ok_, accepted_, other_,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


@dataclass
class Result:
    """One wrk run: throughput, latency percentiles (ms) and answers."""

    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    ok: int
    accepted: int
    other: int
    errors: int
    wrk_cpu_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def write_deliveries(path: Path, webhooks: list[Webhook]) -> Path:
    """The file the Lua script replays: `len topic hmac id` then the body, per delivery."""
    with path.open("wb") as out:
        for hook in webhooks:
            out.write(
                f"{len(hook.body)} {hook.topic} {sign(hook.body)} {hook.webhook_id}\n".encode()
            )
            out.write(hook.body + b"\n")
    return path


def script(directory: Path) -> Path:
    path = directory / "replay.lua"
    path.write_text(LUA)
    return path


def run(
    url: str,
    deliveries: Path,
    connections: int,
    duration: float,
    lua: Path,
    *,
    once: bool = False,
    timeout: float = 10,
) -> Result:
    """One wrk run of `duration` seconds with `connections` connections (one thread).

    The file is replayed in a loop; with `once`, the connections stop once every delivery in
    it was answered (wrk still reports over the whole `duration`: make the file big enough).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    base, _, path = url.partition("://")[2].partition("/")
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={timeout}s",
            "-s",
            str(lua),
            f"http://{base}",
        ],
        capture_output=True,
        text=True,
        env={
            "BENCH_PATH": "/" + path,
            "BENCH_BODIES": str(deliveries),
            "BENCH_DOMAIN": SHOP_DOMAIN,
            "BENCH_STOP": "1" if once else "0",
        },
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    return Result(
        connections=connections,
        requests=raw["requests"],
        seconds=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        ok=raw["ok"],
        accepted=raw["accepted"],
        other=raw["other"],
        errors=raw["errors"],
        wrk_cpu_s=round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
    )

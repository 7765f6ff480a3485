"""Redis commands per push, command by command: what RQ sends and what the bridge sends.

    .venv/bin/python -m bench.commands [--records 300]

A private Redis is filled with pending order records (RecordStore.accept, the web's own
code, not counted); then MONITOR records every command while one worker process (Procfile)
pushes them all to the emulator answering at once. Each command is counted once, EVALSHA by
the name of its script in bridge/delivery/scripts.py, and the total is divided by the
records pushed. Time-driven commands (the scheduler's tick, the metrics flush, idle
heartbeats) are counted too, so a short run overstates them a little: they are listed apart
from the commands of the worker's job loop.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import threading
import time
from collections import Counter
from typing import Any

import redis

from bench.common import log, out_dir, private_redis, processes, save, wait_until
from bench.stack import Bridge, Emulator
from bench.worker import STORE, UNLIMITED, _fill, actions
from bridge.delivery import scripts


def script_names() -> dict[str, str]:
    """The SHA1 of each Lua script of the bridge, to its name."""
    names = {}
    for name in dir(scripts):
        value = getattr(scripts, name)
        if name.isupper() and isinstance(value, str):
            names[hashlib.sha1(value.encode()).hexdigest()] = name
    return names


def kind(key: str) -> str:
    """A key's kind: rq:job, rq:worker, kb:rec, ... (ids left out)."""
    parts = key.split(":")
    return ":".join(parts[:2]) if len(parts) > 1 else key


def labels(lines: list[str], names: dict[str, str]) -> list[str]:
    """Each MONITOR line as `VERB key-kind`; a command a Lua script ran is labelled with its
    script (`FINISH: HSET kb:rec`), EVALSHA with its script's name."""
    result = []
    script = "?"
    for line in lines:
        source, command = line.split("|", 1)
        parts = command.split(" ")
        verb = parts[0].upper()
        if verb == "EVALSHA" and len(parts) > 1:
            script = names.get(parts[1], "RQ " + parts[1][:8])
            result.append(f"EVALSHA {script}")
        elif source == "lua":
            result.append(f"{script}: {verb} {kind(parts[1]) if len(parts) > 1 else ''}".strip())
        else:
            result.append(f"{verb} {kind(parts[1]) if len(parts) > 1 else ''}".strip())
    return result


def monitor(url: str, seen: list[str], stop: threading.Event) -> None:
    client = redis.Redis.from_url(url)
    with client.monitor() as m:
        for event in m.listen():
            seen.append(f"{event.get('client_type', '')}|{event['command']}")
            if stop.is_set():
                return


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.commands")
    parser.add_argument("--records", type=int, default=300)
    args = parser.parse_args(argv)
    directory = out_dir("commands")
    names = script_names()
    seen: list[str] = []
    stop = threading.Event()
    with private_redis(directory / "redis") as redis_url, processes() as started:
        emulator = Emulator(directory, {STORE.kanal_store_id: UNLIMITED}, started, log_limit=10)
        bridge = Bridge(directory, redis_url, emulator.url, [STORE], started, settle=0)
        asyncio.run(_fill(redis_url, actions(args.records, 7_000_000_000)))
        client = redis.Redis.from_url(redis_url)
        watcher = threading.Thread(target=monitor, args=(redis_url, seen, stop), daemon=True)
        watcher.start()
        time.sleep(0.5)
        bridge.start_workers(1)
        wait_until(lambda: emulator.stats()["total"] >= args.records, 300, 0.1)
        wait_until(lambda: client.zcard("kb:pending") == 0, 60, 0.1)
        stop.set()
        client.ping()  # one more event, so the watcher sees `stop`
        watcher.join(5)
        bridge.stop_workers()
    (directory / "monitor.txt").write_text("\n".join(seen))
    counts = Counter(labels(seen, names))
    per_push = {name: round(n / args.records, 2) for name, n in counts.most_common()}
    total = sum(counts.values()) / args.records
    inside = sum(n for name, n in counts.items() if ": " in name) / args.records
    data = {
        "records": args.records,
        "commands_per_push": round(total, 1),
        "sent_per_push": round(total - inside, 1),
        "in_scripts_per_push": round(inside, 1),
        "by_command": per_push,
    }
    log(
        f"{total:.1f} Redis commands per push ({args.records} records): {total - inside:.1f} "
        f"sent, {inside:.1f} run by Lua scripts"
    )
    for name, n in per_push.items():
        log(f"  {n:6.2f}  {name}")
    log(f"raw results: {save('commands', data)}")
    return data


if __name__ == "__main__":
    main()

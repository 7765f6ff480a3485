"""What `kanal-bridge backfill` and `kanal-bridge reconcile` do (bridge/cli.py parses them).

    kanal-bridge backfill STORE [--since DATE] [--resources LIST] [--dry-run] [--yes]
                                [--status] [--cancel] [--detach]
    kanal-bridge reconcile [STORE]

The backfill command counts, says what the backfill will cost, asks above an hour (unless
--yes), starts it, then follows it (a bar in a terminal, a line every so often elsewhere)
until it is over. The work is the workers': Ctrl-C, or --detach, leaves it running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import redis
from rq import Worker

from bridge import defaults
from bridge.config import BridgeConfig
from bridge.errors import PlatformError
from bridge.ops import progress
from bridge.platforms import backfill, reconcile, scan
from bridge.platforms.sources import Source, shop_timezone, source_for

SinkFactory = Callable[[BridgeConfig, redis.Redis], scan.Sink]
SourceFactory = Callable[..., Source]


@dataclass
class BackfillOptions:
    store: str
    since: str | None = None
    resources: str | None = None
    dry_run: bool = False
    yes: bool = False
    status: bool = False
    cancel: bool = False
    detach: bool = False


@dataclass
class Terminal:
    """Where the command talks: its output, whether that is a terminal, and its input."""

    out: IO[str]
    tty: bool
    ask: Callable[[str], str]

    @classmethod
    def real(cls) -> Terminal:
        return cls(sys.stdout, sys.stdout.isatty() and sys.stdin.isatty(), input)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


def _store_with_api(config: BridgeConfig, key: str, term: Terminal) -> bool:
    store = config.stores.get(key)
    if store is None:
        known = ", ".join(sorted(config.stores))
        term.say(f"error: no store {key!r} in the configuration (known: {known})")
        return False
    if not store.has_api_access:
        term.say(
            f"error: {key} has no API credentials: backfill reads the shop's own API "
            "(README: Connecting a shop)"
        )
        return False
    return True


def run_backfill(
    options: BackfillOptions,
    config: BridgeConfig,
    client: redis.Redis,
    sink: scan.Sink,
    term: Terminal,
    *,
    make_source: SourceFactory = source_for,
    follow_every: float | None = None,
) -> int:
    """The backfill command; its exit status."""
    key = options.store
    if not _store_with_api(config, key, term):
        return 2
    store = config.stores[key]
    current = progress.progress(client, key, sink)
    if options.status:
        if current is None:
            term.say(f"no backfill of {key} yet")
        else:
            for line in progress.describe(current):
                term.say(line)
        return 0
    if options.cancel:
        if backfill.cancel(client, key):
            waiting = current.waiting if current else 0
            term.say(
                f"backfill of {key} cancelled: no more pages are read; the {waiting:,} "
                "records already queued still go to Kanal"
            )
            return 0
        term.say(f"no backfill of {key} is running")
        return 1
    if current is not None and current.state == scan.RUNNING:
        for line in progress.describe(current):
            term.say(line)
        term.say(f"a backfill of {key} is already running: --status follows it, --cancel stops it")
        return 1
    try:
        since = backfill.parse_since(options.since) if options.since else None
        resources = [r.strip() for r in options.resources.split(",")] if options.resources else None
        source = make_source(key, store)
        zone = shop_timezone(source)
        found = backfill.plan(key, store, config, source, resources=resources, since=since)
    except (ValueError, PlatformError) as exc:
        term.say(f"error: {exc}")
        return 2
    for line in backfill.estimate_lines(found):
        term.say(line)
    if options.dry_run:
        term.say("dry run: nothing started")
        return 0
    if not found.calls:
        term.say("nothing to backfill")
        return 0
    if found.seconds > defaults.BACKFILL_CONFIRM_SECONDS and not options.yes:
        if not term.tty:
            term.say("this takes over an hour: run again with --yes to start it")
            return 1
        if term.ask("Start it? [y/N] ").strip().lower() not in ("y", "yes"):
            term.say("not started")
            return 1
    try:
        backfill.start(client, store, found, timezone=zone)
    except backfill.BackfillRunning as exc:
        term.say(f"error: {exc}")
        return 1
    term.say(
        f"started: the workers run it page by page. `kanal-bridge backfill {key} --status` "
        f"shows where it stands; `--cancel` stops it. Ctrl-C here leaves it running."
    )
    if not Worker.count(connection=client):
        term.say("warning: no worker is running: the backfill starts when one does")
    if options.detach:
        return 0
    return follow(client, key, sink, term, every=follow_every)


def follow(
    client: redis.Redis,
    key: str,
    sink: scan.Sink,
    term: Terminal,
    *,
    every: float | None = None,
    timeout: float | None = None,
) -> int:
    """Show the backfill's progress until it is over (or Ctrl-C, or `timeout`)."""
    every = every if every is not None else (1.0 if term.tty else defaults.BACKFILL_LOG_SECONDS)
    deadline = time.monotonic() + timeout if timeout is not None else None
    try:
        while True:
            found = progress.progress(client, key, sink)
            if found is None:
                return 1
            line = progress.render(found, bar=term.tty)
            if term.tty:
                print("\r" + line + "\033[K", end="", file=term.out, flush=True)
            else:
                term.say(line)
            over = found.state != scan.RUNNING and not found.waiting
            if over or (deadline is not None and time.monotonic() > deadline):
                if term.tty:
                    term.say()
                term.say(f"backfill of {key}: {found.state}")
                return 0
            time.sleep(every)
    except KeyboardInterrupt:
        if term.tty:
            term.say()
        term.say(
            f"the backfill goes on in the workers: `kanal-bridge backfill {key} --status` "
            "shows it, `--cancel` stops it"
        )
        return 0


def run_reconcile(
    store_key: str | None,
    config: BridgeConfig,
    client: redis.Redis,
    sink: scan.Sink,
    term: Terminal,
    *,
    make_source: SourceFactory = source_for,
) -> int:
    """One reconciliation pass now, for one store or every store with API access."""
    if store_key is not None:
        if not _store_with_api(config, store_key, term):
            return 2
        keys = [store_key]
    else:
        keys = [k for k, s in sorted(config.stores.items()) if s.has_api_access]
        if not keys:
            term.say("no store has API credentials: nothing to reconcile")
            return 0
    status = 0
    for key in keys:
        store = config.stores[key]
        fields = scan.read(client, reconcile.reconcile_key(key))
        zone = fields.get("timezone") or None
        try:
            source = make_source(key, store, timezone=zone, share=defaults.RECONCILE_BUCKET_SHARE)
            done = reconcile.run_pass(client, config, key, sink, source=source)
        except PlatformError as exc:
            term.say(f"{key}: {exc}")
            status = 1
            continue
        term.say(_pass_line(key, done))
    return status


def _counted(figures: dict[str, int]) -> str:
    """ "2 orders, 1 checkout" ("trashed_orders": "trashed orders")."""
    parts = []
    for resource, n in sorted(figures.items()):
        name = resource.replace("_", " ")
        if n:
            parts.append(f"{n:,} {name[:-1] if n == 1 else name}")
    return ", ".join(parts)


def _pass_line(key: str, done: reconcile.Pass) -> str:
    read = _counted(done.read) or "no change"
    found = sum(done.found.values())
    if not found:
        return f"{key}: read {read}; the webhooks had missed nothing"
    which = _counted(done.found)
    return (
        f"{key}: read {read}; found {which} the webhooks had missed: on their way to Kanal "
        "(each is logged)"
    )

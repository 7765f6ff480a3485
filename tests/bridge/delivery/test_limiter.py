"""Per-store pacing through Redis: evenly spaced slots, shared by every worker, paused by 429s."""

from __future__ import annotations

import itertools

import redis

from bridge.delivery.limiter import Limiter, interval_for


def test_slots_are_spaced_evenly_at_the_rate(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    slots = [limiter.reserve(1, 60, now=1000.0) for _ in range(5)]
    step = interval_for(60)
    assert slots[0] == 1000.0
    assert all(abs((b - a) - step) < 1e-6 for a, b in itertools.pairwise(slots))
    assert step > 1.0


def test_no_sixty_second_window_holds_more_than_the_limit(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    slots = [limiter.reserve(1, 300, now=0.0) for _ in range(1000)]
    for start in slots:
        assert sum(1 for s in slots if start <= s < start + 60) <= 300


def test_stores_have_separate_budgets(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    limiter.reserve(1, 60, now=0.0)
    limiter.reserve(1, 60, now=0.0)
    assert limiter.reserve(2, 60, now=0.0) == 0.0


def test_an_idle_store_does_not_bank_budget(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    limiter.reserve(1, 60, now=0.0)
    first, second = limiter.reserve(1, 60, now=500.0), limiter.reserve(1, 60, now=500.0)
    assert first == 500.0
    assert second > 501.0


def test_a_pause_pushes_every_later_slot_past_it(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    until = limiter.pause(1, 30, now=100.0)
    assert until == 130.0
    assert limiter.paused_until(1) == 130.0
    assert limiter.reserve(1, 60, now=101.0) == 130.0
    assert limiter.reserve(2, 60, now=101.0) == 101.0


def test_a_shorter_pause_never_shortens_a_longer_one(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    limiter.pause(1, 60, now=0.0)
    limiter.pause(1, 5, now=1.0)
    assert limiter.paused_until(1) == 60.0


def test_a_free_slot_is_now_despite_the_scripts_rounding(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    now = 1795737117.4907656  # rounds up to ...490766 at six decimals
    assert limiter.reserve(3, 60, now=now) == now

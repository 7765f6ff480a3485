from __future__ import annotations

from bridge.emulators.kanal.ratelimit import SlidingWindow


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_admits_up_to_the_limit_then_refuses() -> None:
    clock = Clock()
    window = SlidingWindow(3, clock=clock)
    decisions = [window.hit() for _ in range(4)]
    assert [d.admitted for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].retry_after == 60


def test_retry_after_is_the_wait_until_the_oldest_request_leaves_the_window() -> None:
    clock = Clock()
    window = SlidingWindow(2, clock=clock)
    window.hit()  # t=1000
    clock.now = 1010.5
    window.hit()
    clock.now = 1030.2
    refused = window.hit()
    assert not refused.admitted
    assert refused.retry_after == 30  # ceil(1060 - 1030.2)
    clock.now += refused.retry_after
    assert window.hit().admitted


def test_the_window_slides_rather_than_resetting_each_minute() -> None:
    clock = Clock()
    window = SlidingWindow(2, clock=clock)
    clock.now = 1059.0
    assert window.hit().admitted
    assert window.hit().admitted
    clock.now = 1061.0  # a new calendar minute, but both are still within the last 60 s
    assert not window.hit().admitted
    clock.now = 1118.9
    assert not window.hit().admitted
    clock.now = 1119.0  # exactly 60 s later: both have left the window
    assert window.hit().admitted
    assert window.hit().admitted
    assert not window.hit().admitted


def test_refused_requests_do_not_count() -> None:
    clock = Clock()
    window = SlidingWindow(1, clock=clock)
    assert window.hit().admitted
    for second in range(1, 60):
        clock.now = 1000.0 + second
        assert not window.hit().admitted
    clock.now = 1060.0
    assert window.hit().admitted


def test_never_more_than_limit_in_any_window_under_a_steady_stream() -> None:
    clock = Clock(0.0)
    window = SlidingWindow(5, clock=clock)
    admitted: list[float] = []
    for tick in range(1200):  # one attempt every 0.25 s for 5 minutes
        clock.now = tick * 0.25
        if window.hit().admitted:
            admitted.append(clock.now)
    assert len(admitted) == 25
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + 60) <= 5


def test_peek_does_not_admit() -> None:
    clock = Clock()
    window = SlidingWindow(2, clock=clock)
    window.hit()
    assert window.peek().remaining == 1
    assert window.peek().remaining == 1
    assert window.hit().remaining == 0
    assert not window.peek().admitted


def test_lowering_the_limit_waits_for_enough_requests_to_leave() -> None:
    clock = Clock()
    window = SlidingWindow(3, clock=clock)
    for second in (0, 10, 20):
        clock.now = 1000.0 + second
        window.hit()
    window.limit = 1
    clock.now = 1030.0
    refused = window.hit()
    assert not refused.admitted
    assert refused.retry_after == 50  # the request at t=1020 must leave first
    assert refused.remaining == 0


def test_reset_empties_the_window() -> None:
    window = SlidingWindow(1, clock=Clock())
    window.hit()
    window.reset()
    assert window.hit().admitted

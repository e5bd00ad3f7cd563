"""The connector's sliding-window call limit (Marketo: 100 calls per 20 s per instance)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobs.rate_limit import SlidingWindow, next_start


def test_calls_within_the_limit_start_at_once() -> None:
    assert next_start([0.0, 1.0], 2.0, calls=3, window=10) == 2.0
    assert next_start([0.0, 1.0, 2.0], 10.0, calls=3, window=10) == 10.0  # 0.0 just left


def test_a_call_over_the_limit_waits_for_the_oldest_to_leave_the_window() -> None:
    assert next_start([0.0, 1.0, 2.0], 5.0, calls=3, window=10) == 10.0
    assert next_start([0.0, 1.0, 2.0, 3.0], 5.0, calls=3, window=10) == 11.0


@given(
    calls=st.integers(1, 6),
    window=st.floats(0.5, 20),
    gaps=st.lists(st.floats(0, 10), min_size=1, max_size=60),
)
def test_no_window_ever_holds_more_than_the_limit_and_no_call_waits_needlessly(
    calls: int, window: float, gaps: list[float]
) -> None:
    starts: list[float] = []
    wanted = 0.0
    for gap in gaps:
        wanted += gap
        now = max(wanted, starts[-1]) if starts else wanted
        start = next_start(starts, now, calls, window)
        assert start >= now
        if start > now:  # it waited exactly until the call `calls` back left the window
            assert start == starts[-calls] + window
        starts.append(start)
    for earlier, later in zip(starts, starts[calls:], strict=False):
        assert later >= earlier + window


async def test_the_window_makes_callers_wait_in_turn() -> None:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    window = SlidingWindow(5, 1.0, clock=lambda: clock[0], sleep=sleep)
    started = []
    for _ in range(12):
        await window.acquire()
        started.append(clock[0])
    assert started == [0.0] * 5 + [1.0] * 5 + [2.0] * 2
    assert window.waited == 2.0

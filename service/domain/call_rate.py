"""The activity source's call-rate rule (Marketo: at most 100 calls in any 20 seconds per
instance), as the reference the shared Redis window (jobs/call_rate.py) must agree with."""

from __future__ import annotations

from collections.abc import Sequence


def next_start(starts: Sequence[float], now: float, calls: int, window: float) -> float:
    """The earliest moment (>= now) a call may start, given the start times of the calls before
    it (oldest first), so that no `window` holds more than `calls` starts: a call over the limit
    waits until the call `calls` back has left the window."""
    recent = [s for s in starts if s > now - window]
    if len(recent) < calls:
        return now
    return recent[len(recent) - calls] + window

"""Staying under the activity source's call rate instead of running into it.

Marketo allows 100 REST calls per 20 seconds per instance and answers 606 beyond that; calls
refused that way still cost time (and backoff), and every tenant syncing from the same instance
shares the allowance. So calls wait for a free slot in a sliding window, one window per instance
(base URL and client id) in this process."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

# A call counts from when the source receives it, a little after we start it: keep a margin so
# our window never undercounts the source's.
MARGIN_SECONDS = 0.5


def next_start(starts: Sequence[float], now: float, calls: int, window: float) -> float:
    """The earliest moment (>= now) a call may start, given the start times of the calls before
    it (oldest first), so that no `window` seconds hold more than `calls` starts."""
    recent = [s for s in starts if s > now - window]
    if len(recent) < calls:
        return now
    return recent[len(recent) - calls] + window


class SlidingWindow:
    def __init__(self, calls: int, window: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if calls < 1 or window <= 0:
            raise ValueError("a rate limit needs at least one call per positive window")
        self.calls = calls
        self.window = window
        self._starts: deque[float] = deque(maxlen=calls)
        self._clock = clock
        self._sleep = sleep
        self._turn = asyncio.Lock()  # first come, first served
        self.waited = 0.0

    async def acquire(self) -> None:
        """Wait until a call may start, and count it as started."""
        async with self._turn:
            while (start := next_start(self._starts, self._clock(), self.calls,
                                       self.window)) > (now := self._clock()):
                self.waited += start - now
                await self._sleep(start - now)
            self._starts.append(self._clock())


# Per event loop (an asyncio lock belongs to one), then per instance.
_windows: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                    dict[tuple[str, str], SlidingWindow]] = (
    weakref.WeakKeyDictionary())


def window_for(base_url: str, client_id: str, calls: int, seconds: float) -> SlidingWindow | None:
    """The window shared by every sync of this process that calls this instance; None when
    `calls` is 0 (no limit)."""
    if calls <= 0:
        return None
    windows = _windows.setdefault(asyncio.get_running_loop(), {})
    key = (base_url.rstrip("/"), client_id)
    window = windows.get(key)
    if window is None or (window.calls, window.window) != (calls, seconds + MARGIN_SECONDS):
        window = windows[key] = SlidingWindow(calls, seconds + MARGIN_SECONDS)
    return window

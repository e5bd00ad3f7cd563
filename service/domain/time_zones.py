"""A tenant's time zone: where its days begin, for the activity rollup and the scoring window.
Only IANA names (Europe/Stockholm); abbreviations and POSIX offsets ("UTC+3", whose sign
PostgreSQL reads the other way round) are refused."""

from __future__ import annotations

import functools
import zoneinfo


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone we accept, or None."""
    if name not in _names():
        return f"{name[:64]!r} is not an IANA time zone name (e.g. Europe/Stockholm, UTC)"
    return None

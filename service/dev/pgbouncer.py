"""PgBouncer in transaction mode in front of a PostgreSQL on this machine, for the tests that run
the service through it: Debian's package (`apt-get install pgbouncer`, which `.ci/run` does).
Every login a test uses is listed in its auth file; the server behind it decides on passwords.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from service.dev.replica import free_port, on_port

# PgBouncer refuses to run as root; this user owns nothing else.
UNPRIVILEGED = "nobody"


@dataclass
class PgBouncer:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def url(self, server_url: str) -> str:
        """What `server_url` (its login and database) is through this PgBouncer."""
        return on_port(server_url, self.port)

    def log_tail(self) -> str:
        log = self.directory / "pgbouncer.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def start_pgbouncer(server_url: str, logins: dict[str, str], *, pool_size: int = 20
                    ) -> PgBouncer:
    """A PgBouncer in transaction mode in front of the server `server_url` names (its host, or
    `?host=` socket directory, and port), letting in `logins` (name: password)."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
    parts = urlsplit(server_url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "127.0.0.1"
    port = query.get("port") or str(parts.port or 5432)
    directory = Path(tempfile.mkdtemp(prefix="bg-pgbouncer-"))
    directory.chmod(0o755)
    listen = free_port()
    (directory / "users.txt").write_text("".join(
        f"{_quoted(unquote(name))} {_quoted(password)}\n" for name, password in logins.items()))
    settings = {
        "listen_addr": "127.0.0.1", "listen_port": str(listen), "unix_socket_dir": "",
        "auth_type": "trust", "auth_file": str(directory / "users.txt"),
        "pool_mode": "transaction", "default_pool_size": str(pool_size),
        "max_client_conn": "2000", "server_reset_query": "",
        "logfile": str(directory / "pgbouncer.log"),
        "pidfile": str(directory / "pgbouncer.pid"),
    }
    if os.geteuid() == 0:
        # A server on a socket only: the owner of its directory is who may reach it.
        user = (pwd.getpwuid(Path(host).stat().st_uid) if host.startswith("/")
                else pwd.getpwnam(UNPRIVILEGED))
        settings["user"] = user.pw_name
        os.chown(directory, user.pw_uid, user.pw_gid)
    (directory / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={host} port={port}\n\n[pgbouncer]\n"
        + "".join(f"{name} = {value}\n" for name, value in settings.items()))
    for name in ("users.txt", "pgbouncer.ini"):
        (directory / name).chmod(0o644)
    process = subprocess.Popen([binary, str(directory / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    bouncer = PgBouncer(listen, directory, process)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
            return bouncer
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = bouncer.log_tail()
                bouncer.stop()
                raise RuntimeError(f"pgbouncer did not start:\n{log}") from None
            time.sleep(0.05)

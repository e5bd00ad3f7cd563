"""Which errors say a server is away (answered 503, retried), and which are bugs (500)."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions

from service.infra import outages


async def test_a_refused_database_connection_is_the_database_away() -> None:
    with pytest.raises(OSError) as refused:
        await asyncpg.connect("postgresql://nobody@127.0.0.1:1/none", timeout=5)
    assert outages.away(refused.value) == outages.DATABASE


@pytest.mark.parametrize(("error", "server"), [
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"),
     outages.DATABASE),
    (asyncpg.CannotConnectNowError("the database system is starting up"), outages.DATABASE),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
     outages.DATABASE),
    (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
     outages.DATABASE),
    (redis.exceptions.ConnectionError("Connection closed by server."), outages.REDIS),
    (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), outages.REDIS),
    # Not outages: a cancelled statement, another operation in progress (a bug), a file.
    (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), None),
    (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
     None),
    (FileNotFoundError(2, "No such file or directory"), None),
    (ValueError("a bug"), None),
])
def test_what_counts_as_a_server_away(error: BaseException, server: str | None) -> None:
    assert outages.away(error) == server


def test_a_cause_that_was_a_server_away_counts() -> None:
    try:
        try:
            raise asyncpg.AdminShutdownError("terminating connection")
        except asyncpg.AdminShutdownError as exc:
            raise RuntimeError("the unit of work failed") from exc
    except RuntimeError as wrapped:
        assert outages.away(wrapped) == outages.DATABASE


def test_a_job_cut_by_a_restart_is_tried_again() -> None:
    """asyncpg's InternalClientError of a connection terminated mid-statement is no bug of the
    job's: another attempt (jobs/run.py), not a FAILED job."""
    from jobs.run import is_transient

    assert is_transient(asyncpg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"))
    assert not is_transient(asyncpg.InternalClientError("something else"))
    assert not is_transient(ValueError("a bug"))

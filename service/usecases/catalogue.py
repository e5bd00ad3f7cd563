"""Bulk writes of accounts and people, shared by the GraphQL mutations, the CSV importer and
the demo: check each item, write the valid ones in one set-based statement per table, report the
rest, in the caller's unit of work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from service.domain.problems import Problem
from service.domain.records import (
    account_problems,
    duplicate_keys,
    normalized,
    person_problems,
)
from service.infra.db import Connection, Database
from service.store import accounts as account_store
from service.store import buying_groups as group_store
from service.store import erasure as erasure_store
from service.store import people as people_store
from service.usecases.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class BulkResult(Generic[T]):
    written: dict[int, T] = field(default_factory=dict)
    problems: dict[int, list[Problem]] = field(default_factory=dict)

    def rows_in_order(self) -> list[T]:
        return [self.written[i] for i in sorted(self.written)]


async def _bulk(
    conn: Connection,
    tenant_id: UUID,
    items: Sequence[Mapping[str, Any]],
    check: Callable[[Mapping[str, Any]], list[Problem]],
    write: Callable[..., Any],
    erased_kind: str,
) -> BulkResult[Any]:
    result: BulkResult[Any] = BulkResult()
    items = [normalized(item) for item in items]
    duplicates = duplicate_keys(items)
    # An erased person or account stays erased: a sync or an import does not bring it back.
    erased = await erasure_store.erased(
        conn, tenant_id, erased_kind,
        [i["externalId"] for i in items if isinstance(i.get("externalId"), str)])
    valid: list[int] = []
    for index, item in enumerate(items):
        problems = check(item)
        if index in duplicates:
            problems.append(duplicates[index])
        if item.get("externalId") in erased:
            problems.append(Problem(("externalId",), "ERASED", (
                f"externalId {item['externalId']!r} was erased on request; it is not taken "
                "again")))
        if problems:
            result.problems[index] = problems
        else:
            valid.append(index)
    if valid:
        written, problems = await write(conn, tenant_id, [items[i] for i in valid])
        for position, row in written.items():
            result.written[valid[position]] = row
        for position, problem in problems.items():
            result.problems.setdefault(valid[position], []).append(problem)
    return result


async def upsert_accounts(work: UnitOfWork, items: Sequence[Mapping[str, Any]]
                          ) -> BulkResult[account_store.Account]:
    """Write accounts; the generated names of their buying groups follow a new name."""
    result = await _bulk(work.conn, work.tenant_id, items, account_problems,
                         account_store.upsert_accounts, "ACCOUNT")
    await group_store.follow_renames(work.conn, work.tenant_id,
                                     account_ids=[a.id for a in result.written.values()])
    await _statistics_kept_up(work, result)
    return result


async def _statistics_kept_up(work: UnitOfWork, result: BulkResult[Any]) -> None:
    """A tenant grown by this write past what the planner estimates for it gets fresh
    statistics now, not when autovacuum comes: the next job's plans depend on them."""
    if result.written and await people_store.refresh_statistics_if_stale(work.conn):
        log.info("planner statistics of accounts and people refreshed for tenant %s",
                 work.tenant_id)


async def refresh_statistics(db: Database) -> None:
    """After a bulk write grew accounts and people: fresh planner statistics (the system's)."""
    async with db.system() as conn:
        await people_store.refresh_statistics(conn)


async def upsert_people(work: UnitOfWork, items: Sequence[Mapping[str, Any]]
                        ) -> BulkResult[people_store.Person]:
    result = await _bulk(work.conn, work.tenant_id, items, person_problems,
                         people_store.upsert_people, "PERSON")
    await _statistics_kept_up(work, result)
    return result

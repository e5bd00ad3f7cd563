"""Accounts: bulk upsert keyed by external id with hierarchy checks, lookups and keyset lists."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.domain.hierarchy import creates_cycle
from service.domain.problems import Problem
from service.infra.db import Connection
from service.store.account_lists import AccountList, membership_sql
from service.store.paging import Page, group_pages, page_by_name
from service.store.row_tallies import tally_sql
from service.store.rows import converter
from service.store.sql import SqlParams, like_pattern
from service.store.upsert import Column, run_upsert, upsert_sql


@dataclass(frozen=True)
class Account:
    tenant_id: UUID
    id: UUID
    external_id: str
    name: str
    parent_id: UUID | None
    industry: str | None
    region: str | None
    country: str | None
    annual_revenue: Decimal | None
    employee_count: int | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


COLUMNS = (
    "tenant_id, id, external_id, name, parent_id, industry, region, country, annual_revenue, "
    "employee_count, attributes, created_at, updated_at"
)
_FIELDS = [f.strip() for f in COLUMNS.split(",")]


account_from = converter(Account)


_UPSERT = upsert_sql(
    "accounts",
    [
        Column("id", "id", "uuid"),
        Column("name", "name"),
        Column("parentId", "parent_id", "uuid"),
        Column("industry", "industry"),
        Column("region", "region"),
        Column("country", "country"),
        Column("annualRevenue", "annual_revenue", "numeric"),
        Column("employeeCount", "employee_count", "integer"),
        Column("attributes", "attributes", "json"),
    ],
)

_ANCESTRY = """
WITH RECURSIVE up AS (
    SELECT id, external_id, parent_id FROM accounts
     WHERE tenant_id = $1 AND external_id = ANY($2::text[])
    UNION
    SELECT a.id, a.external_id, a.parent_id
      FROM accounts a JOIN up ON a.tenant_id = $1 AND a.id = up.parent_id
)
SELECT up.id, up.external_id, p.external_id AS parent_external_id
  FROM up LEFT JOIN accounts p ON p.tenant_id = $1 AND p.id = up.parent_id
"""


async def upsert_accounts(
    conn: Connection, tenant_id: UUID, items: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, Account], dict[int, Problem]]:
    """Write the items (already checked one by one); returns written accounts and problems by
    input index. An item whose parent is unknown or that would close a loop is not written."""
    wanted = {i["externalId"] for i in items} | {
        i["parentExternalId"] for i in items if i.get("parentExternalId")
    }
    rows = await conn.fetch(_ANCESTRY, tenant_id, sorted(wanted))
    existing_id = {r["external_id"]: r["id"] for r in rows}
    parent_of: dict[str, str | None] = {r["external_id"]: r["parent_external_id"] for r in rows}

    problems: dict[int, Problem] = {}
    pending = dict(enumerate(items))
    # Rejecting one item can orphan another that named it as parent: repeat until stable.
    while True:
        batch_ids = {item["externalId"] for item in pending.values()}
        graph = dict(parent_of)
        for item in pending.values():
            if "parentExternalId" in item:
                graph[item["externalId"]] = item["parentExternalId"] or None
        rejected = {}
        for index, item in pending.items():
            parent = item.get("parentExternalId")
            if parent and parent not in existing_id and parent not in batch_ids:
                rejected[index] = Problem(("parentExternalId",), "UNKNOWN_PARENT",
                                          f"no account has externalId {parent!r}")
            elif creates_cycle(item["externalId"], graph):
                rejected[index] = Problem(("parentExternalId",), "CYCLE",
                                          "this parent would make the account its own ancestor")
        if not rejected:
            break
        problems |= rejected
        for index in rejected:
            del pending[index]

    ids = {item["externalId"]: existing_id.get(item["externalId"]) or uuid.uuid4()
           for item in pending.values()}
    payload = []
    for item in pending.values():
        record = {k: v for k, v in item.items() if k not in ("parentExternalId",)}
        record["id"] = str(ids[item["externalId"]])
        if "parentExternalId" in item:
            parent = item["parentExternalId"]
            parent_id = (existing_id.get(parent) or ids.get(parent)) if parent else None
            record["parentId"] = str(parent_id) if parent_id else None
        payload.append(record)
    written: dict[int, Account] = {}
    results = await run_upsert(conn, _UPSERT, tenant_id, payload) if payload else []
    for index, row in zip(pending, results, strict=True):
        if row["id"] is None:
            problems[index] = Problem(("externalId",), "CONFLICT",
                                      "written by another call at the same moment; retry")
        else:
            written[index] = account_from(row)
    return written, problems


async def accounts_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, Account]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM accounts WHERE id = ANY($1)", ids)
    return {r["id"]: account_from(r) for r in rows}


async def account_by_external_id(
    conn: Connection, tenant_id: UUID, external_id: str
) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM accounts WHERE tenant_id = $1 AND external_id = $2",
        tenant_id, external_id,
    )
    return account_from(row) if row else None


@dataclass(frozen=True)
class AccountFilter:
    search: str | None = None
    industries: Sequence[str] = ()
    regions: Sequence[str] = ()
    countries: Sequence[str] = ()
    parent_ids: Sequence[UUID] = ()
    top_level_only: bool = False
    account_list: AccountList | None = None  # only the accounts in this list


def filter_sql(tenant_id: UUID, f: AccountFilter, params: SqlParams, alias: str = "a") -> str:
    clauses = [f"{alias}.tenant_id = {params.add(tenant_id)}"]
    if f.account_list is not None:
        clauses.append(membership_sql(f.account_list, params, alias))
    if f.search:
        pattern = params.add(like_pattern(f.search))
        clauses.append(f"({alias}.name ILIKE {pattern} OR {alias}.external_id ILIKE {pattern})")
    for values, column in ((f.industries, "industry"), (f.regions, "region"),
                           (f.countries, "country")):
        if values:
            wanted = params.add([v.lower() for v in values])
            clauses.append(f"lower({alias}.{column}) = ANY({wanted}::text[])")
    if f.parent_ids:
        clauses.append(f"{alias}.parent_id = ANY({params.add(list(f.parent_ids))}::uuid[])")
    if f.top_level_only:
        clauses.append(f"{alias}.parent_id IS NULL")
    return " AND ".join(clauses)


async def list_accounts(
    conn: Connection, tenant_id: UUID, f: AccountFilter, *, limit: int,
    after: tuple[str, UUID] | None,
) -> Page[Account]:
    """The tenant's accounts matching `f`, ordered by name (case-insensitive), then id."""
    params = SqlParams()
    where = filter_sql(tenant_id, f, params)
    return await page_by_name(
        conn, table="accounts", alias="a",
        columns=", ".join("a." + c for c in _FIELDS), where=where,
        params=params, convert=account_from, limit=limit, after=after,
        count=tally_sql("accounts", "$1") if f == AccountFilter() else None)


async def children_pages(
    conn: Connection, tenant_id: UUID, parent_ids: list[UUID], limit: int
) -> dict[UUID, Page[Account]]:
    """The first `limit` children of each parent, with each one's count, in one statement
    (both from the index, migration 0017)."""
    rows = await conn.fetch(
        f"""SELECT p.parent, n.total, {', '.join('c.' + f for f in _FIELDS)}
              FROM unnest($2::uuid[]) AS p (parent)
              CROSS JOIN LATERAL (
                  SELECT count(*) AS total FROM accounts a
                   WHERE a.tenant_id = $1 AND a.parent_id = p.parent) n
              LEFT JOIN LATERAL (
                  SELECT a.* FROM accounts a
                   WHERE a.tenant_id = $1 AND a.parent_id = p.parent
                   ORDER BY lower(a.name), a.id LIMIT $3) c ON true""",
        tenant_id, parent_ids, limit,
    )
    return group_pages(rows, parent_ids, "parent", account_from, limit,
                       counted_only=lambda row: row["id"] is None)


async def has_accounts(conn: Connection, tenant_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE tenant_id = $1)", tenant_id))


async def top_level_account_ids(conn: Connection, tenant_id: UUID, limit: int) -> list[UUID]:
    """The first `limit` accounts without a parent, by name."""
    rows = await conn.fetch(
        "SELECT id FROM accounts WHERE tenant_id = $1 AND parent_id IS NULL ORDER BY name "
        "LIMIT $2", tenant_id, limit)
    return [r["id"] for r in rows]


async def descends_from(conn: Connection, tenant_id: UUID, account_id: UUID,
                        ancestor_id: UUID) -> bool:
    """Whether `ancestor_id` is above `account_id` in the account hierarchy (parents are
    checked for loops when written; the depth bound guards against one anyway)."""
    found: bool = await conn.fetchval(
        """WITH RECURSIVE up AS (
               SELECT parent_id, 1 AS depth FROM accounts WHERE tenant_id = $1 AND id = $2
               UNION ALL
               SELECT a.parent_id, up.depth + 1
                 FROM accounts a JOIN up ON a.tenant_id = $1 AND a.id = up.parent_id
                WHERE up.depth < 1000)
           SELECT EXISTS (SELECT 1 FROM up WHERE parent_id = $3)""",
        tenant_id, account_id, ancestor_id)
    return found

"""People: bulk upsert keyed by external id (one statement), lookups and keyset lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from service.domain.problems import Problem
from service.infra.db import Connection
from service.store.paging import Page, counted_page, group_pages
from service.store.row_tallies import tally_sql
from service.store.rows import converter
from service.store.sql import SqlParams, like_pattern
from service.store.upsert import Column, run_upsert, upsert_sql


@dataclass(frozen=True)
class Person:
    tenant_id: UUID
    id: UUID
    external_id: str
    account_id: UUID
    email: str | None
    first_name: str | None
    last_name: str | None
    job_title: str | None
    department: str | None
    seniority: str | None
    city: str | None
    country: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def condition_record(self) -> dict[str, Any]:
        """The person as the condition engine sees it (attribute names as in the API)."""
        return {
            "externalId": self.external_id, "email": self.email, "firstName": self.first_name,
            "lastName": self.last_name, "jobTitle": self.job_title,
            "department": self.department, "seniority": self.seniority, "city": self.city,
            "country": self.country, "attributes": self.attributes,
        }


FIELDS = [
    "tenant_id", "id", "external_id", "account_id", "email", "first_name", "last_name",
    "job_title", "department", "seniority", "city", "country", "attributes", "created_at",
    "updated_at",
]
COLUMNS = ", ".join(FIELDS)


person_from = converter(Person)


_UPSERT = upsert_sql(
    "people",
    [
        Column("accountExternalId", "account_id", source="i.account_id"),
        Column("email", "email"),
        Column("firstName", "first_name"),
        Column("lastName", "last_name"),
        Column("jobTitle", "job_title"),
        Column("department", "department"),
        Column("seniority", "seniority"),
        Column("city", "city"),
        Column("country", "country"),
        Column("attributes", "attributes", "json"),
    ],
    keys=", e.item ->> 'accountExternalId' AS account_external_id",
    input_extra=", a.id AS account_id",
    input_join="LEFT JOIN accounts a "
    "ON a.tenant_id = $1 AND a.external_id = x.account_external_id",
    ready="i.account_id IS NOT NULL",
)


async def upsert_people(
    conn: Connection, tenant_id: UUID, items: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, Person], dict[int, Problem]]:
    """Write the items (already checked one by one) in one statement; people whose account is
    unknown are not written."""
    written: dict[int, Person] = {}
    problems: dict[int, Problem] = {}
    rows = await run_upsert(conn, _UPSERT, tenant_id, [dict(i) for i in items])
    for index, (item, row) in enumerate(zip(items, rows, strict=True)):
        if not row["ready"]:
            problems[index] = Problem(
                ("accountExternalId",), "UNKNOWN_ACCOUNT",
                f"no account has externalId {item['accountExternalId']!r}",
            )
        elif row["id"] is None:
            problems[index] = Problem(("externalId",), "CONFLICT",
                                      "written by another call at the same moment; retry")
        else:
            written[index] = person_from(row)
    return written, problems


async def refresh_statistics(conn: Connection) -> None:
    """Fresh planner statistics of accounts and people, for a bulk import that grew them
    (migration 0035; as the system role)."""
    await conn.execute("SELECT analyze_catalogue()")


async def refresh_statistics_if_stale(conn: Connection) -> bool:
    """In a tenant's transaction after a bulk write: fresh planner statistics when its rows
    outgrew their estimate tenfold, at most once a minute (migration 0037). Whether it
    analyzed."""
    return bool(await conn.fetchval("SELECT analyze_catalogue_if_stale()"))


async def people_by_ids(conn: Connection, ids: list[UUID]) -> dict[UUID, Person]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM people WHERE id = ANY($1)", ids)
    return {r["id"]: person_from(r) for r in rows}


async def person_by_external_id(conn: Connection, tenant_id: UUID, external_id: str
                                ) -> Person | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM people WHERE tenant_id = $1 AND external_id = $2",
        tenant_id, external_id)
    return person_from(row) if row else None


@dataclass(frozen=True)
class PersonFilter:
    search: str | None = None
    account_ids: Sequence[UUID] = ()
    job_title: str | None = None
    departments: Sequence[str] = ()
    seniorities: Sequence[str] = ()
    countries: Sequence[str] = ()


_ORDER = "lower(coalesce(p.last_name, '')), lower(coalesce(p.first_name, '')), p.id"
_COLUMNS = ", ".join("p." + f for f in FIELDS)


def filter_sql(tenant_id: UUID, f: PersonFilter, params: SqlParams) -> str:
    clauses = [f"p.tenant_id = {params.add(tenant_id)}"]
    if f.search:
        pattern = params.add(like_pattern(f.search))
        clauses.append(
            f"(p.first_name ILIKE {pattern} OR p.last_name ILIKE {pattern} OR p.email ILIKE "
            f"{pattern} OR p.external_id ILIKE {pattern} OR "
            f"(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')) ILIKE {pattern})"
        )
    if f.account_ids:
        clauses.append(f"p.account_id = ANY({params.add(list(f.account_ids))}::uuid[])")
    if f.job_title:
        clauses.append(f"p.job_title ILIKE {params.add(like_pattern(f.job_title))}")
    for values, column in ((f.departments, "department"), (f.seniorities, "seniority"),
                           (f.countries, "country")):
        if values:
            wanted = params.add([v.lower() for v in values])
            clauses.append(f"lower(p.{column}) = ANY({wanted}::text[])")
    return " AND ".join(clauses)


def sort_key(person: Person) -> tuple[str, str, UUID]:
    return (person.last_name or "", person.first_name or "", person.id)


async def list_people(
    conn: Connection, tenant_id: UUID, f: PersonFilter, *, limit: int,
    after: tuple[str, str, UUID] | None,
) -> Page[Person]:
    """The tenant's people matching `f`, by last then first name (case-insensitive), then id."""
    params = SqlParams()
    where = filter_sql(tenant_id, f, params)
    def past(params: SqlParams) -> str:
        assert after is not None
        last, first, last_id = (params.add(after[0]), params.add(after[1]),
                                params.add(after[2]))
        return f"({_ORDER}) > (lower({last}), lower({first}), {last_id}::uuid)"

    rows, has_next, total = await counted_page(
        conn, columns=_COLUMNS, source="people p", where=where, params=params,
        after=past if after is not None else None, order=_ORDER, limit=limit,
        count=tally_sql("people", "$1") if f == PersonFilter() else None)
    return Page([person_from(r) for r in rows], has_next, total)


async def people_pages_by_account(
    conn: Connection, tenant_id: UUID, account_ids: list[UUID], limit: int
) -> dict[UUID, Page[Person]]:
    """The first `limit` people of each account, with each one's count, in one statement:
    both read in name order from the index (migration 0017), not every person of the
    account."""
    rows = await conn.fetch(
        f"""SELECT q.account, n.total, {', '.join('c.' + f for f in FIELDS)}
              FROM unnest($2::uuid[]) AS q (account)
              CROSS JOIN LATERAL (
                  SELECT count(*) AS total FROM people p
                   WHERE p.tenant_id = $1 AND p.account_id = q.account) n
              LEFT JOIN LATERAL (
                  SELECT p.* FROM people p
                   WHERE p.tenant_id = $1 AND p.account_id = q.account
                   ORDER BY {_ORDER} LIMIT $3) c ON true""",
        tenant_id, account_ids, limit,
    )
    return group_pages(rows, account_ids, "account", person_from, limit,
                       counted_only=lambda row: row["id"] is None)

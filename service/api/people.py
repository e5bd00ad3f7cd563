"""People through GraphQL: the Person type, browsing, and bulk upsert."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay
from strawberry.scalars import JSON

from service.api.accounts import Account
from service.api.engagement import PersonActivity, person_activities
from service.api.errors import UserError
from service.api.execution.lookahead import (
    existing,
    lean,
    load_ahead,
    node_arguments,
    node_paths,
    object_class,
    ready,
    row_field,
    selects,
    shared,
)
from service.api.inputs import bulk_upsert
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.domain.records import MAX_BATCH
from service.store import buying_groups as group_store
from service.store import people as people_store
from service.usecases.catalogue import upsert_people as bulk_upsert_people

if TYPE_CHECKING:
    from service.api.buying_groups import BuyingGroupMember


def person_key(raw: list[Any]) -> tuple[str, str, UUID]:
    last, first, id_ = raw
    if not isinstance(last, str) or not isinstance(first, str):
        raise ValueError("name")
    return last, first, UUID(id_)


@lean("Person", "fullName")
def _full_name(person: Person, context: Any = None) -> str:
    first, last = person.row.first_name, person.row.last_name
    return f"{first} {last}" if first and last else first or last or ""


@strawberry.type(description="A person at an account; can be a member of many buying groups.")
class Person(relay.Node):
    # The columns are read from the row (lookahead.row_field): a page shows hundreds of people.
    id: relay.NodeID[str]
    external_id: str = row_field("Person", "external_id",
                                 description="The activity source's lead id.")
    email: str | None = row_field("Person", "email")
    first_name: str | None = row_field("Person", "first_name")
    last_name: str | None = row_field("Person", "last_name")
    job_title: str | None = row_field("Person", "job_title")
    department: str | None = row_field("Person", "department")
    seniority: str | None = row_field("Person", "seniority")
    city: str | None = row_field("Person", "city")
    country: str | None = row_field("Person", "country")
    attributes: JSON = row_field("Person", "attributes")
    created_at: datetime = row_field("Person", "created_at")
    updated_at: datetime = row_field("Person", "updated_at")
    row: strawberry.Private[people_store.Person]
    # False on a page of people whose document selects no activities totalCount (people's
    # look_ahead): their pages of activities are read without counts.
    count_activities: strawberry.Private[bool] = True

    @classmethod
    def from_row(cls, row: people_store.Person) -> Person:
        return cls(id=str(row.id), row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.person, node_ids), cls.from_row)

    @strawberry.field
    def full_name(self) -> str:
        return _full_name(self)

    @strawberry.field
    def account(self, info: strawberry.Info) -> Account:
        return _person_account(self, info.context)


    @strawberry.field(description="The buying groups this person is (or was) a member of "
                      "(the first `first`, at most 100).")
    def buying_group_memberships(
        self, info: strawberry.Info, include_removed: bool = False, first: int = 20
    ) -> list[Annotated[BuyingGroupMember, strawberry.lazy("service.api.buying_groups")]]:
        return _memberships(self, info.context, include_removed, first)

    @strawberry.field(description="Activity from the activity log, newest first.")
    def activities(
        self, info: strawberry.Info, first: int = 20, after: str | None = None,
        since: datetime | None = None,
    ) -> Connection[PersonActivity]:
        return _activities(self, info.context, first, after, since)

    @classmethod
    async def browse(cls, context: Any, f: people_store.PersonFilter, first: int,
                     after: str | None, info: strawberry.Info | None = None
                     ) -> Connection[Person]:
        """A page of people; the selection of the connection `info` is for says what to load
        ahead for them."""
        limit = check_first(first, context.settings.max_page_size)
        cursor = decode_cursor(after, person_key)
        async with context.read() as conn:
            page = await people_store.list_people(
                conn, context.tenant_principal.tenant_id, f, limit=limit, after=cursor)
        counted = True
        if info is not None:
            counted = await look_ahead(context, page.items, info)
        connection = to_connection(page, cls.from_row, people_store.sort_key,
                                   has_previous=cursor is not None)
        if not counted:
            for person in connection.nodes:
                person.count_activities = False
        return connection


async def look_ahead(context: Any, rows: list[people_store.Person], info: strawberry.Info
                     ) -> bool:
    """Loads at once what a page of people's selected nested fields will ask for: their
    accounts, their memberships (with the groups and roles those show) and the first pages of
    their activities in the sizes asked for, one statement per kind. Whether those pages are
    counted: only when the document selects an activities totalCount somewhere (a count of a
    person's activities `since` a moment walks their rows since then; a count of all of them
    comes from the tallies either way)."""
    loaders, paths = context.loaders, node_paths(info)
    counted = selects(info, "activities", "totalCount")
    loads: list[Awaitable[Any]] = []
    if "account" in paths:
        loads.append(load_ahead(loaders.account, {p.account_id for p in rows}))
    if "buyingGroupMemberships" in paths:
        loads.append(_memberships_ahead(context, rows, paths))
    for arguments in node_arguments(info, "activities"):
        first, since = arguments.get("first"), arguments.get("since")
        if arguments.get("after") is None and isinstance(first, int) and \
                0 <= first <= context.settings.max_page_size:
            loads.append(load_ahead(loaders.lead_activities,
                                    [(p.external_id, first, since, counted) for p in rows]))
    if loads:
        await asyncio.gather(*loads)
    return counted


async def _memberships_ahead(context: Any, rows: list[people_store.Person],
                             paths: frozenset[str]) -> None:
    """The people's memberships, with the groups and roles selected of them: one statement for
    all three (primed into their loaders), or what is missing once the memberships are held."""
    loaders = context.loaders
    groups = "buyingGroupMemberships.buyingGroup" in paths
    roles = "buyingGroupMemberships.role" in paths
    cached = loaders.memberships_of_person.cache_map
    missing = [p.id for p in rows if cached.get(p.id) is None]
    if missing:
        async with context.read() as conn:
            found = await group_store.memberships_of_people(conn, list(dict.fromkeys(missing)),
                                                            groups=groups, roles=roles)
        loaders.memberships_of_person.prime_many(found.members)
        loaders.buying_group.prime_many(found.groups)
        loaders.role.prime_many(found.roles)
    held = await load_ahead(loaders.memberships_of_person, [p.id for p in rows])
    members = [m for memberships in held for m in memberships]
    more = []
    if groups:
        more.append(load_ahead(loaders.buying_group, {m.buying_group_id for m in members}))
    if roles:
        more.append(load_ahead(loaders.role, {m.role_id for m in members}))
    await asyncio.gather(*more)


@lean("Person", "account")
def _person_account(person: Person, context: Any) -> Account:
    return shared(context.loaders.account, person.row.account_id, _account)


_account = existing(Account.from_row)  # people cascade with their account


@lean("Person", "buyingGroupMemberships")
def _memberships(person: Person, context: Any, include_removed: bool = False, first: int = 20
                 ) -> list[BuyingGroupMember]:
    member = object_class("BuyingGroupMember")
    count = check_first(first, context.settings.max_page_size)

    def memberships(rows: list[Any]) -> list[BuyingGroupMember]:
        kept = [m for m in rows if include_removed or not m.is_removed]
        return [member.from_row(m) for m in kept[:count]]

    return ready(context.loaders.memberships_of_person, person.row.id, memberships)


@lean("Person", "activities")
def _activities(person: Person, context: Any, first: int = 20, after: str | None = None,
                since: datetime | None = None) -> Connection[PersonActivity]:
    return person_activities(context, person.row.external_id, first, after, since,
                             counted=person.count_activities)


@strawberry.input
class PersonFilterInput:
    search: str | None = strawberry.field(
        default=None, description="Part of the name, e-mail or external id, case-insensitive."
    )
    account_ids: list[relay.GlobalID] | None = None
    job_title: str | None = strawberry.field(
        default=None, description="Part of the job title, case-insensitive."
    )
    departments: list[str] | None = None
    seniorities: list[str] | None = None
    countries: list[str] | None = None


def to_person_filter(f: PersonFilterInput | None) -> people_store.PersonFilter:
    if f is None:
        return people_store.PersonFilter()
    return people_store.PersonFilter(
        search=f.search,
        account_ids=[decode_id(a, "Account", ["filter", "accountIds", str(i)])
                     for i, a in enumerate(f.account_ids or [])],
        job_title=f.job_title, departments=f.departments or (),
        seniorities=f.seniorities or (), countries=f.countries or (),
    )


async def people(
    info: strawberry.Info,
    filter: PersonFilterInput | None = None,
    first: int = 20,
    after: str | None = None,
) -> Connection[Person]:
    return await Person.browse(info.context, to_person_filter(filter), first, after, info)


@strawberry.input(description="A person keyed by externalId; fields left out keep their value.")
class PersonInput:
    external_id: str
    account_external_id: str
    email: str | None = UNSET
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    job_title: str | None = UNSET
    department: str | None = UNSET
    seniority: str | None = UNSET
    city: str | None = UNSET
    country: str | None = UNSET
    attributes: JSON | None = strawberry.field(
        default=UNSET, description="Free attributes (a JSON object); replaces the stored object."
    )


@strawberry.input
class UpsertPeopleInput:
    people: list[PersonInput]


@strawberry.type
class UpsertPeoplePayload:
    people: list[Person] = strawberry.field(
        description="The people written, in input order (items with userErrors are left out)."
    )
    user_errors: list[UserError]


@strawberry.type
class PersonMutations:
    @strawberry.mutation(
        permission_classes=[RequireWrite],
        description=f"Create or update up to {MAX_BATCH} people by externalId. Valid items are "
        "written even when others have userErrors.",
    )
    async def upsert_people(
        self, info: strawberry.Info, input: UpsertPeopleInput
    ) -> UpsertPeoplePayload:
        rows, errors = await bulk_upsert(info, input.people, "people", bulk_upsert_people)
        return UpsertPeoplePayload(people=[Person.from_row(r) for r in rows], user_errors=errors)

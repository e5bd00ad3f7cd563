"""Accounts through GraphQL: the Account type, browsing, and bulk upsert."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry import UNSET, relay
from strawberry.scalars import JSON

from service.api.errors import ClientError, ErrorCode, UserError
from service.api.execution.lookahead import (
    lean,
    load_ahead,
    node_arguments,
    node_paths,
    object_class,
    ready,
    row_field,
    shared,
)
from service.api.inputs import bulk_upsert
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.domain.records import MAX_BATCH
from service.store import accounts as account_store
from service.store import people as people_store
from service.store.paging import Page
from service.store.people import sort_key as people_sort_key
from service.usecases.catalogue import upsert_accounts as bulk_upsert_accounts

if TYPE_CHECKING:
    from service.api.buying_groups import BuyingGroup
    from service.api.people import Person


def name_id_key(raw: list[Any]) -> tuple[str, UUID]:
    name, id_ = raw
    if not isinstance(name, str):
        raise ValueError("name")
    return name, UUID(id_)


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


@strawberry.type(description="A company (or a division of one) that people belong to.")
class Account(relay.Node):
    # The columns are read from the row (lookahead.row_field): a page shows hundreds.
    id: relay.NodeID[str]
    external_id: str = row_field("Account", "external_id")
    name: str = row_field("Account", "name")
    industry: str | None = row_field("Account", "industry")
    region: str | None = row_field("Account", "region")
    country: str | None = row_field("Account", "country")
    annual_revenue: float | None = row_field("Account", "annual_revenue", convert=_float)
    employee_count: int | None = row_field("Account", "employee_count")
    attributes: JSON = row_field("Account", "attributes")
    created_at: datetime = row_field("Account", "created_at")
    updated_at: datetime = row_field("Account", "updated_at")
    row: strawberry.Private[account_store.Account]

    @classmethod
    def from_row(cls, row: account_store.Account) -> Account:
        return cls(id=str(row.id), row=row)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.account, node_ids), cls.from_row)

    @strawberry.field(description="The corporate parent, if any.")
    def parent(self, info: strawberry.Info) -> Account | None:
        return _parent(self, info.context)

    @strawberry.field(description="Direct subsidiaries or divisions, by name.")
    def children(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> Connection[Account]:
        return _children(self, info.context, first, after)

    @strawberry.field(description="The people of this account, by last then first name.")
    def people(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> Connection[Annotated[Person, strawberry.lazy("service.api.people")]]:
        return _people(self, info.context, first, after)

    @strawberry.field(description="The account's buying groups, one per solution interest "
                      "(the first `first`, at most 100).")
    def buying_groups(
        self, info: strawberry.Info, first: int = 20
    ) -> list[Annotated[BuyingGroup, strawberry.lazy("service.api.buying_groups")]]:
        return _buying_groups(self, info.context, first)


@lean("Account", "people")
def _people(account: Account, context: Any, first: int = 20, after: str | None = None
            ) -> Connection[Person]:
    person = object_class("Person")
    limit = check_first(first, context.settings.max_page_size)
    if after is None:  # the first pages of a page of accounts come in one statement
        return ready(context.loaders.account_people, (account.row.id, limit),
                     lambda page: to_connection(page, person.from_row, people_sort_key,
                                                has_previous=False))
    return cast(Connection[Person], person.browse(
        context, people_store.PersonFilter(account_ids=[account.row.id]), first, after))


@lean("Account", "buyingGroups")
def _buying_groups(account: Account, context: Any, first: int = 20) -> list[BuyingGroup]:
    group = object_class("BuyingGroup")
    count = check_first(first, context.settings.max_page_size)
    return ready(context.loaders.groups_of_account, account.row.id,
                 lambda rows: [group.from_row(r) for r in rows[:count]])


@lean("Account", "parent")
def _parent(account: Account, context: Any) -> Account | None:
    if account.row.parent_id is None:
        return None
    return shared(context.loaders.account, account.row.parent_id, _account)


def _account(row: account_store.Account | None) -> Account | None:
    return Account.from_row(row) if row else None


@lean("Account", "children")
def _children(account: Account, context: Any, first: int = 20, after: str | None = None
              ) -> Connection[Account]:
    limit = check_first(first, context.settings.max_page_size)
    if after is None:  # the first pages of a page of accounts come in one statement
        return ready(context.loaders.account_children, (account.row.id, limit), _first_children)
    return cast(Connection[Account], browse_accounts(
        context, account_store.AccountFilter(parent_ids=[account.row.id]), first, after))


def _first_children(page: Page[account_store.Account]) -> Connection[Account]:
    return to_connection(page, Account.from_row, _sort_key, has_previous=False)


async def look_ahead(context: Any, rows: list[account_store.Account], info: strawberry.Info
                     ) -> None:
    """Loads at once what a page of accounts' selected nested fields will ask for: parents,
    buying groups, and the first pages of people and children in the sizes asked for."""
    loaders, loads, paths = context.loaders, [], node_paths(info)
    if "parent" in paths:
        loads.append(load_ahead(loaders.account, {a.parent_id for a in rows
                                                if a.parent_id is not None}))
    if "buyingGroups" in paths:
        loads.append(load_ahead(loaders.groups_of_account, [a.id for a in rows]))
    for field, loader in (("people", loaders.account_people),
                          ("children", loaders.account_children)):
        for arguments in node_arguments(info, field):
            first = arguments.get("first")
            if arguments.get("after") is None and isinstance(first, int) and \
                    0 <= first <= context.settings.max_page_size:
                loads.append(load_ahead(loader, [(a.id, first) for a in rows]))
    if loads:
        await asyncio.gather(*loads)


def _sort_key(row: account_store.Account) -> tuple[str, UUID]:
    return (row.name, row.id)


@strawberry.input
class AccountFilterInput:
    search: str | None = strawberry.field(
        default=None, description="Part of the name or external id, case-insensitive."
    )
    industries: list[str] | None = None
    regions: list[str] | None = None
    countries: list[str] | None = None
    parent_id: relay.GlobalID | None = None
    top_level_only: bool = False


def to_account_filter(f: AccountFilterInput | None) -> account_store.AccountFilter:
    if f is None:
        return account_store.AccountFilter()
    parent_ids = [decode_id(f.parent_id, "Account", ["filter", "parentId"])] if f.parent_id else []
    return account_store.AccountFilter(
        search=f.search, industries=f.industries or (), regions=f.regions or (),
        countries=f.countries or (), parent_ids=parent_ids, top_level_only=f.top_level_only,
    )


async def browse_accounts(
    context: Any, f: account_store.AccountFilter, first: int, after: str | None,
    info: strawberry.Info | None = None,
) -> Connection[Account]:
    """A page of accounts; the selection of the connection `info` is for says what to load
    ahead for them."""
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, name_id_key)
    async with context.read() as conn:
        page = await account_store.list_accounts(
            conn, context.tenant_principal.tenant_id, f, limit=limit, after=cursor)
    if info is not None:
        await look_ahead(context, page.items, info)
    return to_connection(page, Account.from_row, _sort_key, has_previous=cursor is not None)


async def accounts(
    info: strawberry.Info,
    filter: AccountFilterInput | None = None,
    first: int = 20,
    after: str | None = None,
) -> Connection[Account]:
    return await browse_accounts(info.context, to_account_filter(filter), first, after, info)


async def account(
    info: strawberry.Info, id: relay.GlobalID | None = None, external_id: str | None = None
) -> Account | None:
    if (id is None) == (external_id is None):
        raise ClientError("Give exactly one of `id` and `externalId`.", ErrorCode.BAD_USER_INPUT)
    context = info.context
    if id is not None:
        if id.type_name != "Account":
            return None
        found = (await load_nodes(context.loaders.account, [id.node_id]))[0]
        return Account.from_row(found) if found else None
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        row = await account_store.account_by_external_id(conn, tenant_id, external_id or "")
    return Account.from_row(row) if row else None


@strawberry.input(description="An account keyed by externalId; fields left out keep their value.")
class AccountInput:
    external_id: str
    name: str
    parent_external_id: str | None = strawberry.field(
        default=UNSET, description="The parent's externalId; null detaches the account."
    )
    industry: str | None = UNSET
    region: str | None = UNSET
    country: str | None = UNSET
    annual_revenue: float | None = UNSET
    employee_count: int | None = UNSET
    attributes: JSON | None = strawberry.field(
        default=UNSET, description="Free attributes (a JSON object); replaces the stored object."
    )


@strawberry.input
class UpsertAccountsInput:
    accounts: list[AccountInput]


@strawberry.type
class UpsertAccountsPayload:
    accounts: list[Account] = strawberry.field(
        description="The accounts written, in input order (items with userErrors are left out)."
    )
    user_errors: list[UserError]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        permission_classes=[RequireWrite],
        description=f"Create or update up to {MAX_BATCH} accounts by externalId. Valid items "
        "are written even when others have userErrors.",
    )
    async def upsert_accounts(
        self, info: strawberry.Info, input: UpsertAccountsInput
    ) -> UpsertAccountsPayload:
        rows, errors = await bulk_upsert(info, input.accounts, "accounts", bulk_upsert_accounts)
        return UpsertAccountsPayload(accounts=[Account.from_row(r) for r in rows],
                                     user_errors=errors)

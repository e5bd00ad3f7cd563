"""Account lists (audiences) through GraphQL."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET, relay

from service.api.accounts import Account, AccountFilterInput, browse_accounts, to_account_filter
from service.api.conditions import ConditionGroupInput, ConditionGroupType
from service.api.errors import UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.role_templates import name_key
from service.store import account_lists as list_store
from service.usecases import account_lists as lists
from service.usecases.change import Change


@strawberry.enum
class AccountListKind(enum.Enum):
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


@strawberry.type(description="An audience: named accounts (STATIC) or a filter (DYNAMIC).")
class AccountList(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    kind: AccountListKind
    filter: ConditionGroupType | None = strawberry.field(
        description="For DYNAMIC lists: the rules over account fields, evaluated when used."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[list_store.AccountList]

    @classmethod
    def from_row(cls, row: list_store.AccountList) -> AccountList:
        return cls(
            id=str(row.id), name=row.name, description=row.description,
            kind=AccountListKind(row.kind),
            filter=ConditionGroupType.from_domain(row.filter) if row.filter else None,
            created_at=row.created_at, updated_at=row.updated_at, row=row,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.account_list, node_ids),
                           cls.from_row)

    @strawberry.field(description="How many accounts the list holds now.")
    async def account_count(self, info: strawberry.Info) -> int:
        count: int = await info.context.loaders.account_list_count.load(self.row)
        return count

    @strawberry.field(description="The accounts in the list, by name.")
    async def accounts(
        self, info: strawberry.Info, filter: AccountFilterInput | None = None, first: int = 20,
        after: str | None = None,
    ) -> Connection[Account]:
        return await browse_accounts(
            info.context, replace(to_account_filter(filter), account_list=self.row), first,
            after, info)


@strawberry.input
class AccountListFilter:
    search: str | None = None
    kind: AccountListKind | None = None


async def account_lists(
    info: strawberry.Info, filter: AccountListFilter | None = None, first: int = 20,
    after: str | None = None,
) -> Connection[AccountList]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, name_key)
    tenant_id = context.tenant_principal.tenant_id
    async with context.read() as conn:
        page = await list_store.list_lists(
            conn, tenant_id, search=filter.search if filter else None,
            kind=filter.kind.value if filter and filter.kind else None, limit=limit,
            after=cursor,
        )
    return to_connection(page, AccountList.from_row, lambda a: (a.name, a.id),
                         has_previous=cursor is not None)


@strawberry.input
class CreateAccountListInput:
    name: str
    kind: AccountListKind
    description: str | None = None
    account_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="STATIC lists: the accounts."
    )
    filter: ConditionGroupInput | None = strawberry.field(
        default=None, description="DYNAMIC lists: rules over name, industry, region, country, "
        "annualRevenue, employeeCount, externalId or attributes.<key>.",
    )


@strawberry.input
class UpdateAccountListInput:
    id: relay.GlobalID
    name: str | None = UNSET
    description: str | None = UNSET
    account_ids: list[relay.GlobalID] | None = strawberry.field(
        default=UNSET, description="STATIC lists: replaces the accounts."
    )
    add_account_ids: list[relay.GlobalID] | None = None
    remove_account_ids: list[relay.GlobalID] | None = None
    filter: ConditionGroupInput | None = strawberry.field(
        default=UNSET, description="DYNAMIC lists: replaces the rules."
    )


@strawberry.input
class DeleteAccountListInput:
    id: relay.GlobalID


@strawberry.type
class AccountListPayload:
    account_list: AccountList | None
    user_errors: list[UserError]


@strawberry.type
class DeleteAccountListPayload:
    deleted_account_list_id: relay.GlobalID | None
    user_errors: list[UserError]


def _ids(ids: Iterable[relay.GlobalID] | None) -> list[UUID | None]:
    """An id of another type reads as no account (NOT_FOUND), as an unknown one does."""
    return [parse_uuid(g.node_id) if g.type_name == "Account" else None for g in ids or []]


def _payload(change: Change[list_store.AccountList]) -> AccountListPayload:
    if change.value is None:
        return AccountListPayload(account_list=None,
                                  user_errors=from_problems(change.problems, "input"))
    return AccountListPayload(account_list=AccountList.from_row(change.value), user_errors=[])


@strawberry.type
class AccountListMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_account_list(
        self, info: strawberry.Info, input: CreateAccountListInput
    ) -> AccountListPayload:
        async with info.context.work(info) as work:
            return _payload(await lists.create_list(
                work, name=input.name, description=input.description, kind=input.kind.value,
                filter=input.filter.raw() if input.filter is not None else None,
                account_ids=_ids(input.account_ids)))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_account_list(
        self, info: strawberry.Info, input: UpdateAccountListInput
    ) -> AccountListPayload:
        list_id = decode_id(input.id, "AccountList", ["input", "id"])
        given_filter = input.filter if input.filter is not UNSET else None
        async with info.context.work(info) as work:
            return _payload(await lists.update_list(
                work, list_id, name=None if input.name is UNSET else (input.name or ""),
                description=None if input.description is UNSET else input.description,
                set_description=input.description is not UNSET,
                set_filter=input.filter is not UNSET,
                filter=given_filter.raw() if given_filter is not None else None,
                accounts=lists.AccountChanges(
                    replace=None if input.account_ids is UNSET else _ids(input.account_ids),
                    add=_ids(input.add_account_ids), remove=_ids(input.remove_account_ids))))

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_account_list(
        self, info: strawberry.Info, input: DeleteAccountListInput
    ) -> DeleteAccountListPayload:
        list_id = decode_id(input.id, "AccountList", ["input", "id"])
        async with info.context.work(info) as work:
            change = await lists.delete_list(work, list_id)
        if change.value is None:
            return DeleteAccountListPayload(deleted_account_list_id=None,
                                            user_errors=from_problems(change.problems, "input"))
        return DeleteAccountListPayload(deleted_account_list_id=input.id, user_errors=[])

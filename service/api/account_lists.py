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
from service.api.errors import ErrorCode, UserError, failed, from_problems, user_error
from service.api.nodes import convert_all, decode_id, load_nodes, parse_uuid
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.api.permissions import RequireWrite
from service.api.role_templates import name_key
from service.api.roles import name_problems
from service.domain.conditions import ACCOUNT_FIELDS, ConditionGroup, validate
from service.infra.db import Connection as Db
from service.store import account_lists as list_store

MAX_STATIC_IDS = 10_000


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


async def _accounts(conn: Db, tenant_id: UUID, ids: list[relay.GlobalID], field: str
                    ) -> tuple[list[UUID], list[UserError]]:
    if len(ids) > MAX_STATIC_IDS:
        return [], [user_error(["input", field], ErrorCode.TOO_MANY_ITEMS,
                               f"at most {MAX_STATIC_IDS} accounts per call")]
    parsed = [parse_uuid(g.node_id) if g.type_name == "Account" else None for g in ids]
    found = await list_store.existing_account_ids(
        conn, tenant_id, [p for p in parsed if p is not None])
    errors = [
        user_error(["input", field, str(i)], ErrorCode.NOT_FOUND, "no such account")
        for i, p in enumerate(parsed) if p not in found
    ]
    return [p for p in parsed if p is not None and p in found], errors


def _filter(value: ConditionGroupInput) -> tuple[ConditionGroup | None, list[UserError]]:
    match, rules = value.raw()
    group, problems = validate(match, rules, ACCOUNT_FIELDS)
    return group, from_problems(problems, "input", "filter")


@strawberry.type
class AccountListMutations:
    @strawberry.mutation(permission_classes=[RequireWrite])
    async def create_account_list(
        self, info: strawberry.Info, input: CreateAccountListInput
    ) -> AccountListPayload:
        errors = name_problems(input.name, ["input", "name"])
        tenant_id = info.context.tenant_principal.tenant_id
        group: ConditionGroup | None = None
        account_ids: list[UUID] = []
        async with info.context.write() as conn:
            if input.kind is AccountListKind.DYNAMIC:
                if input.account_ids:
                    errors.append(user_error(["input", "accountIds"], ErrorCode.INVALID_VALUE,
                                             "a DYNAMIC list takes a filter, not accounts"))
                if input.filter is None:
                    errors.append(user_error(["input", "filter"], ErrorCode.REQUIRED,
                                             "a DYNAMIC list needs a filter"))
                else:
                    group, filter_errors = _filter(input.filter)
                    errors += filter_errors
            else:
                if input.filter is not None:
                    errors.append(user_error(["input", "filter"], ErrorCode.INVALID_VALUE,
                                             "a STATIC list takes accounts, not a filter"))
                account_ids, id_errors = await _accounts(
                    conn, tenant_id, input.account_ids or [], "accountIds")
                errors += id_errors
            if errors:
                return AccountListPayload(account_list=None, user_errors=errors)
            try:
                row = await list_store.create_list(
                    conn, tenant_id, name=input.name.strip(), description=input.description,
                    kind=input.kind.value, filter=group, account_ids=account_ids,
                )
            except list_store.NameTaken:
                return failed(AccountListPayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"an account list named {input.name.strip()!r} exists")
        return AccountListPayload(account_list=AccountList.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def update_account_list(
        self, info: strawberry.Info, input: UpdateAccountListInput
    ) -> AccountListPayload:
        list_id = decode_id(input.id, "AccountList", ["input", "id"])
        tenant_id = info.context.tenant_principal.tenant_id
        errors: list[UserError] = []
        changes: dict[str, Any] = {}
        async with info.context.write() as conn:
            current = (await list_store.lists_by_ids(conn, [list_id])).get(list_id)
            if current is None:
                return failed(AccountListPayload, ["input", "id"], ErrorCode.NOT_FOUND,
                              "no such account list")
            if input.name is not UNSET:
                errors += name_problems(input.name or "", ["input", "name"])
                changes["name"] = (input.name or "").strip()
            if input.description is not UNSET:
                changes["description"] = input.description
            replace: list[UUID] | None = None
            add: list[UUID] = []
            remove: list[UUID] = []
            wants_accounts = (input.account_ids is not UNSET or input.add_account_ids
                              or input.remove_account_ids)
            if current.kind == "DYNAMIC":
                if wants_accounts:
                    errors.append(user_error(["input", "accountIds"], ErrorCode.INVALID_VALUE,
                                             "a DYNAMIC list takes a filter, not accounts"))
                if input.filter is not UNSET:
                    if input.filter is None:
                        errors.append(user_error(["input", "filter"], ErrorCode.REQUIRED,
                                                 "a DYNAMIC list needs a filter"))
                    else:
                        group, filter_errors = _filter(input.filter)
                        errors += filter_errors
                        changes["filter"] = group.to_json() if group else None
            else:
                if input.filter is not UNSET:
                    errors.append(user_error(["input", "filter"], ErrorCode.INVALID_VALUE,
                                             "a STATIC list takes accounts, not a filter"))
                if input.account_ids is not UNSET:
                    replace, more = await _accounts(conn, tenant_id, input.account_ids or [],
                                                    "accountIds")
                    errors += more
                add, more = await _accounts(conn, tenant_id, input.add_account_ids or [],
                                            "addAccountIds")
                errors += more
                remove, more = await _accounts(conn, tenant_id, input.remove_account_ids or [],
                                               "removeAccountIds")
                errors += more
            if errors:
                return AccountListPayload(account_list=None, user_errors=errors)
            try:
                row = await list_store.update_list(conn, current, changes=changes,
                                                   replace_accounts=replace, add=add,
                                                   remove=remove)
            except list_store.NameTaken:
                return failed(AccountListPayload, ["input", "name"], ErrorCode.DUPLICATE,
                               f"an account list named {changes['name']!r} exists")
        return AccountListPayload(account_list=AccountList.from_row(row), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite])
    async def delete_account_list(
        self, info: strawberry.Info, input: DeleteAccountListInput
    ) -> DeleteAccountListPayload:
        list_id = decode_id(input.id, "AccountList", ["input", "id"])
        async with info.context.write() as conn:
            deleted = await list_store.delete_list(conn, list_id)
        if not deleted:
            return DeleteAccountListPayload(deleted_account_list_id=None, user_errors=[
                user_error(["input", "id"], ErrorCode.NOT_FOUND, "no such account list")])
        return DeleteAccountListPayload(deleted_account_list_id=input.id, user_errors=[])

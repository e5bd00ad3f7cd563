"""Account lists, the audiences buying groups are generated for: STATIC ones hold accounts
picked by hand, DYNAMIC ones a filter over the tenant's accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.domain.conditions import ACCOUNT_FIELDS, ConditionGroup, validate
from service.domain.names import name_problems
from service.domain.problems import Problem
from service.store import account_lists as list_store
from service.store.account_lists import AccountList
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_STATIC_IDS = 10_000
# A filter as it comes in: (ALL | ANY, [(attribute, operator, values)]).
RawFilter = tuple[str, Sequence[tuple[str, str, Sequence[str]]]]


@dataclass(frozen=True)
class AccountChanges:
    """What an update does to a STATIC list's accounts (ids None: of another kind)."""

    replace: Sequence[UUID | None] | None = None
    add: Sequence[UUID | None] = ()
    remove: Sequence[UUID | None] = ()

    @property
    def any(self) -> bool:
        return self.replace is not None or bool(self.add) or bool(self.remove)


def _no_accounts_here() -> Problem:
    return Problem(("accountIds",), "INVALID_VALUE", "a DYNAMIC list takes a filter, not accounts")


def _no_filter_here() -> Problem:
    return Problem(("filter",), "INVALID_VALUE", "a STATIC list takes accounts, not a filter")


def _filter(raw: RawFilter | None) -> tuple[ConditionGroup | None, list[Problem]]:
    if raw is None:
        return None, [Problem(("filter",), "REQUIRED", "a DYNAMIC list needs a filter")]
    group, problems = validate(raw[0], [(a, o, list(v)) for a, o, v in raw[1]], ACCOUNT_FIELDS)
    return group, [p.under("filter") for p in problems]


async def _accounts(work: UnitOfWork, ids: Sequence[UUID | None], field: str
                    ) -> tuple[list[UUID], list[Problem]]:
    if len(ids) > MAX_STATIC_IDS:
        return [], [Problem((field,), "TOO_MANY_ITEMS",
                            f"at most {MAX_STATIC_IDS} accounts per call")]
    found = await list_store.existing_account_ids(work.conn, work.tenant_id,
                                                  [i for i in ids if i is not None])
    problems = [Problem((field, i), "NOT_FOUND", "no such account")
                for i, account_id in enumerate(ids) if account_id not in found]
    return [i for i in ids if i is not None and i in found], problems


async def create_list(work: UnitOfWork, *, name: str, description: str | None, kind: str,
                      filter: RawFilter | None, account_ids: Sequence[UUID | None]
                      ) -> Change[AccountList]:
    problems = name_problems(name)
    group: ConditionGroup | None = None
    accounts: list[UUID] = []
    if kind == "DYNAMIC":
        if account_ids:
            problems.append(_no_accounts_here())
        group, filter_problems = _filter(filter)
        problems += filter_problems
    else:
        if filter is not None:
            problems.append(_no_filter_here())
        accounts, id_problems = await _accounts(work, account_ids, "accountIds")
        problems += id_problems
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await list_store.create_list(
            work.conn, work.tenant_id, name=name.strip(), description=description, kind=kind,
            filter=group, account_ids=accounts))
    except list_store.NameTaken:
        return applied(work, refused("name", "DUPLICATE",
                                     f"an account list named {name.strip()!r} exists"))


async def update_list(work: UnitOfWork, list_id: UUID, *, name: str | None = None,
                      description: str | None = None, set_description: bool = False,
                      set_filter: bool = False, filter: RawFilter | None = None,
                      accounts: AccountChanges = AccountChanges()) -> Change[AccountList]:
    """Change a list (None: keep the name); `set_filter` / `set_description`: replace them."""
    current = (await list_store.lists_by_ids(work.conn, [list_id])).get(list_id)
    if current is None:
        return applied(work, refused("id", "NOT_FOUND", "no such account list"))
    problems: list[Problem] = []
    changes: dict[str, Any] = {}
    if name is not None:
        problems += name_problems(name)
        changes["name"] = name.strip()
    if set_description:
        changes["description"] = description
    replace: list[UUID] | None = None
    add: list[UUID] = []
    remove: list[UUID] = []
    if current.kind == "DYNAMIC":
        if accounts.any:
            problems.append(_no_accounts_here())
        if set_filter:
            group, filter_problems = _filter(filter)
            problems += filter_problems
            changes["filter"] = group.to_json() if group else None
    else:
        if set_filter:
            problems.append(_no_filter_here())
        if accounts.replace is not None:
            replace, more = await _accounts(work, accounts.replace, "accountIds")
            problems += more
        add, more = await _accounts(work, accounts.add, "addAccountIds")
        problems += more
        remove, more = await _accounts(work, accounts.remove, "removeAccountIds")
        problems += more
    if problems:
        return applied(work, Change(problems=problems))
    try:
        return Change(await list_store.update_list(work.conn, current, changes=changes,
                                                   replace_accounts=replace, add=add,
                                                   remove=remove))
    except list_store.NameTaken:
        return applied(work, refused("name", "DUPLICATE",
                                     f"an account list named {changes['name']!r} exists"))


async def delete_list(work: UnitOfWork, list_id: UUID) -> Change[UUID]:
    if not await list_store.delete_list(work.conn, list_id):
        return applied(work, refused("id", "NOT_FOUND", "no such account list"))
    return Change(list_id)

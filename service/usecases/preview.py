"""Previewing a role template on an audience before it is published or used: the groups it
would create, their completeness, each role's fill rate and a few example groups with their
members and reasons. Read-only: it runs in a read transaction and writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from service.domain.completeness import Completeness, completeness
from service.domain.conditions import ConditionGroup
from service.domain.membership import MemberScope
from service.domain.preview import Summary, summarise
from service.domain.problems import Problem
from service.domain.templates import Entry, EntryInput, check_entries
from service.infra.db import Connection
from service.store import account_lists as list_store
from service.store import preview as preview_store
from service.store import role_templates as template_store
from service.store import roles as role_store
from service.store.assignments import Evaluation, evaluate_people
from service.store.sql import SqlParams

MAX_SAMPLE = 10


@dataclass(frozen=True)
class SampleMember:
    person_id: UUID
    role_id: UUID
    conditions: ConditionGroup | None
    evaluation: Evaluation | None


@dataclass(frozen=True)
class SampleGroup:
    account_id: UUID
    completeness: Completeness
    members: list[SampleMember]


@dataclass(frozen=True)
class Preview:
    entries: tuple[Entry, ...]
    summary: Summary
    sample: list[SampleGroup]


async def _entries(conn: Connection, template_id: UUID | None,
                   roles: Sequence[EntryInput] | None, scope: MemberScope | None
                   ) -> tuple[tuple[Entry, ...], MemberScope, list[Problem]]:
    """The template's entries and scope, or the draft's (checked as a template's would be)."""
    if (template_id is None) == (roles is None):
        return (), MemberScope.ACCOUNT, [Problem(("templateId",), "INVALID_VALUE",
                                                 "give either templateId or roles")]
    if template_id is not None:
        template = await template_store.get_template(conn, template_id)
        if template is None:
            return (), MemberScope.ACCOUNT, [Problem(("templateId",), "NOT_FOUND",
                                                     "no such role template")]
        return template.entries, scope or MemberScope(template.member_scope), []
    assert roles is not None
    known = await role_store.roles_by_ids(conn, [e.role_id for e in roles if e.role_id])
    checked, problems = check_entries([
        e if e.role_id in known else EntryInput(None, e.weighting, e.members_required,
                                                e.counts_toward_completeness, e.conditions)
        for e in roles])
    if not checked and not problems:
        problems = [Problem(("roles",), "NO_ROLES", "a template needs at least one role")]
        return (), MemberScope.ACCOUNT, problems
    return tuple(checked), scope or MemberScope.ACCOUNT, [p.under("roles") for p in problems]


async def preview(conn: Connection, tenant_id: UUID, *, template_id: UUID | None,
                  roles: Sequence[EntryInput] | None, scope: MemberScope | None,
                  account_list_id: UUID, sample: int) -> tuple[Preview | None, list[Problem]]:
    """What generating groups from the template (or the draft `roles`) for the audience would
    give, without writing anything. A statement past the connection's time limit raises."""
    problems: list[Problem] = []
    if not 0 <= sample <= MAX_SAMPLE:
        problems.append(Problem(("sample",), "INVALID_VALUE",
                                f"sample is between 0 and {MAX_SAMPLE}"))
    entries, scope, found = await _entries(conn, template_id, roles, scope)
    problems += found
    audience = (await list_store.lists_by_ids(conn, [account_list_id])).get(account_list_id)
    if audience is None:  # another tenant's list is no list here
        problems.append(Problem(("accountListId",), "NOT_FOUND", "no such account list"))
    if problems or audience is None:
        return None, problems
    descendants = scope is MemberScope.ACCOUNT_AND_DESCENDANTS
    params = SqlParams()
    accounts, counts = await preview_store.role_counts(
        conn, tenant_id, entries, audience_sql=list_store.membership_sql(audience, params),
        params=params, descendants=descendants)
    params = SqlParams()
    examples = await preview_store.sample_members(
        conn, tenant_id, entries, audience_sql=list_store.membership_sql(audience, params),
        params=params, descendants=descendants, limit=sample) if sample else []
    return Preview(entries, summarise(entries, accounts, counts),
                   await _sample(conn, entries, examples)), []


async def _sample(conn: Connection, entries: Sequence[Entry],
                  examples: list[tuple[UUID, list[tuple[UUID, UUID]]]]) -> list[SampleGroup]:
    """The example groups, each member with the role's rules tested against them (one
    statement per role with rules)."""
    rules = {e.role_id: e.conditions for e in entries}
    evaluations: dict[tuple[UUID, UUID], Evaluation] = {}
    for role_id, conditions in rules.items():
        people = [p for _, members in examples for p, r in members if r == role_id]
        if conditions is not None and people:
            for person, evaluation in (await evaluate_people(conn, conditions, people)).items():
                evaluations[person, role_id] = evaluation
    groups = []
    for account, members in examples:
        per_role: dict[UUID, int] = {}
        for _, role in members:
            per_role[role] = per_role.get(role, 0) + 1
        groups.append(SampleGroup(account, completeness(entries, per_role), [
            SampleMember(p, r, rules.get(r), evaluations.get((p, r))) for p, r in members]))
    return groups

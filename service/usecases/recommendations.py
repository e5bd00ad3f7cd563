"""Candidates for a group's role: listing them (read-only), accepting one (an assignment like
any other) and dismissing one (remembered per group, role and person)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from service.domain.conditions import ConditionGroup
from service.domain.membership import MemberScope
from service.domain.problems import Problem
from service.infra.auth import Principal
from service.infra.db import Connection
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store import people as people_store
from service.store import recommendations as recommendation_store
from service.store import role_templates as template_store
from service.store.recommendations import Recommendation
from service.usecases.change import Change, applied
from service.usecases.groups import Membership, assign_member, in_scope
from service.usecases.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Candidates:
    items: list[Recommendation]
    has_next: bool
    total: int                         # candidates in all
    conditions: ConditionGroup | None  # the role's rules the items were ranked by


@dataclass(frozen=True)
class _Slot:
    group: group_store.BuyingGroup
    template: template_store.RoleTemplate
    conditions: ConditionGroup | None


async def _slot(conn: Connection, group_id: UUID, role_id: UUID
                ) -> tuple[_Slot | None, list[Problem]]:
    group = (await group_store.groups_by_ids(conn, [group_id])).get(group_id)
    if group is None:
        return None, [Problem(("buyingGroupId",), "NOT_FOUND", "no such buying group")]
    return _entry(group, await template_store.get_template(conn, group.role_template_id),
                  role_id)


def _entry(group: group_store.BuyingGroup, template: template_store.RoleTemplate | None,
           role_id: UUID) -> tuple[_Slot | None, list[Problem]]:
    entry = next((e for e in template.entries if e.role_id == role_id),
                 None) if template else None
    if template is None or entry is None:
        return None, [Problem(("roleId",), "ROLE_NOT_IN_TEMPLATE",
                              "the group's role template has no such role")]
    return _Slot(group, template, entry.conditions), []


async def candidates(conn: Connection, tenant_id: UUID, group: group_store.BuyingGroup,
                     template: template_store.RoleTemplate | None, role_id: UUID, *,
                     inputs: engagement_store.ScoringInputs, limit: int, offset: int
                     ) -> tuple[Candidates | None, list[Problem]]:
    """People who could fill the role of the group (of this template), best first: those
    meeting the role's rules (the most rules first), then the most active in the scoring
    window (`inputs`)."""
    slot, problems = _entry(group, template, role_id)
    if slot is None:
        return None, problems
    items, has_next, total = await recommendation_store.recommend(
        conn, tenant_id, group_id=group.id, account_id=group.account_id,
        descendants=slot.template.member_scope == MemberScope.ACCOUNT_AND_DESCENDANTS,
        role_id=role_id, conditions=slot.conditions, inputs=inputs, limit=limit,
        offset=offset)
    return Candidates(items, has_next, total, slot.conditions), []


async def accept(work: UnitOfWork, actor: Principal, group_id: UUID, role_id: UUID,
                 person_id: UUID) -> Change[Membership]:
    """Put the recommended person in the role: an assignment like `assignBuyingGroupMember`."""
    return await assign_member(work, actor, group_id, person_id, role_id)


async def dismiss(work: UnitOfWork, group_id: UUID, role_id: UUID, person_id: UUID
                  ) -> Change[UUID]:
    """Offer the person for the group's role no more (other roles and groups still may)."""
    slot, problems = await _slot(work.conn, group_id, role_id)
    if slot is None:
        return applied(work, Change(problems=problems))
    person = (await people_store.people_by_ids(work.conn, [person_id])).get(person_id)
    if person is None:
        return applied(work, Change(problems=[Problem(("personId",), "NOT_FOUND",
                                                      "no such person")]))
    if not await in_scope(work.conn, slot.group, slot.template, person.account_id):
        return applied(work, Change(problems=[Problem(
            ("personId",), "PERSON_NOT_IN_ACCOUNT",
            "the person is not among the group's candidates (another account)")]))
    await recommendation_store.dismiss(work.conn, work.tenant_id, group_id, role_id, person_id)
    return Change(person_id)

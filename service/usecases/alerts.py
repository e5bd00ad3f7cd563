"""Alert rules (create, rename, pause, delete) and acknowledging the alerts they fired. The
check that fires them is service/usecases/alert_checks.py."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from service.domain import alerts as rules
from service.domain.alerts import AlertCondition, When
from service.domain.names import name_problems
from service.domain.problems import Problem
from service.store import alerts as alert_store
from service.store import roles as role_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.alerts import Alert, StoredRule
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_RULES = 100


async def _scope_problems(work: UnitOfWork, interest_ids: Sequence[UUID], when: When
                          ) -> list[Problem]:
    """Unknown interests, roles and stages; a role or stage no watched group can have."""
    conn = work.conn
    found = await interest_store.interests_by_ids(conn, list(interest_ids))
    problems = [Problem(("solutionInterestIds", i), "NOT_FOUND", "no such solution interest")
                for i, interest in enumerate(interest_ids) if interest not in found]
    if problems:
        return problems
    if when.condition is AlertCondition.ROLE_EMPTIED and when.role_id is not None:
        if not await role_store.roles_by_ids(conn, [when.role_id]):
            return [Problem(("when", "roleEmptied", "roleId"), "NOT_FOUND", "no such role")]
        if interest_ids and when.role_id not in await alert_store.roles_in_scope(
                conn, interest_ids):
            return [Problem(("when", "roleEmptied", "roleId"), "NEVER_FIRES",
                            "the role is in no template of these solution interests")]
    if when.condition is AlertCondition.STAGE_ENTERED:
        assert when.stage_id is not None
        if not await stage_store.model_of_stages(conn, [when.stage_id]):
            return [Problem(("when", "stageEntered"), "NOT_FOUND", "no such stage")]
        if interest_ids and when.stage_id not in await alert_store.stages_in_scope(
                conn, interest_ids):
            return [Problem(("when", "stageEntered"), "NEVER_FIRES",
                            "the stage is in no stage model of these solution interests")]
    return []


async def create_rule(work: UnitOfWork, name: str, interest_ids: Sequence[UUID], when: When
                      ) -> Change[StoredRule]:
    """Fire an alert for a watched group (of these interests; none: all) each time the
    condition starts to hold for it."""
    problems = name_problems(name) + [p.under("when") for p in rules.problems(when)]
    if problems:
        return applied(work, Change(problems=problems))
    interest_ids = list(dict.fromkeys(interest_ids))
    if problems := await _scope_problems(work, interest_ids, when):
        return applied(work, Change(problems=problems))
    await alert_store.lock_rules(work.conn, work.tenant_id)
    if await alert_store.count_rules(work.conn) >= MAX_RULES:
        return applied(work, refused((), "LIMIT_REACHED",
                                     f"a tenant has at most {MAX_RULES} alert rules"))
    if await alert_store.name_taken(work.conn, name.strip()):
        return applied(work, refused("name", "DUPLICATE",
                                     f"an alert rule named {name.strip()!r} exists"))
    return Change(await alert_store.create_rule(work.conn, work.tenant_id, name.strip(),
                                                interest_ids, when))


async def update_rule(work: UnitOfWork, rule_id: UUID, *, name: str | None,
                      enabled: bool | None) -> Change[StoredRule]:
    """Rename it, or pause (`enabled=False`) and resume it; a paused rule fires nothing."""
    if problems := name_problems(name):
        return applied(work, Change(problems=problems))
    await alert_store.lock_rules(work.conn, work.tenant_id)
    if name is not None and await alert_store.name_taken(work.conn, name.strip(), rule_id):
        return applied(work, refused("name", "DUPLICATE",
                                     f"an alert rule named {name.strip()!r} exists"))
    row = await alert_store.update_rule(work.conn, rule_id,
                                        name=name.strip() if name else None, enabled=enabled)
    if row is None:
        return applied(work, refused("id", "NOT_FOUND", "no such alert rule"))
    return Change(row)


async def delete_rule(work: UnitOfWork, rule_id: UUID) -> Change[UUID]:
    """Delete the rule and the alerts it fired."""
    if not await alert_store.delete_rule(work.conn, rule_id):
        return applied(work, refused("id", "NOT_FOUND", "no such alert rule"))
    return Change(rule_id)


async def acknowledge(work: UnitOfWork, alert_id: UUID) -> Change[Alert]:
    """Mark an alert seen, by the work's actor; acknowledging it again changes nothing."""
    row = await alert_store.acknowledge(work.conn, alert_id, work.actor.label)
    if row is None:
        return applied(work, refused("id", "NOT_FOUND", "no such alert"))
    return Change(row)

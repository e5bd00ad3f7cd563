"""Changes to buying groups, shared by the GraphQL mutations and the jobs.

Each use case checks its input against the stored state, makes the change in the caller's unit
of work and returns a `Change`: the changed rows, or the problems that stopped it (the work is
discarded then: nothing written). Its events go to the unit of work, which records them with
the change. `settle` is the one step that follows any change to a group's members, whoever
made it: both scores, entry rules, and the events they cause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

from service.domain.membership import MAX_STATUS, MemberScope, may_change
from service.domain.problems import Problem
from service.domain.stages import allows
from service.events.changes import Event, EventKind, score_changes, stage_changes, stage_global_id
from service.infra.auth import Principal, Scope
from service.infra.db import Connection
from service.store import accounts as account_store
from service.store import buying_groups as group_store
from service.store import engagement as engagement_store
from service.store import group_scores as score_store
from service.store import people as people_store
from service.store import role_templates as template_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.store.engagement import ScoringInputs
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

T = TypeVar("T")


def _refused(path: str, code: str, message: str) -> Change[T]:
    return refused(path, code, message)


@dataclass(frozen=True)
class Membership:
    group: group_store.BuyingGroup
    member: group_store.Member


_NO_GROUP = ("buyingGroupId", "NOT_FOUND", "no such buying group")


def _overridden(source: str) -> Change[Membership]:
    return _refused("personId", "OVERRIDDEN", f"this membership was set by a {source} change, "
                    "which an integration cannot override")


async def settle(conn: Connection, tenant_id: UUID, group_ids: Sequence[UUID], *,
                 inputs: ScoringInputs | None = None) -> list[Event]:
    """After members of these groups changed: recompute their completeness and engagement,
    move those whose next stage's entry rule now holds, and return the events. Set-based: a
    fixed number of statements whatever the number of groups; the engagement is the partial
    rescoring's SQL, so a stored score always equals the breakdown that explains it. `inputs`
    spares a job that settles chunk after chunk reading the catalogue again."""
    if not group_ids:
        return []
    inputs = inputs or await engagement_store.scoring_inputs(conn, tenant_id)
    settled = await score_store.settle_scores(conn, tenant_id, inputs, group_ids)
    interest_of = {s.buying_group_id: s.solution_interest_id for s in settled.completeness}
    # Every group whose members changed: a ROLE_MEMBERS rule may hold where no score moved.
    moves = await stage_store.apply_entry_rules(conn, tenant_id, group_ids)
    return [*score_changes(EventKind.COMPLETENESS_CHANGED, tenant_id, settled.completeness),
            *score_changes(EventKind.ENGAGEMENT_CHANGED, tenant_id, settled.engagement),
            *stage_changes(tenant_id, moves, interest_of)]


async def _settled(conn: Connection, group: group_store.BuyingGroup, member: group_store.Member,
                   event: Event) -> Change[Membership]:
    events = await settle(conn, group.tenant_id, [group.id])
    fresh = await group_store.lock_group(conn, group.id)
    assert fresh is not None  # locked by this transaction
    return Change(Membership(fresh, member), events=[event, *events])


_OUT_OF_SCOPE = ("the person belongs to an account outside the group's: its template takes "
                 "people of the group's account (and, with memberScope "
                 "ACCOUNT_AND_DESCENDANTS, of its sub-accounts)")


async def in_scope(conn: Connection, group: group_store.BuyingGroup,
                   template: template_store.RoleTemplate | None, account_id: UUID) -> bool:
    """Whether people of the account may be members of the group."""
    if account_id == group.account_id:
        return True
    return template is not None and \
        template.member_scope == MemberScope.ACCOUNT_AND_DESCENDANTS and \
        await account_store.descends_from(conn, group.tenant_id, account_id, group.account_id)


async def _assign_member(conn: Connection, actor: Principal, group_id: UUID, person_id: UUID,
                        role_id: UUID) -> Change[Membership]:
    """Put a person of the group's account in one of its template's roles (or move them to
    another)."""
    group = await group_store.lock_group(conn, group_id)
    if group is None:
        return _refused(*_NO_GROUP)
    person = (await people_store.people_by_ids(conn, [person_id])).get(person_id)
    if person is None:
        return _refused("personId", "NOT_FOUND", "no such person")
    template = await template_store.get_template(conn, group.role_template_id)
    if not await in_scope(conn, group, template, person.account_id):
        return _refused("personId", "PERSON_NOT_IN_ACCOUNT", _OUT_OF_SCOPE)
    if template is None or role_id not in {e.role_id for e in template.entries}:
        return _refused("roleId", "ROLE_NOT_IN_TEMPLATE",
                        "the group's role template has no such role")
    current = await group_store.membership(conn, group.id, person.id)
    if current and not may_change(current.source, actor.member_source):
        return _overridden(current.source)
    member = await group_store.assign_member(conn, group, person.id, role_id,
                                             actor.member_source)
    return await _settled(conn, group, member, Event.of(
        EventKind.MEMBER_ASSIGNED, group.tenant_id, group.id,
        solution_interest_id=group.solution_interest_id, person_id=person.id, role_id=role_id,
        previous_value=str(current.role_id) if current and not current.is_removed else None,
        new_value=str(role_id)))


async def _remove_member(conn: Connection, actor: Principal, group_id: UUID, person_id: UUID
                        ) -> Change[Membership]:
    """Mark an active member removed; maintenance will not add them back."""
    group = await group_store.lock_group(conn, group_id)
    if group is None:
        return _refused(*_NO_GROUP)
    current = await group_store.membership(conn, group.id, person_id)
    if current is None or current.is_removed:
        return _refused("personId", "NOT_A_MEMBER",
                        "the person is not an active member of the group")
    if not may_change(current.source, actor.member_source):
        return _overridden(current.source)
    member = await group_store.remove_member(conn, group, current.person_id,
                                             actor.member_source)
    return await _settled(conn, group, member, Event.of(
        EventKind.MEMBER_REMOVED, group.tenant_id, group.id,
        solution_interest_id=group.solution_interest_id, person_id=current.person_id,
        role_id=current.role_id, previous_value=str(current.role_id)))


async def _set_status(conn: Connection, group_id: UUID, status: str | None
                     ) -> Change[group_store.BuyingGroup]:
    """Set or clear (blank or null) the group's free-text status."""
    status = (status or "").strip() or None
    if status is not None and len(status) > MAX_STATUS:
        return _refused("status", "TOO_LONG", f"a status is at most {MAX_STATUS} characters")
    before = await group_store.lock_group(conn, group_id)
    row = await group_store.set_status(conn, group_id, status) if before else None
    if before is None or row is None:
        return _refused(*_NO_GROUP)
    events = [] if before.status == row.status else [Event.of(
        EventKind.STATUS_CHANGED, row.tenant_id, row.id,
        solution_interest_id=row.solution_interest_id, previous_value=before.status,
        new_value=row.status)]
    return Change(row, events=events)


MAX_GROUP_NAME = 200


async def _rename(conn: Connection, group_id: UUID, name: str | None
                 ) -> Change[group_store.BuyingGroup]:
    """Give the group a name of one's own (it stops following renames of its account and
    solution interest); null or blank: the generated name again, which follows them."""
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_GROUP_NAME:
        return _refused("name", "TOO_LONG", f"a name is at most {MAX_GROUP_NAME} characters")
    if await group_store.lock_group(conn, group_id) is None:
        return _refused("id", "NOT_FOUND", "no such buying group")
    row = await group_store.rename(conn, group_id, name)
    assert row is not None
    return Change(row)


async def _move_to_stage(conn: Connection, actor: Principal, group_id: UUID, stage_id: UUID,
                         override: bool = False) -> Change[group_store.BuyingGroup]:
    """Move a group to a stage its stage model allows next from where it is; with `override`
    (ADMIN only) to any stage of its model, recorded as an OVERRIDE."""
    if override and not actor.allows(Scope.ADMIN):
        return _refused("override", "FORBIDDEN", "moving a group against its stage model's "
                        "transitions needs the ADMIN scope")
    group = await group_store.lock_group(conn, group_id)
    if group is None:
        return _refused(*_NO_GROUP)
    interest = (await interest_store.interests_by_ids(
        conn, [group.solution_interest_id]))[group.solution_interest_id]
    if interest.stage_model_id is None:
        return _refused("buyingGroupId", "NO_STAGE_MODEL",
                        "the group's solution interest has no stage model")
    model = (await stage_store.models_by_ids(conn, [interest.stage_model_id]))[
        interest.stage_model_id]
    target = next((s for s in model.stages if s.id == stage_id), None)
    if target is None:
        return _refused("stageId", "UNKNOWN_STAGE",
                        f"no such stage in the stage model {model.name!r}")
    current = next((s for s in model.stages if s.id == group.stage_id), None)
    specs = {s.key: s.spec() for s in model.stages}
    if not override and not allows(specs, current.key if current else None, target.key):
        here = repr(current.name) if current else "no stage"
        nexts = (current.transitions_to if current
                 else [s.key for s in model.stages if s.kind == "ENTRY"])
        allowed = ", ".join(repr(specs[k].name) for k in nexts if k in specs) or "none"
        return _refused("stageId", "TRANSITION_NOT_ALLOWED",
                        f"the stage model does not allow a move from {here} to "
                        f"{target.name!r}; allowed: {allowed}")
    if override and target.id == group.stage_id:
        return _refused("stageId", "INVALID_VALUE", f"the group is in {target.name!r} already")
    by = "OVERRIDE" if override else "INTEGRATION" if actor.is_integration else "USER"
    await stage_store.move_group(conn, actor.tenant_id, group.id, group.stage_id, target.id, by,
                                 actor.api_key_id)
    fresh = await group_store.lock_group(conn, group.id)
    assert fresh is not None
    return Change(fresh, events=[Event.of(
        EventKind.STAGE_CHANGED, group.tenant_id, group.id,
        solution_interest_id=group.solution_interest_id,
        previous_value=stage_global_id(group.stage_id), new_value=stage_global_id(target.id))])


async def _delete_group(conn: Connection, group_id: UUID) -> Change[group_store.BuyingGroup]:
    """Delete a group with its members and history; the value is the deleted row."""
    group = await group_store.lock_group(conn, group_id)
    if group is None or not await group_store.delete_group(conn, group_id):
        return _refused("id", "NOT_FOUND", "no such buying group")
    return Change(group, events=[Event.of(
        EventKind.DELETED, group.tenant_id, group.id,
        solution_interest_id=group.solution_interest_id, previous_value=group.name)])


# --- the use cases, each in the caller's unit of work -------------------------------------------


async def assign_member(work: UnitOfWork, actor: Principal, group_id: UUID, person_id: UUID,
                        role_id: UUID) -> Change[Membership]:
    """Put a person of the group's account in one of its template's roles (or move them to
    another)."""
    return applied(work, await _assign_member(work.conn, actor, group_id, person_id, role_id))


async def remove_member(work: UnitOfWork, actor: Principal, group_id: UUID, person_id: UUID
                        ) -> Change[Membership]:
    """Mark an active member removed; maintenance will not add them back."""
    return applied(work, await _remove_member(work.conn, actor, group_id, person_id))


async def set_status(work: UnitOfWork, group_id: UUID, status: str | None
                     ) -> Change[group_store.BuyingGroup]:
    """Set or clear (blank or null) the group's free-text status."""
    return applied(work, await _set_status(work.conn, group_id, status))


async def rename(work: UnitOfWork, group_id: UUID, name: str | None
                 ) -> Change[group_store.BuyingGroup]:
    """A name of the group's own, or (null, blank) the generated one again."""
    return applied(work, await _rename(work.conn, group_id, name))


async def move_to_stage(work: UnitOfWork, actor: Principal, group_id: UUID, stage_id: UUID,
                        *, override: bool = False) -> Change[group_store.BuyingGroup]:
    """Move a group to a stage its stage model allows next from where it is; `override`: to
    any stage of its model (ADMIN only), recorded as an OVERRIDE with its actor."""
    return applied(work, await _move_to_stage(work.conn, actor, group_id, stage_id, override))


async def delete_group(work: UnitOfWork, group_id: UUID) -> Change[group_store.BuyingGroup]:
    """Delete a group with its members and history; the value is the deleted row."""
    return applied(work, await _delete_group(work.conn, group_id))


# --- many at once: each item done or refused on its own, in one unit of work ------------------

MAX_ASSIGNMENTS = 50
MAX_STAGE_MOVES = 100


@dataclass
class ManyChanges(Generic[T]):
    """Per item of the input, by index: what was done, or the problems that refused it."""

    done: dict[int, T] = field(default_factory=dict)
    problems: dict[int, list[Problem]] = field(default_factory=dict)

    def take(self, work: UnitOfWork, index: int, change: Change[T]) -> None:
        """The item's outcome; a change made records its events in the unit of work."""
        if change.value is None:
            self.problems[index] = change.problems
        else:
            self.done[index] = change.value
            work.record(change.events)


async def _lock_in_order(work: UnitOfWork, group_ids: Sequence[UUID]) -> None:
    """Lock the groups in one order before changing any: two calls over the same groups cannot
    wait on each other."""
    for group_id in sorted(set(group_ids)):
        await group_store.lock_group(work.conn, group_id)


async def assign_members(work: UnitOfWork, actor: Principal,
                         items: Sequence[tuple[UUID, UUID, UUID]]
                         ) -> Change[ManyChanges[Membership]]:
    """Put people in roles, (group, person, role) per item, at most MAX_ASSIGNMENTS: each item
    is made or refused on its own (a refused one writes nothing), one event per change."""
    if len(items) > MAX_ASSIGNMENTS:
        return applied(work, refused("assignments", "TOO_MANY_ITEMS",
                                     f"at most {MAX_ASSIGNMENTS} assignments per call"))
    await _lock_in_order(work, [group_id for group_id, _, _ in items])
    result: ManyChanges[Membership] = ManyChanges()
    for index, (group_id, person_id, role_id) in enumerate(items):
        result.take(work, index, await _assign_member(work.conn, actor, group_id, person_id,
                                                      role_id))
    return Change(result)


async def move_to_stage_many(work: UnitOfWork, actor: Principal, group_ids: Sequence[UUID],
                             stage_id: UUID) -> Change[ManyChanges[group_store.BuyingGroup]]:
    """Move groups to a stage, at most MAX_STAGE_MOVES: each as far as its stage model allows,
    on its own, one event per move."""
    if len(group_ids) > MAX_STAGE_MOVES:
        return applied(work, refused("buyingGroupIds", "TOO_MANY_ITEMS",
                                     f"at most {MAX_STAGE_MOVES} groups per call"))
    await _lock_in_order(work, group_ids)
    result: ManyChanges[group_store.BuyingGroup] = ManyChanges()
    for index, group_id in enumerate(group_ids):
        result.take(work, index, await _move_to_stage(work.conn, actor, group_id, stage_id))
    return Change(result)

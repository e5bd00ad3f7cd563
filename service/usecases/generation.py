"""Generating and maintaining a solution interest's buying groups, one chunk of accounts (or
groups) per unit of work: the CREATE and MAINTAIN jobs call these, and so does the demo.
Each chunk settles its groups (both scores, entry rules) and records its events with it."""

from __future__ import annotations

from uuid import UUID

from service.domain.membership import MemberScope
from service.events.changes import Event, EventKind, stage_changes, stage_global_id
from service.store import account_lists as list_store
from service.store import engagement as engagement_store
from service.store import group_generation as generation_store
from service.store import stages as stage_store
from service.store.account_lists import AccountList
from service.store.engagement import ScoringInputs
from service.store.group_generation import ChunkResult
from service.store.role_templates import RoleTemplate
from service.store.solution_interests import SolutionInterest
from service.store.sql import SqlParams
from service.usecases.groups import settle
from service.usecases.unit_of_work import UnitOfWork

MEMBER_CHANGES = {"ASSIGNED": EventKind.MEMBER_ASSIGNED, "REMOVED": EventKind.MEMBER_REMOVED}


async def create_chunk(work: UnitOfWork, interest: SolutionInterest, template: RoleTemplate,
                       audience: AccountList, *, after: UUID | None, limit: int,
                       entry_stage_id: UUID | None, job_id: UUID | None,
                       inputs: ScoringInputs | None = None) -> ChunkResult:
    """A group for each of the next `limit` accounts of the audience (after `after`) that has
    none for the interest yet, its members assigned by the template's rules, scored, in the
    entry stage; CREATED events and the stage moves of entry rules."""
    tenant_id = work.tenant_id
    inputs = inputs or await engagement_store.scoring_inputs(work.conn, tenant_id)
    params = SqlParams()
    chunk = await generation_store.create_groups_chunk(
        work.conn, tenant_id, solution_interest_id=interest.id,
        solution_interest_name=interest.name, role_template_id=template.id,
        entries=template.entries, audience_sql=list_store.membership_sql(audience, params),
        params=params, after=after, limit=limit, job_id=job_id, inputs=inputs,
        entry_stage_id=entry_stage_id,
        descendants=template.member_scope == MemberScope.ACCOUNT_AND_DESCENDANTS)
    work.record(Event.of(EventKind.CREATED, tenant_id, group_id,
                         solution_interest_id=interest.id,
                         new_value=stage_global_id(entry_stage_id) if entry_stage_id else None)
                for group_id in chunk.changed)
    # Made with both scores and their snapshot: only the entry rules are left to apply.
    if chunk.changed:
        moves = await stage_store.apply_entry_rules(work.conn, tenant_id, chunk.changed)
        work.record(stage_changes(tenant_id, moves))
    return chunk


async def maintain_chunk(work: UnitOfWork, interest_id: UUID, template: RoleTemplate, *,
                         after: UUID | None, limit: int,
                         inputs: ScoringInputs | None = None) -> ChunkResult:
    """Move the next `limit` groups of the interest towards what the template's rules say;
    MEMBER_ASSIGNED / MEMBER_REMOVED events and what settling them caused."""
    tenant_id = work.tenant_id
    chunk = await generation_store.maintain_groups_chunk(
        work.conn, tenant_id, solution_interest_id=interest_id, entries=template.entries,
        after=after, limit=limit,
        descendants=template.member_scope == MemberScope.ACCOUNT_AND_DESCENDANTS)
    settled = await settle(work.conn, tenant_id, chunk.changed, inputs=inputs)
    # Valued as a user's change is: the role taken (ASSIGNED) or left (REMOVED).
    work.record(Event.of(MEMBER_CHANGES[change], tenant_id, group,
                         solution_interest_id=interest_id, person_id=person, role_id=role,
                         **({"new_value": str(role)} if change == "ASSIGNED"
                            else {"previous_value": str(role)}))
                for group, person, role, change in chunk.member_changes)
    work.record(settled)
    return chunk


async def statistics_kept_up(work: UnitOfWork, groups: int, members: int) -> bool:
    """At the end of a job that wrote `groups` groups and `members` members: the planner's
    statistics of a table it grew by a tenth brought up to date now, not left to autovacuum
    (the pages of groups read after a large CREATE were planned as for empty tables). Whether
    they were refreshed."""
    return await generation_store.analyze_if_grown(work.conn, groups, members)

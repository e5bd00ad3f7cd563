"""Per-request DataLoaders: every nested object is fetched in one batched query per kind."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from asyncpg import Record
from strawberry.dataloader import DataLoader

from service.domain.engagement import ActivityCount
from service.infra.db import Connection
from service.store.account_lists import AccountList, account_counts, lists_by_ids
from service.store.accounts import Account, accounts_by_ids, children_pages
from service.store.activities import Activity, first_pages_of_leads
from service.store.activity_types import ActivityType, activity_types_by_ids
from service.store.alerts import Alert, StoredRule, alerts_by_id, rules_by_id
from service.store.api_keys import ApiKey, api_keys_by_ids
from service.store.assignments import Evaluation, evaluate_people
from service.store.buying_groups import (
    BuyingGroup,
    Member,
    groups_by_accounts,
    groups_by_ids,
    groups_of_people,
    members_by_groups,
)
from service.store.engagement import (
    ScoringInputs,
    activity_of_people,
    engagement_before,
    scoring_inputs,
)
from service.store.event_log import events_at
from service.store.exports import ExportFile, files_of_jobs
from service.store.jobs import Job, jobs_by_ids
from service.store.paging import Page
from service.store.people import Person, people_by_ids, people_pages_by_account
from service.store.role_templates import RoleTemplate, templates_with_roles
from service.store.roles import Role, roles_by_ids
from service.store.scoring_models import ScoringModel, models_by_ids
from service.store.solution_interests import SolutionInterest, interests_by_ids
from service.store.stages import (
    Stage,
    StageChange,
    StageModel,
    history_of_groups,
    model_of_stages,
)
from service.store.stages import models_by_ids as stage_models_by_ids
from service.store.webhook_log import Attempt, attempts_of

if TYPE_CHECKING:
    from service.api.context import Context

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

Fetch = Callable[[Connection, list[K]], Awaitable[dict[K, V]]]
PageFetch = Callable[[Connection, UUID, list[UUID], int], Awaitable[dict[UUID, Page[V]]]]


class Loader(DataLoader[K, V]):
    """A DataLoader whose futures survive the cancellation of one awaiter. graphql-core cancels
    the sibling fields of a field whose error nulls their parent; awaiting a shared future in a
    cancelled task cancels the future itself, and every other field waiting on the same key
    would get a CancelledError that no resolver expects."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(_owned(asyncio.ensure_future(super().load(key))))

    def load_many(self, keys: Iterable[K]) -> Awaitable[list[V]]:
        # One shield around them all: a page's look-ahead asks for hundreds of keys at once.
        return asyncio.shield(_owned(asyncio.gather(*map(super().load, keys))))


def _owned(future: asyncio.Future[T]) -> asyncio.Future[T]:
    """The future, its failure taken note of once it ends. A load whose awaiters were all
    cancelled (the answer was complete without them) may still fail, typically as its batch
    outlives the request's context; nobody is left to read that failure, and asyncio would log
    it as an error ("exception was never retrieved"). An awaiter still gets it as before."""
    future.add_done_callback(_note_failure)
    return future


def _note_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def by_key(context: Context, fetch: Fetch[K, V]) -> DataLoader[K, V | None]:
    async def load(keys: list[K]) -> list[V | None]:
        async with context.read() as conn:
            found = await fetch(conn, list(keys))
        return [found.get(k) for k in keys]

    return Loader(load_fn=load)


def first_pages(context: Context, fetch: PageFetch[V]) -> DataLoader[tuple[UUID, int], Page[V]]:
    """Loads the first page of a nested list for many parents at once, keyed by (parent, size)."""

    async def load(keys: list[tuple[UUID, int]]) -> list[Page[V]]:
        by_size: dict[int, list[UUID]] = defaultdict(list)
        for parent, size in keys:
            by_size[size].append(parent)
        tenant_id = context.tenant_principal.tenant_id
        pages: dict[tuple[UUID, int], Page[V]] = {}
        async with context.read() as conn:
            for size, parents in by_size.items():
                for parent, page in (await fetch(conn, tenant_id, parents, size)).items():
                    pages[(parent, size)] = page
        return [pages[k] for k in keys]

    return Loader(load_fn=load)


def by_key_list(context: Context, fetch: Fetch[K, list[V]]) -> DataLoader[K, list[V]]:
    """Like by_key, for one-to-many lookups: every key gets a list, empty when nothing matches."""

    async def load(keys: list[K]) -> list[list[V]]:
        async with context.read() as conn:
            found = await fetch(conn, list(keys))
        return [found.get(k, []) for k in keys]

    return Loader(load_fn=load)


def first_activity_pages(context: Context
                         ) -> DataLoader[tuple[str, int, datetime | None, bool], Page[Activity]]:
    """The first page of many people's activities, keyed by (lead id, size, since, counted):
    one statement per size, `since` and whether they are counted."""

    async def load(keys: list[tuple[str, int, datetime | None, bool]]) -> list[Page[Activity]]:
        asked: dict[tuple[int, datetime | None, bool], list[str]] = defaultdict(list)
        for lead, size, since, counted in keys:
            asked[(size, since, counted)].append(lead)
        tenant_id = context.tenant_principal.tenant_id
        pages: dict[tuple[str, int, datetime | None, bool], Page[Activity]] = {}
        async with context.read() as conn:
            for (size, since, counted), leads in asked.items():
                found = await first_pages_of_leads(conn, tenant_id, leads, since=since,
                                                   limit=size, counted=counted)
                for lead, page in found.items():
                    pages[(lead, size, since, counted)] = page
        return [pages[k] for k in keys]

    return Loader(load_fn=load)


def members_of_groups(context: Context) -> DataLoader[UUID, list[Member]]:
    """Members of many groups in one statement; their people and roles come along and prime
    those loaders."""

    async def load(group_ids: list[UUID]) -> list[list[Member]]:
        async with context.read() as conn:
            found = await members_by_groups(conn, list(group_ids))
        for person_id, person in found.people.items():
            context.loaders.person.prime(person_id, person)
        for role_id, role in found.roles.items():
            context.loaders.role.prime(role_id, role)
        return [found.members.get(g, []) for g in group_ids]

    return Loader(load_fn=load)


def templates_priming_roles(context: Context) -> DataLoader[UUID, RoleTemplate | None]:
    """Templates, with their roles primed in the role loader: one statement for both."""

    async def load(ids: list[UUID]) -> list[RoleTemplate | None]:
        async with context.read() as conn:
            templates, roles = await templates_with_roles(conn, list(ids))
        for role_id, role in roles.items():
            context.loaders.role.prime(role_id, role)
        return [templates.get(i) for i in ids]

    return Loader(load_fn=load)


RuleKey = tuple[UUID, UUID, UUID]  # (role template, role, person)


def role_rules_of_people(context: Context) -> DataLoader[RuleKey, Evaluation | None]:
    """A role's rules in a template evaluated against people, keyed by (template, role,
    person): one statement per role (of those asked for) that has rules; None for a role
    without rules."""

    async def load(keys: list[RuleKey]) -> list[Evaluation | None]:
        asked: dict[tuple[UUID, UUID], list[UUID]] = defaultdict(list)
        for template_id, role_id, person_id in keys:
            asked[(template_id, role_id)].append(person_id)
        templates = await context.loaders.role_template.load_many(
            list({template_id for template_id, _ in asked}))
        rules = {(t.id, e.role_id): e.conditions for t in templates if t is not None
                 for e in t.entries}
        found: dict[RuleKey, Evaluation] = {}
        async with context.read() as conn:
            for (template_id, role_id), people in asked.items():
                group = rules.get((template_id, role_id))
                if group is None:
                    continue
                for person_id, evaluation in (await evaluate_people(conn, group,
                                                                    people)).items():
                    found[(template_id, role_id, person_id)] = evaluation
        return [found.get(k) for k in keys]

    return Loader(load_fn=load)


def stages_priming_models(context: Context) -> DataLoader[UUID, Stage | None]:
    """Stages by id, loaded with their whole model (which primes the model loader)."""

    async def load(ids: list[UUID]) -> list[Stage | None]:
        async with context.read() as conn:
            models = await model_of_stages(conn, list(ids))
        for model in models.values():
            context.loaders.stage_model.prime(model.id, model)
        stages = {s.id: s for m in models.values() for s in m.stages}
        return [stages.get(i) for i in ids]

    return Loader(load_fn=load)


def list_counts(context: Context) -> DataLoader[AccountList, int]:
    async def load(lists: list[AccountList]) -> list[int]:
        tenant_id = context.tenant_principal.tenant_id
        async with context.read() as conn:
            counts = await account_counts(conn, tenant_id, lists)
        return [counts.get(al.id, 0) for al in lists]

    return Loader(load_fn=load, cache_key_fn=lambda al: al.id)


def tenant_scoring_inputs(context: Context) -> DataLoader[UUID, ScoringInputs]:
    """The scoring model, types and window: once per request, however many groups ask."""

    async def load(tenants: list[UUID]) -> list[ScoringInputs]:
        async with context.read() as conn:
            return [await scoring_inputs(conn, t) for t in tenants]

    return Loader(load_fn=load)


def events_at_positions(context: Context) -> DataLoader[int, Record | None]:
    """Events of the caller's tenant by their log position (a page of webhook deliveries)."""

    async def load(positions: list[int]) -> list[Record | None]:
        tenant_id = context.tenant_principal.tenant_id
        async with context.read() as conn:
            rows = await events_at(conn, tenant_id, positions)
        by_position = {r["position"]: r for r in rows}
        return [by_position.get(p) for p in positions]

    return Loader(load_fn=load)


def activity_of_persons(context: Context) -> DataLoader[UUID, list[ActivityCount]]:
    """Each person's daily activity in the scoring window, for many people at once."""

    async def load(person_ids: list[UUID]) -> list[list[ActivityCount]]:
        tenant_id = context.tenant_principal.tenant_id
        inputs = await context.loaders.scoring_inputs.load(tenant_id)
        async with context.read() as conn:
            counts = await activity_of_people(conn, tenant_id, person_ids, inputs)
        found: dict[UUID, list[ActivityCount]] = defaultdict(list)
        for count in counts:
            found[count.person_id].append(count)
        return [found.get(p, []) for p in person_ids]

    return Loader(load_fn=load)


@dataclass
class Loaders:
    api_key: DataLoader[UUID, ApiKey | None]
    job: DataLoader[UUID, Job | None]
    account: DataLoader[UUID, Account | None]
    person: DataLoader[UUID, Person | None]
    account_children: DataLoader[tuple[UUID, int], Page[Account]]
    account_people: DataLoader[tuple[UUID, int], Page[Person]]
    role: DataLoader[UUID, Role | None]
    role_template: DataLoader[UUID, RoleTemplate | None]
    solution_interest: DataLoader[UUID, SolutionInterest | None]
    account_list: DataLoader[UUID, AccountList | None]
    account_list_count: DataLoader[AccountList, int]
    activity_type: DataLoader[UUID, ActivityType | None]
    scoring_model: DataLoader[UUID, ScoringModel | None]
    buying_group: DataLoader[UUID, BuyingGroup | None]
    group_members: DataLoader[UUID, list[Member]]
    groups_of_account: DataLoader[UUID, list[BuyingGroup]]
    memberships_of_person: DataLoader[UUID, list[Member]]
    stage_model: DataLoader[UUID, StageModel | None]
    stage: DataLoader[UUID, Stage | None]
    stage_history: DataLoader[UUID, list[StageChange]]
    scoring_inputs: DataLoader[UUID, ScoringInputs]
    person_activity: DataLoader[UUID, list[ActivityCount]]
    lead_activities: DataLoader[tuple[str, int, datetime | None, bool], Page[Activity]]
    role_rules: DataLoader[RuleKey, Evaluation | None]
    engagement_before: DataLoader[tuple[UUID, date], tuple[date, Decimal] | None]
    alert_rule: DataLoader[UUID, StoredRule | None]
    alert: DataLoader[UUID, Alert | None]
    export_file: DataLoader[UUID, ExportFile | None]
    event: DataLoader[int, Record | None]
    webhook_attempts: DataLoader[tuple[UUID, int], list[Attempt]]

    def reset(self) -> None:
        """Forget everything loaded so far (after a write in the same request)."""
        for loader in vars(self).values():
            loader.clear_all()

    @classmethod
    def for_context(cls, context: Context) -> Loaders:
        return cls(
            api_key=by_key(context, api_keys_by_ids),
            job=by_key(context, jobs_by_ids),
            account=by_key(context, accounts_by_ids),
            person=by_key(context, people_by_ids),
            account_children=first_pages(context, children_pages),
            account_people=first_pages(context, people_pages_by_account),
            role=by_key(context, roles_by_ids),
            role_template=templates_priming_roles(context),
            solution_interest=by_key(context, interests_by_ids),
            account_list=by_key(context, lists_by_ids),
            account_list_count=list_counts(context),
            activity_type=by_key(context, activity_types_by_ids),
            scoring_model=by_key(context, models_by_ids),
            buying_group=by_key(context, groups_by_ids),
            group_members=members_of_groups(context),
            groups_of_account=by_key_list(context, groups_by_accounts),
            memberships_of_person=by_key_list(context, groups_of_people),
            stage_model=by_key(context, stage_models_by_ids),
            stage=stages_priming_models(context),
            stage_history=by_key_list(context, history_of_groups),
            scoring_inputs=tenant_scoring_inputs(context),
            person_activity=activity_of_persons(context),
            lead_activities=first_activity_pages(context),
            role_rules=role_rules_of_people(context),
            engagement_before=by_key(context, engagement_before),
            alert_rule=by_key(context, rules_by_id),
            alert=by_key(context, alerts_by_id),
            export_file=by_key(context, files_of_jobs),
            event=events_at_positions(context),
            webhook_attempts=by_key_list(context, attempts_of),
        )

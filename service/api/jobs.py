"""Background jobs through GraphQL (BuyingGroupJob): the type, browsing, and the
mutations that start, stop and delete the generation and maintenance jobs."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from service.api.errors import UserError, from_problems
from service.api.export_files import ExportFile
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import (
    Connection,
    check_first,
    created_at_id_key,
    decode_cursor,
    to_connection,
)
from service.api.permissions import RequireWrite
from service.api.solution_interests import SolutionInterest
from service.store import jobs as job_store
from service.store.jobs import Job, JobKind
from service.usecases import jobs
from service.usecases.change import Change
from service.usecases.jobs import Started

log = logging.getLogger(__name__)


# The GraphQL enum is the store's own (named for the schema): one list of kinds.
strawberry.enum(JobKind, name="BuyingGroupJobKind")


@strawberry.enum
class BuyingGroupJobStatus(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@strawberry.type
class JobProgress:
    total: int
    processed: int

    @strawberry.field(description="processed / total in percent; 0 while the total is unknown.")
    def percent(self) -> float:
        return round(100.0 * self.processed / self.total, 2) if self.total else 0.0


@strawberry.type(description="An asynchronous job run by the worker; poll it with node(id:).")
class BuyingGroupJob(relay.Node):
    id: relay.NodeID[str]
    kind: JobKind
    status: BuyingGroupJobStatus
    progress: JobProgress
    buying_groups_created: int
    buying_groups_updated: int
    error: str | None = strawberry.field(description="Why it FAILED, for people.")
    attempts: int = strawberry.field(description="Attempts started so far (a retry after a "
                                     "passing failure, or after its worker died, is one more).")
    max_attempts: int = strawberry.field(description="Attempts it gets (JOB_MAX_ATTEMPTS).")
    next_attempt_at: datetime | None = strawberry.field(
        description="When a QUEUED job that failed for a passing reason is tried again.")
    last_error: str | None = strawberry.field(
        description="The last attempt's failure, also while it waits to be retried.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    row: strawberry.Private[Job]

    @strawberry.field
    async def solution_interest(
        self, info: strawberry.Info
    ) -> SolutionInterest | None:
        if self.row.solution_interest_id is None:
            return None
        row = await info.context.loaders.solution_interest.load(self.row.solution_interest_id)
        return SolutionInterest.from_row(row) if row else None

    @strawberry.field(description="An EXPORT job's file (null for other kinds, and once it "
                      "was deleted).")
    async def export(self, info: strawberry.Info) -> ExportFile | None:
        if self.row.kind != JobKind.EXPORT:
            return None
        row = await info.context.loaders.export_file.load(self.row.id)
        return ExportFile.from_row(row) if row else None

    @classmethod
    def from_row(cls, job: Job, max_attempts: int) -> BuyingGroupJob:
        return cls(
            id=str(job.id),
            kind=JobKind(job.kind),
            status=BuyingGroupJobStatus(job.status.value),
            progress=JobProgress(total=job.progress_total, processed=job.progress_processed),
            buying_groups_created=job.buying_groups_created,
            buying_groups_updated=job.buying_groups_updated,
            error=job.error,
            attempts=job.attempts,
            max_attempts=max_attempts,
            next_attempt_at=job.next_attempt_at,
            last_error=job.last_error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            row=job,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        jobs = await load_nodes(info.context.loaders.job, node_ids)
        # Kinds this API does not know (internal ones) are not visible as nodes.
        known = {k.value for k in JobKind}
        visible = [j if j is not None and j.kind in known else None for j in jobs]
        return convert_all(visible, lambda j: cls.from_row(
            j, info.context.settings.job_max_attempts))


@strawberry.input
class BuyingGroupJobFilter:
    solution_interest_id: relay.GlobalID | None = None
    status: BuyingGroupJobStatus | None = None
    kind: JobKind | None = None


async def buying_group_jobs(
    info: strawberry.Info, filter: BuyingGroupJobFilter | None = None, first: int = 20,
    after: str | None = None,
) -> Connection[BuyingGroupJob]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, created_at_id_key)
    interest_id = (decode_id(filter.solution_interest_id, "SolutionInterest",
                             ["filter", "solutionInterestId"])
                   if filter and filter.solution_interest_id else None)
    async with context.read() as conn:
        page = await job_store.list_jobs(
            conn, context.tenant_principal.tenant_id, solution_interest_id=interest_id,
            status=filter.status.value if filter and filter.status else None,
            kinds=[filter.kind.value] if filter and filter.kind else [k.value for k in JobKind],
            limit=limit, after=cursor)
    return to_connection(page, lambda j: job_of(info, j), lambda j: (j.created_at, j.id),
                         has_previous=cursor is not None)


@strawberry.input
class CreateBuyingGroupsInput:
    solution_interest_id: relay.GlobalID
    account_list_id: relay.GlobalID


@strawberry.input
class MaintainBuyingGroupsInput:
    solution_interest_id: relay.GlobalID


@strawberry.type(description="What a mutation that starts (or stops) a job returns.")
class BuyingGroupJobPayload:
    job: BuyingGroupJob | None
    deduplicated: bool = strawberry.field(default=False, description=(
        "True when an equal job was already queued or running: `job` is that one, and no new "
        "job was made."))
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class BuyingGroupJobIdInput:
    id: relay.GlobalID


@strawberry.type
class DeleteBuyingGroupJobPayload:
    deleted_job_id: relay.GlobalID | None
    user_errors: list[UserError]


def job_of(info: strawberry.Info, job: Job) -> BuyingGroupJob:
    return BuyingGroupJob.from_row(job, info.context.settings.job_max_attempts)


def started(info: strawberry.Info, change: Change[Started]) -> BuyingGroupJobPayload:
    """What every mutation that starts a job returns."""
    if change.value is None:
        return BuyingGroupJobPayload(job=None, user_errors=from_problems(change.problems,
                                                                         "input"))
    return BuyingGroupJobPayload(job=job_of(info, change.value.job),
                                 deduplicated=not change.value.new, user_errors=[])


@strawberry.type
class JobMutations:
    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue a job that creates a buying group for every account "
                         "of the list that has none for this solution interest yet.")
    async def create_buying_groups(
        self, info: strawberry.Info, input: CreateBuyingGroupsInput
    ) -> BuyingGroupJobPayload:
        interest_id = decode_id(input.solution_interest_id, "SolutionInterest",
                                ["input", "solutionInterestId"])
        list_id = decode_id(input.account_list_id, "AccountList", ["input", "accountListId"])
        async with info.context.work(info) as work:
            change = await jobs.generate_groups(work, interest_id, list_id)
        return started(info, change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Queue a job that re-applies the template's rules to the "
                         "solution interest's existing groups (as the daily run does).")
    async def maintain_buying_groups(
        self, info: strawberry.Info, input: MaintainBuyingGroupsInput
    ) -> BuyingGroupJobPayload:
        path = ["input", "solutionInterestId"]
        interest_id = decode_id(input.solution_interest_id, "SolutionInterest", path)
        async with info.context.work(info) as work:
            change = await jobs.maintain_groups(work, interest_id)
        return started(info, change)

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Stop a queued or running job; what it did stays done.")
    async def cancel_buying_group_job(
        self, info: strawberry.Info, input: BuyingGroupJobIdInput
    ) -> BuyingGroupJobPayload:
        path = ["input", "id"]
        job_id = decode_id(input.id, "BuyingGroupJob", path)
        async with info.context.work(info) as work:
            change = await jobs.cancel_job(work, job_id)
        if change.value is None:
            return BuyingGroupJobPayload(job=None, user_errors=from_problems(change.problems,
                                                                             "input"))
        return BuyingGroupJobPayload(job=job_of(info, change.value), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Delete a job record; the groups it created stay.")
    async def delete_buying_group_job(
        self, info: strawberry.Info, input: BuyingGroupJobIdInput
    ) -> DeleteBuyingGroupJobPayload:
        job_id = decode_id(input.id, "BuyingGroupJob", ["input", "id"])
        async with info.context.work(info) as work:
            change = await jobs.delete_job(work, job_id)
        if change.value is None:
            return DeleteBuyingGroupJobPayload(deleted_job_id=None,
                                               user_errors=from_problems(change.problems,
                                                                         "input"))
        return DeleteBuyingGroupJobPayload(deleted_job_id=input.id, user_errors=[])

"""GraphQL view of background jobs (BuyingGroupJob, SPEC.md §5)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from service.api.nodes import convert_all, load_nodes
from service.store.jobs import Job, JobKind

if TYPE_CHECKING:
    from service.api.solution_interests import SolutionInterest

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
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    row: strawberry.Private[Job]

    @strawberry.field
    async def solution_interest(
        self, info: strawberry.Info
    ) -> Annotated[SolutionInterest, strawberry.lazy("service.api.solution_interests")] | None:
        from service.api.solution_interests import SolutionInterest

        if self.row.solution_interest_id is None:
            return None
        row = await info.context.loaders.solution_interest.load(self.row.solution_interest_id)
        return SolutionInterest.from_row(row) if row else None

    @classmethod
    def from_row(cls, job: Job) -> BuyingGroupJob:
        return cls(
            id=str(job.id),
            kind=JobKind(job.kind),
            status=BuyingGroupJobStatus(job.status.value),
            progress=JobProgress(total=job.progress_total, processed=job.progress_processed),
            buying_groups_created=job.buying_groups_created,
            buying_groups_updated=job.buying_groups_updated,
            error=job.error,
            attempts=job.attempts,
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
        return convert_all(visible, cls.from_row)


async def queue_job(info: strawberry.Info, job: Job) -> None:
    """Hand a new job row to the workers; if Redis is unreachable the sweeper does it later."""
    from service.queue import enqueue

    services = info.context.services
    try:
        await enqueue(services.redis, services.settings.queue_name, job.id)
    except Exception:
        log.warning("could not queue job %s now; the sweeper will", job.id, exc_info=True)

"""Starting a bulk export through GraphQL; the file is served at /exports/{the job's id}
(service/http/exports.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import strawberry

from service.api import engagement as engagement_api
from service.api.buying_group_browse import BROWSE_TREND_DAYS, BuyingGroupFilter, to_group_filter
from service.api.export_files import ExportFormat, ExportKind
from service.api.jobs import BuyingGroupJobPayload, started
from service.api.permissions import RequireWrite
from service.store.exports import ExportRequest
from service.usecases import exports as export_cases


@strawberry.input(description="What to export.")
class StartExportInput:
    kind: ExportKind = strawberry.field(description=(
        "BUYING_GROUPS: a row per group with its scores; MEMBERS: a row per membership (with "
        "the person and the role); SCORE_HISTORY: a row per group and day; EVENTS: the event "
        "log (what it still keeps, EVENT_RETENTION_DAYS)."))
    format: ExportFormat = ExportFormat.CSV
    filter: BuyingGroupFilter | None = strawberry.field(default=None, description=(
        "Which groups (as buyingGroups filters them); EVENTS: the events of those groups."))
    since: datetime | None = strawberry.field(default=None, description=(
        "SCORE_HISTORY: days from this one; EVENTS: events at or after it; others: unused."))


@strawberry.type
class ExportMutations:
    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Export data as a file: a job (its progress in `job.progress`) whose file, once it "
        "SUCCEEDED, is at `job.export.downloadPath` (with the API key) or `job.export.url` (a "
        "signed link), for EXPORT_RETENTION_HOURS. The same request while one waits or runs "
        "is that job (`deduplicated`); at most 5 exports wait or run at once "
        "(LIMIT_REACHED)."))
    async def start_export(self, info: strawberry.Info, input: StartExportInput
                           ) -> BuyingGroupJobPayload:
        group_filter = to_group_filter(input.filter)
        if group_filter.trend is not None:
            today = (await engagement_api.window(info))[1]
            group_filter = dataclasses.replace(
                group_filter, trend_since=today - timedelta(days=BROWSE_TREND_DAYS))
        request = ExportRequest(input.kind.value, input.format.value, group_filter, input.since)
        async with info.context.work(info) as work:
            change = await export_cases.start_export(work, request)
        return started(info, change)

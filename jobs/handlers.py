"""Every job kind and the function that runs it: the one table the runner reads (a test checks
that each kind has its handler)."""

from __future__ import annotations

from jobs.activity_sync import sync_activities
from jobs.buying_groups import apply_stage_model, create_buying_groups, maintain_buying_groups
from jobs.exports import export_rows
from jobs.rescoring import refresh_scores
from jobs.run import Handler
from service.store.jobs import JobKind

# Keyed by the kind's text (a JobKind is one), as job rows hold it.
HANDLERS: dict[str, Handler] = {
    JobKind.CREATE: create_buying_groups,
    JobKind.MAINTAIN: maintain_buying_groups,
    JobKind.SYNC_ACTIVITIES: sync_activities,
    JobKind.REFRESH_SCORES: refresh_scores,
    JobKind.APPLY_STAGE_MODEL: apply_stage_model,
    JobKind.EXPORT: export_rows,
}

"""GET /exports/{job id}: an export's file, with the tenant's API key or a signed link.

The file is streamed a chunk at a time, each read in a short transaction of its own, so a slow
client holds no database connection between chunks. Every refusal is a JSON error with a code:
UNAUTHENTICATED (401), LINK_INVALID (403: tampered, or made for a key since revoked),
LINK_EXPIRED (410), NOT_FOUND (404: no such export for this tenant), EXPORT_NOT_READY (409:
waiting, running or failed), EXPORT_EXPIRED (410: deleted after EXPORT_RETENTION_HOURS)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from service.api.context import Services
from service.api.nodes import uuid_of
from service.domain.export_links import link_key, valid
from service.http.authentication import UNAUTHENTICATED, request_principal
from service.http.bodies import json_error
from service.infra.config import Settings
from service.store import api_keys as key_store
from service.store import exports as export_store
from service.store import jobs as job_store
from service.store.exports import ExportFile
from service.store.jobs import JobKind, JobStatus

_MEDIA = {"CSV": "text/csv; charset=utf-8", "NDJSON": "application/x-ndjson"}
_SUFFIX = {"CSV": "csv", "NDJSON": "ndjson"}


def _not_found() -> Response:
    return json_error(404, "No such export for this tenant.", "NOT_FOUND")


async def _link_tenant(services: Services, settings: Settings, job_id: UUID,
                       request: Request) -> UUID | Response:
    """The tenant a signed link is good for, or the refusal."""
    given = request.query_params
    invalid = json_error(403, "This download link is not valid; ask the API for a new one "
                         "(`job.export.url`).", "LINK_INVALID")
    try:
        key_id, expires = UUID(given["key"]), int(given["expires"])
    except (KeyError, ValueError):
        return invalid
    if not settings.secret_key:
        return invalid
    key = link_key(settings.secret_key)
    if not valid(key, job_id, key_id, expires, given["signature"]):
        return invalid
    if expires < time.time():
        return json_error(410, "This download link has expired; ask the API for a new one.",
                          "LINK_EXPIRED")
    async with services.db.system() as conn:
        tenant_id = await key_store.live_key_tenant(conn, key_id)
    return invalid if tenant_id is None else tenant_id


async def _key_tenant(services: Services, request: Request) -> UUID | Response:
    principal = await request_principal(
        services, request, UNAUTHENTICATED.removesuffix(".") + ", or use a signed link.")
    return principal if isinstance(principal, Response) else principal.tenant_id


async def download(request: Request) -> Response:
    services: Services = request.state.services
    settings = services.settings
    job_id = uuid_of(request.path_params["job_id"], "BuyingGroupJob")
    if "signature" in request.query_params:
        if job_id is None:
            return json_error(403, "This download link is not valid.", "LINK_INVALID")
        tenant = await _link_tenant(services, settings, job_id, request)
    else:
        tenant = await _key_tenant(services, request)
    if isinstance(tenant, Response):
        return tenant
    if job_id is None:
        return _not_found()
    async with services.db.tenant(tenant, readonly=True) as conn:
        job = (await job_store.jobs_by_ids(conn, [job_id])).get(job_id)
        file = await export_store.export_file(conn, job_id)
    if job is None or job.kind != JobKind.EXPORT:
        return _not_found()
    if file is None and job.status is JobStatus.SUCCEEDED:
        return json_error(410, "This export's file was deleted (exports are kept "
                          "EXPORT_RETENTION_HOURS); start it again.", "EXPORT_EXPIRED")
    if file is None or file.completed_at is None:
        state = job.status.value.lower()
        return json_error(409, f"This export is not ready: its job is {state}"
                          + (f" ({job.error})" if job.error else "") + ".",
                          "EXPORT_NOT_READY")
    return StreamingResponse(_chunks(services, tenant, file), media_type=_MEDIA[file.format],
                             headers=_headers(file))


def _headers(file: ExportFile) -> dict[str, str]:
    day = (file.completed_at or datetime.now(UTC)).strftime("%Y-%m-%d")
    name = f"buying-groups-{file.kind.lower().replace('_', '-')}-{day}.{_SUFFIX[file.format]}"
    return {"Content-Length": str(file.bytes),
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


async def _chunks(services: Services, tenant_id: UUID, file: ExportFile
                  ) -> AsyncIterator[bytes]:
    for seq in range(1, file.chunks + 1):
        async with services.db.tenant(tenant_id, readonly=True) as conn:
            data = await export_store.chunk(conn, file.job_id, seq)
        if data is None:  # deleted meanwhile: the short body tells the client (Content-Length)
            return
        yield data

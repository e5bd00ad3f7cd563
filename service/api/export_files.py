"""An export job's file as GraphQL shows it: its size, until when it can be downloaded, and
where (`BuyingGroupJob.export`)."""

from __future__ import annotations

import enum
import time
from datetime import datetime
from urllib.parse import quote, urlencode

import strawberry

from service.api.errors import ClientError, ErrorCode
from service.domain.export_links import link_key, signature
from service.events.changes import global_id
from service.store.exports import ExportFile as StoredFile


@strawberry.enum(description="What an export holds.")
class ExportKind(enum.Enum):
    BUYING_GROUPS = "BUYING_GROUPS"
    MEMBERS = "MEMBERS"
    SCORE_HISTORY = "SCORE_HISTORY"
    EVENTS = "EVENTS"


@strawberry.enum(description=(
    "CSV: a header row, RFC 4180 quoting, UTF-8; a text cell starting with =, +, -, @, a tab "
    "or a carriage return gets a leading apostrophe, so that a spreadsheet shows it as text "
    "instead of running it. NDJSON: one JSON object a line, the same fields."))
class ExportFormat(enum.Enum):
    CSV = "CSV"
    NDJSON = "NDJSON"


def download_path(job_id: str) -> str:
    return "/exports/" + quote(global_id("BuyingGroupJob", job_id), safe="")


@strawberry.type(description="An export job's file.")
class ExportFile:
    kind: ExportKind
    format: ExportFormat
    rows: int = strawberry.field(description="Rows in the file (0 until it is complete).")
    bytes: int = strawberry.field(description="Its size (0 until it is complete).")
    completed_at: datetime | None
    expires_at: datetime | None = strawberry.field(description=(
        "When it is deleted (EXPORT_RETENTION_HOURS after it was completed)."))
    row: strawberry.Private[StoredFile]

    @strawberry.field(description=(
        "Where to GET it, with the tenant's API key (`Authorization: Bearer …`), relative to "
        "the service's address; null until it is complete."))
    def download_path(self) -> str | None:
        return download_path(str(self.row.job_id)) if self.row.completed_at else None

    @strawberry.field(description=(
        "A link that downloads it without the API key, for `expiresIn` seconds (at most "
        "EXPORT_LINK_SECONDS), made for the key asking: revoking that key ends it. Relative "
        "to the service's address; null until the file is complete or when the service has "
        "no SECRET_KEY."))
    def url(self, info: strawberry.Info, expires_in: int = 600) -> str | None:
        settings = info.context.settings
        if not 1 <= expires_in <= settings.export_link_seconds:
            raise ClientError(f"`expiresIn` must be between 1 and {settings.export_link_seconds}"
                              " seconds", ErrorCode.INVALID_VALUE, field=["expiresIn"])
        if not self.row.completed_at or not settings.secret_key:
            return None
        key_id = info.context.tenant_principal.api_key_id
        expires = int(time.time()) + expires_in
        if self.row.expires_at is not None:
            expires = min(expires, int(self.row.expires_at.timestamp()))
        sign = signature(link_key(settings.secret_key), self.row.job_id, key_id, expires)
        query = urlencode({"key": str(key_id), "expires": expires, "signature": sign})
        return f"{download_path(str(self.row.job_id))}?{query}"

    @classmethod
    def from_row(cls, row: StoredFile) -> ExportFile:
        return cls(kind=ExportKind(row.kind), format=ExportFormat(row.format), rows=row.rows,
                   bytes=row.bytes, completed_at=row.completed_at, expires_at=row.expires_at,
                   row=row)

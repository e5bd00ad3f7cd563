"""`buying-groups export`: a bulk export straight to a file or standard output, streamed from
PostgreSQL as the API's export job streams it (the same rows, columns and neutralised cells)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from service.cli.admin import database, resolve_tenant
from service.infra.config import Settings
from service.store import exports as export_store
from service.store.exports import ExportRequest
from service.store.group_browse import GroupFilter


def cmd_export(settings: Settings, args: argparse.Namespace) -> None:
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    except ValueError:
        sys.exit(f"--since {args.since!r} is not a date or time (e.g. 2026-12-01)")
    request = ExportRequest(args.kind.upper(), args.format.upper(), GroupFilter(), since)

    async def run(out: BinaryIO) -> int:
        async with database(settings) as db:
            tenant_id, _ = await resolve_tenant(db, args.tenant)
            sql, params = export_store.export_query(tenant_id, request)

            async def write(data: bytes) -> None:
                out.write(data)

            async with db.tenant(tenant_id, readonly=True) as conn:
                return await export_store.copy_out(conn, sql, params, request.format, write)

    if args.output in (None, "-"):
        rows = asyncio.run(run(sys.stdout.buffer))
        sys.stdout.buffer.flush()
    else:
        path = Path(args.output)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:  # renamed once whole: no half file under the name
            rows = asyncio.run(run(out))
        partial.replace(path)
    print(f"exported {rows} row(s)", file=sys.stderr)


def add_export_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="write a tenant's data as CSV or NDJSON (what "
                            "startExport exports, without a job)")
    export.add_argument("kind", choices=[k.lower() for k in export_store.KINDS],
                        help="buying_groups, members, score_history or events")
    export.add_argument("--format", choices=["csv", "ndjson"], default="csv",
                        help="CSV (a header row, RFC 4180, formulas neutralised) or NDJSON "
                        "(one JSON object a line); default csv")
    export.add_argument("--since", help="score_history: days from this date; events: from "
                        "this time (ISO 8601)")
    export.add_argument("--output", "-o", help="the file to write (default: standard output)")
    export.add_argument("--tenant", help="tenant name or id (optional when there is only one)")
    export.set_defaults(fn=cmd_export)

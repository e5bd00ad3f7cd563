"""The EXPORT job: the rows of a bulk export streamed out of PostgreSQL (COPY) into the file's
chunks, a chunk at a time, so the worker holds one chunk whatever the export's size."""

from __future__ import annotations

import time

from jobs.run import JobRun
from service.store import exports as export_store
from service.usecases import exports as export_cases

CHUNK_BYTES = 1 << 20
PROGRESS_SECONDS = 1.0


async def export_rows(run: JobRun) -> None:
    tenant_id = run.job.tenant_id
    request = export_cases.request_of(run.job.payload)
    sql, args = export_store.export_query(tenant_id, request)
    async with run.work() as work, \
            run.db.tenant(tenant_id, readonly=True) as reader:
        await export_cases.start_file(work, request)
        estimate = await export_store.plan_rows(reader, sql, args)
        await run.progress(total=estimate, processed=0)
        pending = bytearray()
        chunks = size = lines = 0
        reported = time.monotonic()

        async def flush() -> None:
            nonlocal chunks, size
            chunks += 1
            size += len(pending)
            await export_cases.add_chunk(work, chunks, bytes(pending))
            pending.clear()

        async def output(data: bytes) -> None:
            nonlocal lines, reported
            pending.extend(data)
            lines += data.count(b"\n")
            if len(pending) >= CHUNK_BYTES:
                await flush()
                if time.monotonic() - reported >= PROGRESS_SECONDS:
                    reported = time.monotonic()
                    await run.progress(total=max(estimate, lines), processed=lines)

        rows = await export_store.copy_out(reader, sql, args, request.format, output)
        if pending:
            await flush()
        await export_cases.complete_file(work, rows=rows, size=size, chunks=chunks,
                                         keep_hours=run.settings.export_retention_hours)
    await run.progress(total=rows, processed=rows)

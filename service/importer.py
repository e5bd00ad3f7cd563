"""`buying-groups import accounts|people FILE.csv`: streams a CSV through the same checks and
set-based upserts as the GraphQL mutations, 1,000 rows per statement, with a progress bar.

Headers are the API's field names (externalId, accountExternalId, jobTitle, …; snake_case works
too); `attributes.<key>` columns fill the attributes object, or an `attributes` column may hold a
JSON object. Empty cells are left out, so an import never blanks a stored value.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from service.catalogue import BulkResult, upsert_accounts, upsert_people
from service.db import Connection, Database
from service.domain import json_values
from service.domain.records import MAX_BATCH

NUMBERS = {"annualRevenue": float, "employeeCount": int}
ACCOUNT_COLUMNS = {"externalId", "name", "parentExternalId", "industry", "region", "country",
                   "annualRevenue", "employeeCount"}
PERSON_COLUMNS = {"externalId", "accountExternalId", "email", "firstName", "lastName",
                  "jobTitle", "department", "seniority", "city", "country"}


def camel(name: str) -> str:
    head, *rest = re.split(r"[_\s]+", name.strip())
    return head[:1].lower() + head[1:] + "".join(p[:1].upper() + p[1:] for p in rest)


@dataclass
class Rejected:
    line: int
    external_id: str
    code: str
    message: str


@dataclass
class ImportSummary:
    rows: int = 0
    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def codes(self) -> Counter[str]:
        return Counter(r.code for r in self.rejected)


def row_to_item(row: dict[str, str], columns: set[str]) -> tuple[dict[str, Any], str | None]:
    """A CSV row as an API item; the second value is a problem with the row's own format."""
    item: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for header, raw in row.items():
        if header is None or raw is None:
            continue
        value = raw.strip()
        if value == "":
            continue
        if header.startswith("attributes."):
            attributes[header[len("attributes."):]] = value
            continue
        name = camel(header)
        if name == "attributes":
            try:
                parsed = json_values.loads(value)
            except (ValueError, RecursionError):
                return item, "attributes is not valid JSON"
            if not isinstance(parsed, dict):
                return item, "attributes must be a JSON object"
            attributes = {**parsed, **attributes}
        elif name in NUMBERS and name in columns:
            try:
                item[name] = NUMBERS[name](value)
            except ValueError:
                return item, f"{name} is not a number: {value!r}"
        elif name in columns:
            item[name] = value
    if attributes:
        item["attributes"] = attributes
    return item, None


def batches(
    reader: csv.DictReader[str], size: int
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Rows in groups of `size`, each with the line it ended on (for error reports)."""
    batch: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        batch.append((reader.line_num, row))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


Write = Callable[[Connection, UUID, list[dict[str, Any]]], Any]


async def _import_pass(
    db: Database, tenant_id: UUID, handle: TextIO, columns: set[str], write: Write,
    summary: ImportSummary, progress: Callable[[int], None], *,
    keep: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda item: item,
    count_rows: bool = True,
) -> None:
    reader = csv.DictReader(handle)
    for batch in batches(reader, MAX_BATCH):
        items: list[dict[str, Any]] = []
        lines: list[int] = []
        for line, row in batch:
            if count_rows:
                summary.rows += 1
            item, problem = row_to_item(row, columns)
            if problem:
                summary.rejected.append(Rejected(line, item.get("externalId", ""),
                                                 "INVALID_VALUE", problem))
                continue
            kept = keep(item)
            if kept is not None:
                items.append(kept)
                lines.append(line)
        if items:
            async with db.tenant(tenant_id) as conn:
                result: BulkResult[Any] = await write(conn, tenant_id, items)
            if count_rows:
                summary.written += len(result.written)
            for index, issues in sorted(result.problems.items()):
                for issue in issues:
                    summary.rejected.append(Rejected(
                        lines[index], str(items[index].get("externalId", "")), issue.code,
                        f"{'.'.join(map(str, issue.path))}: {issue.message}"))
        progress(handle.buffer.tell() if hasattr(handle, "buffer") else 0)


async def import_csv(
    db: Database, tenant_id: UUID, kind: str, path: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ImportSummary:
    """Import the file; `progress(bytes done, bytes to do)` is called after every batch."""
    summary = ImportSummary()
    # The importer runs alone on its event loop, so plain blocking file reads are fine here.
    size = path.stat().st_size  # noqa: ASYNC240
    passes = 2 if kind == "accounts" else 1

    def in_pass(number: int) -> Callable[[int], None]:
        return lambda position: progress(number * size + position, passes * size)

    if kind == "people":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            await _import_pass(db, tenant_id, handle, PERSON_COLUMNS, upsert_people, summary,
                               in_pass(0))
        return summary
    # Accounts in two passes, so a child may come before its parent in the file: first every
    # account without its parent, then the parent links.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        await _import_pass(
            db, tenant_id, handle, ACCOUNT_COLUMNS, upsert_accounts, summary, in_pass(0),
            keep=lambda item: {k: v for k, v in item.items() if k != "parentExternalId"},
        )
    failed = {r.line for r in summary.rejected}

    def parent_link(item: dict[str, Any]) -> dict[str, Any] | None:
        if "parentExternalId" not in item or "name" not in item:
            return None
        return {"externalId": item["externalId"], "name": item["name"],
                "parentExternalId": item["parentExternalId"]}

    links = ImportSummary()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        await _import_pass(db, tenant_id, handle, ACCOUNT_COLUMNS, upsert_accounts, links,
                           in_pass(1), keep=parent_link, count_rows=False)
    summary.rejected += [r for r in links.rejected if r.line not in failed]
    summary.written -= len({r.line for r in links.rejected if r.line not in failed})
    summary.rejected.sort(key=lambda r: r.line)
    return summary

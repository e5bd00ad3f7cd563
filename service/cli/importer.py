"""`buying-groups import accounts|people FILE.csv`: a CSV through the same checks and set-based
upserts as the GraphQL mutations, 1,000 rows per statement, with a progress bar. People are
streamed; accounts are read whole first, so that parents are written before their children.

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

from service.domain import json_values
from service.domain.records import MAX_BATCH
from service.infra.db import Database
from service.usecases.catalogue import (
    BulkResult,
    refresh_statistics,
    upsert_accounts,
    upsert_people,
)
from service.usecases.unit_of_work import CLI, UnitOfWork, unit_of_work

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
    row: dict[str, str] = field(default_factory=dict)  # the file's own row, as it was


@dataclass
class ImportSummary:
    rows: int = 0
    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the file's header, in its order
    analyzed_at: int = 5_000  # rows written when the statistics were last refreshed

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


Write = Callable[[UnitOfWork, list[dict[str, Any]]], Any]


def _parsed(batch: list[tuple[int, dict[str, str]]], columns: set[str],
            summary: ImportSummary, raw: dict[int, dict[str, str]]
            ) -> list[tuple[int, dict[str, Any]]]:
    """The batch's rows as API items, with their lines (their rows kept in `raw` by line, for
    the rejects file); rows whose own format is wrong go to the summary as INVALID_VALUE."""
    items = []
    for line, row in batch:
        summary.rows += 1
        item, problem = row_to_item(row, columns)
        if problem:
            summary.rejected.append(Rejected(line, item.get("externalId", ""), "INVALID_VALUE",
                                             problem, dict(row)))
        else:
            raw[line] = row
            items.append((line, item))
    return items


def _position(handle: TextIO) -> int:
    """How far into the file the reader is, in bytes (read ahead by a buffer)."""
    return handle.buffer.tell() if hasattr(handle, "buffer") else 0


async def _import_pass(
    db: Database, tenant_id: UUID, handle: TextIO, columns: set[str], write: Write,
    summary: ImportSummary, progress: Callable[[int], None],
) -> None:
    reader = csv.DictReader(handle)
    summary.columns = list(reader.fieldnames or [])
    for batch in batches(reader, MAX_BATCH):
        raw: dict[int, dict[str, str]] = {}
        if items := _parsed(batch, columns, summary, raw):
            await _write(db, tenant_id, write, items, summary, raw)
        progress(_position(handle))


def parents_first(items: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The accounts ordered so that each comes after every row of the file that names its
    parent (a child may come before its parent in the file). Rows on a loop of parents come
    last, where the write rejects them (CYCLE, or UNKNOWN_PARENT)."""
    lines_of: dict[str, list[int]] = {}
    for position, (_line, item) in enumerate(items):
        lines_of.setdefault(str(item.get("externalId", "")), []).append(position)
    children: dict[int, list[int]] = {p: [] for p in range(len(items))}
    waiting_on = [0] * len(items)
    for position, (_line, item) in enumerate(items):
        parent = item.get("parentExternalId")
        for above in lines_of.get(str(parent), []) if parent else []:
            children[above].append(position)
            waiting_on[position] += 1
    ready = [p for p in range(len(items)) if waiting_on[p] == 0]
    order: list[int] = []
    while ready:  # Kahn's order, layer by layer: no recursion, however deep the tree
        order += ready
        following: list[int] = []
        for position in ready:
            for child in children[position]:
                waiting_on[child] -= 1
                if waiting_on[child] == 0:
                    following.append(child)
        ready = following
    looped = [p for p in range(len(items)) if waiting_on[p] > 0]
    return [items[p] for p in order + looped]


async def _write(db: Database, tenant_id: UUID, write: Write,
                 batch: list[tuple[int, dict[str, Any]]], summary: ImportSummary,
                 raw: dict[int, dict[str, str]]) -> None:
    """One batch in one transaction; the summary counts exactly what the write stored. Each
    time the rows written doubled (from 10,000 on), the tables' statistics are refreshed: the
    plans of the next batches look rows up by key instead of reading the tenant's whole table
    (migration 0035)."""
    async with unit_of_work(db, tenant_id, CLI, audit="import") as work:
        result: BulkResult[Any] = await write(work, [item for _, item in batch])
    summary.written += len(result.written)
    if summary.written >= summary.analyzed_at * 2:
        await refresh_statistics(db)
        summary.analyzed_at = summary.written
    for index, issues in sorted(result.problems.items()):
        line, item = batch[index]
        for issue in issues:
            summary.rejected.append(Rejected(
                line, str(item.get("externalId", "")), issue.code,
                f"{'.'.join(map(str, issue.path))}: {issue.message}", dict(raw.get(line, {}))))


async def import_csv(
    db: Database, tenant_id: UUID, kind: str, path: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ImportSummary:
    """Import the file; `progress(bytes done, bytes to do)` is called after every batch.
    A row is either stored whole or reported rejected, never both."""
    summary = ImportSummary()
    # The importer runs alone on its event loop, so plain blocking file reads are fine here.
    size = path.stat().st_size  # noqa: ASYNC240
    if kind == "people":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            await _import_pass(db, tenant_id, handle, PERSON_COLUMNS, upsert_people, summary,
                               lambda position: progress(position, size))
        return summary
    # Accounts are read whole first: a child may come before its parent in the file, and is
    # written after it, with its parent, in one statement (as upsertAccounts writes it).
    items: list[tuple[int, dict[str, Any]]] = []
    raw: dict[int, dict[str, str]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for batch in batches(reader, MAX_BATCH):
            items += _parsed(batch, ACCOUNT_COLUMNS, summary, raw)
            progress(_position(handle), 2 * size)
        summary.columns = list(reader.fieldnames or [])
    ordered = parents_first(items)
    for start in range(0, len(ordered), MAX_BATCH):
        await _write(db, tenant_id, upsert_accounts, ordered[start:start + MAX_BATCH], summary,
                     raw)
        progress(size + size * min(start + MAX_BATCH, len(ordered)) // max(len(ordered), 1),
                 2 * size)
    summary.rejected.sort(key=lambda r: r.line)
    return summary


def write_rejects(summary: ImportSummary, out: TextIO) -> None:
    """The rejected rows as the file had them, each once, after its line number and before
    its codes and reasons (several joined by "; "): correct the file and import it again."""
    columns = [c for c in summary.columns if c not in ("line", "code", "message")]
    by_line: dict[int, list[Rejected]] = {}
    for rejected in summary.rejected:
        by_line.setdefault(rejected.line, []).append(rejected)
    writer = csv.writer(out)
    writer.writerow(["line", *columns, "code", "message"])
    for line, found in sorted(by_line.items()):
        row = found[0].row
        writer.writerow([line, *(row.get(c, "") for c in columns),
                         "; ".join(dict.fromkeys(r.code for r in found)),
                         "; ".join(r.message for r in found)])

"""What `bench.large_tenant` reports: each phase against its floor, the I/O it asked of
PostgreSQL, and how each grows from a tenth of the sizes to the full sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.buying_groups import CHUNK


@dataclass
class Sizes:
    people: int
    accounts: int
    activities: int
    days: int

    def tenth(self) -> Sizes:
        return Sizes(self.people // 10, self.accounts // 10, self.activities // 10, self.days)


@dataclass(frozen=True)
class Io:
    """What a phase asked of PostgreSQL: WAL written, and blocks read from outside its shared
    buffers (the OS cache or the disk) and the time spent reading them (`track_io_timing`):
    where a phase grows faster than its data, these say whether its indexes and tables stopped
    fitting in memory, and what that cost."""
    wal_bytes: int
    reads: int
    read_seconds: float = 0.0
    write_seconds: float = 0.0  # the backends' own writes of dirty buffers they evicted

    def __sub__(self, before: Io) -> Io:
        return Io(self.wal_bytes - before.wal_bytes, self.reads - before.reads,
                  self.read_seconds - before.read_seconds,
                  self.write_seconds - before.write_seconds)

    def __str__(self) -> str:
        timed = (f" in {self.read_seconds:.2f} s, {self.write_seconds:.2f} s writing evicted "
                 "ones" if self.reads else "")
        return (f"WAL {self.wal_bytes / 2**20:,.0f} MiB, {self.reads:,} blocks read from "
                f"outside shared buffers{timed}")


@dataclass
class Phase:
    name: str
    seconds: float
    floor: float
    floor_name: str
    memory_mib: float | None = None
    io: Io | None = None


@dataclass
class Report:
    sizes: Sizes
    phases: list[Phase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    api_peak_mib: float = 0.0
    bytes_per_million: float = 0.0


def people_pages(sizes: Sizes, pages: int) -> str:
    """How many of the people table's pages a chunk of accounts reads: the benchmark deals
    people to accounts in turn, so a chunk's people are spread over the whole table, and while
    the table is small every chunk reads all of it (what makes the jobs grow faster than their
    data from the tenth to the full size, up to a chunk's people)."""
    people = CHUNK * sizes.people // sizes.accounts
    expected = pages * (1 - (1 - 1 / max(1, pages)) ** people)
    return (f"people: {pages:,} pages; a chunk of {CHUNK:,} accounts reads its {people:,} "
            f"people from about {expected:,.0f} of them")


def per_chunk(job: str, seconds: float, sizes: Sizes) -> str:
    chunks = -(-sizes.accounts // CHUNK)
    return f"{job}: {seconds / chunks:.2f} s a chunk of {CHUNK:,} accounts ({chunks:,} chunks)"


def show(report: Report) -> None:
    s = report.sizes
    print(f"\n== {s.people:,} people, {s.accounts:,} accounts, {s.activities:,} activities "
          f"over {s.days} days")
    for note in report.notes:
        print(f"  {note}")
    for p in report.phases:
        memory = f", worker peak {p.memory_mib:.0f} MiB" if p.memory_mib else ""
        io = f"; {p.io}" if p.io else ""
        print(f"  {p.name}: {p.seconds:.2f} s; floor ({p.floor_name}) {p.floor:.3f} s = "
              f"{p.seconds / p.floor:.2f}x{memory}{io}")
    worker = max((p.memory_mib or 0) for p in report.phases)
    print(f"  peak memory: worker {worker:.0f} MiB, API {report.api_peak_mib:.0f} MiB; "
          f"database {report.bytes_per_million / 2**20:.0f} MiB per million activities "
          "(raw, rollup and tallies with their indexes)")


def growth(small: Report, large: Report) -> None:
    print("\n== growth from a tenth of the sizes to the full sizes (goal <= 11x)")
    for a, b in zip(small.phases, large.phases, strict=True):
        io = (f"; WAL {b.io.wal_bytes / max(1, a.io.wal_bytes):.1f}x, reads outside shared "
              f"buffers {b.io.reads / max(1, a.io.reads):.1f}x" if a.io and b.io else "")
        if a.io and b.io and a.io.read_seconds:
            io += f" (their time {b.io.read_seconds / a.io.read_seconds:.1f}x)"
        print(f"  {b.name.split(' (')[0].split(':')[0]}: {a.seconds:.2f} s -> {b.seconds:.2f} s "
              f"= {b.seconds / a.seconds:.1f}x (floor {b.floor / a.floor:.1f}x){io}")

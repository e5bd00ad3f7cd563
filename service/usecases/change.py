"""What a use case returns: the value it changed, or the problems that stopped it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.domain.problems import Problem
from service.events.changes import Event
from service.usecases.unit_of_work import UnitOfWork

T = TypeVar("T")


@dataclass
class Change(Generic[T]):
    """`value` when the use case changed something, else `problems` (paths relative to the
    caller's input). `events` were handed to the unit of work when it was applied."""

    value: T | None = None
    problems: list[Problem] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.problems


def refused(path: str | Sequence[str | int], code: str, message: str) -> Change[T]:
    """A change that did not happen, for one reason."""
    where = (path,) if isinstance(path, str) else tuple(path)
    return Change(problems=[Problem(where, code, message)])


def applied(work: UnitOfWork, change: Change[T]) -> Change[T]:
    """The change's events go to the unit of work; a refused change discards the work, so
    nothing it wrote before it found the problem stays."""
    if change.problems:
        work.discard()
    else:
        work.record(change.events)
    return change

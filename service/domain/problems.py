"""A validation problem found by a pure rule: where it is, a code, and a message for people."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: tuple[str | int, ...]
    code: str
    message: str

    def under(self, *prefix: str | int) -> Problem:
        return Problem((*prefix, *self.path), self.code, self.message)

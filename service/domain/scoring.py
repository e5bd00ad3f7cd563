"""How much one activity counts under a scoring model (docs/guide.md, the engagement score)."""

from __future__ import annotations

from fractions import Fraction

MODES = ("COUNT", "WEIGHTED")


def activity_factor(mode: str, weight: int) -> Fraction:
    """COUNT: 1 for every type with a weight above 0, else 0. WEIGHTED: weight / 100."""
    if mode == "COUNT":
        return Fraction(1) if weight > 0 else Fraction(0)
    if mode == "WEIGHTED":
        return Fraction(weight, 100)
    raise ValueError(f"unknown scoring mode {mode!r}")

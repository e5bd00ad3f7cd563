"""JSON values as we store them: read exactly, and refused when PostgreSQL's jsonb or our JSON
encoder would change or reject them. One rule for every JSON value that enters (API input,
CSV import, activity sources)."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# orjson keeps integers exactly only within [-2**63, 2**64); beyond, it reads them as floats
# (changing them silently) and cannot write them at all.
SMALLEST_INT = -(2**63)
LARGEST_INT = 2**64 - 1
MAX_DEPTH = 64
# A run of 19 digits may be an integer orjson cannot read exactly (-2**63 - 1 has 19 digits);
# such rare documents take the standard parser, which is exact. Every digit made "0" and the
# run searched as bytes: a tenth of a regular expression's time on a page of activities.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping every integer exact (orjson's speed for all but the rare document
    with a very long number); NaN and Infinity are refused, as JSON has neither."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_RUN in raw.translate(_DIGITS_AS_ZERO):
        return json.loads(raw, parse_constant=_no_constants)
    return orjson.loads(raw)


def problem(value: Any, depth: int = 0) -> str | None:
    """Why `value` cannot be stored as it is, or None. Integers beyond 64 bits, infinite
    floats and the NUL character (which PostgreSQL's jsonb refuses) are refused rather than
    changed."""
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        return "holds the NUL character (\\u0000)" if "\x00" in value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if SMALLEST_INT <= value <= LARGEST_INT:
            return None
        return f"holds the integer {value}, beyond the 64-bit range; send it as a string"
    if isinstance(value, float):
        return None if math.isfinite(value) else "holds a number too large to store"
    if isinstance(value, list):
        for item in value:
            if found := problem(item, depth + 1):
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "has a key that is not text"
            if "\x00" in key:
                return "holds the NUL character (\\u0000) in a key"
            if found := problem(item, depth + 1):
                return found
        return None
    return f"holds a {type(value).__name__}, which is not JSON"


def encoded(value: Any) -> tuple[bytes, None] | tuple[None, str]:
    """A value made of what a JSON parser returns (dict, list, str, int, float, bool, None) as
    the JSON we store, or why it cannot be stored (`problem`'s answer, the reference). orjson
    writes a common value in one pass; only a value it refuses or may have changed (NaN and
    Infinity become null), one holding the NUL character, or one with more brackets than the
    depth allows takes `problem`'s walk."""
    try:
        data: bytes | None = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        data = None
    if (data is None or b"null" in data or b"\\u0000" in data
            or data.count(b"[") + data.count(b"{") > MAX_DEPTH):
        found = problem(value)
        if found is not None:
            return None, found
        if data is None:
            return None, "cannot be written as JSON"
    return data, None

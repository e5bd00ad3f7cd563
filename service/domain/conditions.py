"""The condition engine (docs/guide.md): one definition of `{match, rules: [{attribute, operator,
values}]}`, evaluated two ways that must agree — in Python here, and compiled to parameterised SQL
by `service.store.conditions_sql` for set-based work. A property test holds the two to the same
answers.

Semantics, shared by both:
- text comparison is case-insensitive (per-character lower case), several values mean "any";
- NOT_EQUALS / NOT_CONTAINS / IS_NOT_EMPTY are the exact negations of their positive operator,
  so an empty attribute is NOT_EQUALS anything;
- IS_EMPTY: no value, or only spaces;
- GREATER_THAN / LESS_THAN (and the _OR_EQUAL forms) compare numbers; a text attribute that does
  not read as a number never matches them;
- a group with no rules: ALL matches everything, ANY matches nothing.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from service.domain.problems import Problem

MAX_RULES = 50
MAX_VALUES = 100
ATTRIBUTES_PREFIX = "attributes."

# Digits spelled out: \d would also accept other scripts' digits, which PostgreSQL cannot cast.
NUMBER_PATTERN = r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)


class Match(enum.StrEnum):
    ALL = "ALL"
    ANY = "ANY"


class Operator(enum.StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT_CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    IS_EMPTY = "IS_EMPTY"
    IS_NOT_EMPTY = "IS_NOT_EMPTY"
    GREATER_THAN = "GREATER_THAN"
    GREATER_OR_EQUAL = "GREATER_OR_EQUAL"
    LESS_THAN = "LESS_THAN"
    LESS_OR_EQUAL = "LESS_OR_EQUAL"


NEGATIONS = {
    Operator.NOT_EQUALS: Operator.EQUALS,
    Operator.NOT_CONTAINS: Operator.CONTAINS,
    Operator.IS_NOT_EMPTY: Operator.IS_EMPTY,
}
VALUELESS = {Operator.IS_EMPTY, Operator.IS_NOT_EMPTY}
NUMERIC = {
    Operator.GREATER_THAN, Operator.GREATER_OR_EQUAL, Operator.LESS_THAN, Operator.LESS_OR_EQUAL
}
TEXT_ONLY = {
    Operator.CONTAINS, Operator.NOT_CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH
}


_COMPARE: dict[Operator, Callable[[Decimal, Decimal], bool]] = {
    Operator.GREATER_THAN: operator.gt,
    Operator.GREATER_OR_EQUAL: operator.ge,
    Operator.LESS_THAN: operator.lt,
    Operator.LESS_OR_EQUAL: operator.le,
}


class Kind(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"


@dataclass(frozen=True)
class Field:
    """An attribute a rule may name: its kind and the SQL column it reads."""

    kind: Kind
    column: str


PERSON_FIELDS: Mapping[str, Field] = {
    "externalId": Field(Kind.TEXT, "external_id"),
    "email": Field(Kind.TEXT, "email"),
    "firstName": Field(Kind.TEXT, "first_name"),
    "lastName": Field(Kind.TEXT, "last_name"),
    "jobTitle": Field(Kind.TEXT, "job_title"),
    "department": Field(Kind.TEXT, "department"),
    "seniority": Field(Kind.TEXT, "seniority"),
    "city": Field(Kind.TEXT, "city"),
    "country": Field(Kind.TEXT, "country"),
}

ACCOUNT_FIELDS: Mapping[str, Field] = {
    "externalId": Field(Kind.TEXT, "external_id"),
    "name": Field(Kind.TEXT, "name"),
    "industry": Field(Kind.TEXT, "industry"),
    "region": Field(Kind.TEXT, "region"),
    "country": Field(Kind.TEXT, "country"),
    "annualRevenue": Field(Kind.NUMBER, "annual_revenue"),
    "employeeCount": Field(Kind.NUMBER, "employee_count"),
}


@dataclass(frozen=True)
class Rule:
    attribute: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConditionGroup:
    match: Match
    rules: tuple[Rule, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "match": self.match.value,
            "rules": [
                {"attribute": r.attribute, "operator": r.operator.value, "values": list(r.values)}
                for r in self.rules
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConditionGroup:
        """Read a stored group (already validated when it was saved)."""
        return cls(
            Match(data["match"]),
            tuple(
                Rule(r["attribute"], Operator(r["operator"]), tuple(r.get("values") or ()))
                for r in data["rules"]
            ),
        )


def field_for(attribute: str, fields: Mapping[str, Field]) -> Field | None:
    if attribute.startswith(ATTRIBUTES_PREFIX):
        key = attribute[len(ATTRIBUTES_PREFIX):]
        return Field(Kind.TEXT, "attributes") if key else None
    return fields.get(attribute)


def is_number(text: str) -> bool:
    return _NUMBER_RE.match(text.strip(" ")) is not None


def validate(
    match: str, rules: Sequence[tuple[str, str, Sequence[str]]], fields: Mapping[str, Field]
) -> tuple[ConditionGroup | None, list[Problem]]:
    """Check raw input (match, [(attribute, operator, values)]) and build the group if valid."""
    problems: list[Problem] = []
    if match not in Match.__members__:
        problems.append(
            Problem(("match",), "UNKNOWN_MATCH", f"match must be ALL or ANY, not {match!r}")
        )
    if len(rules) > MAX_RULES:
        problems.append(Problem(("rules",), "TOO_MANY_RULES", f"at most {MAX_RULES} rules"))
    built: list[Rule] = []
    for i, (attribute, operator_name, values) in enumerate(rules):
        path: tuple[str | int, ...] = ("rules", i)
        field = field_for(attribute, fields)
        if field is None:
            known = ", ".join([*fields, "attributes.<key>"])
            problems.append(Problem((*path, "attribute"), "UNKNOWN_ATTRIBUTE",
                                    f"unknown attribute {attribute!r}; use one of {known}"))
        if operator_name not in Operator.__members__:
            problems.append(Problem((*path, "operator"), "UNKNOWN_OPERATOR",
                                    f"unknown operator {operator_name!r}; use one of "
                                    + ", ".join(Operator.__members__)))
            continue
        op = Operator(operator_name)
        if op in VALUELESS:
            values = ()
        elif not values:
            problems.append(Problem((*path, "values"), "VALUE_REQUIRED",
                                    f"{op.value} needs at least one value"))
        elif len(values) > MAX_VALUES:
            problems.append(Problem((*path, "values"), "TOO_MANY_VALUES",
                                    f"at most {MAX_VALUES} values per rule"))
        numeric = op in NUMERIC or (field is not None and field.kind is Kind.NUMBER
                                    and op not in VALUELESS)
        if field is not None and field.kind is Kind.NUMBER and op in TEXT_ONLY:
            problems.append(Problem((*path, "operator"), "OPERATOR_NOT_ALLOWED",
                                    f"{op.value} compares text; {attribute} is a number"))
        elif numeric:
            for j, value in enumerate(values):
                if not is_number(value):
                    problems.append(Problem((*path, "values", j), "INVALID_NUMBER",
                                            f"{value!r} is not a number"))
        built.append(Rule(attribute, op, tuple(values)))
    if problems:
        return None, problems
    return ConditionGroup(Match(match), tuple(built)), []


# --- evaluation in Python --------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case character by character, as PostgreSQL's lower() does."""
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


def json_text(value: Any) -> str | None:
    """The text PostgreSQL's `->>` gives for a JSON value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    text = str(value).strip(" ")
    if not _NUMBER_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _value_of(attribute: str, record: Mapping[str, Any]) -> Any:
    if attribute.startswith(ATTRIBUTES_PREFIX):
        attributes = record.get("attributes") or {}
        return json_text(attributes.get(attribute[len(ATTRIBUTES_PREFIX):]))
    return record.get(attribute)


def _positive(op: Operator, kind: Kind, value: Any, values: tuple[str, ...]) -> bool:
    if op is Operator.IS_EMPTY:
        return value is None or (kind is Kind.TEXT and str(value).strip(" ") == "")
    if kind is Kind.NUMBER or op in NUMERIC:
        number = to_number(value)
        if number is None:
            return False
        targets = [Decimal(v.strip(" ")) for v in values]
        if op is Operator.EQUALS:
            return number in targets
        compare = _COMPARE[op]
        return any(compare(number, t) for t in targets)
    if value is None:
        return False
    text = fold(str(value))
    wanted = [fold(v) for v in values]
    if op is Operator.EQUALS:
        return text in wanted
    if op is Operator.CONTAINS:
        return any(w in text for w in wanted)
    if op is Operator.STARTS_WITH:
        return any(text.startswith(w) for w in wanted)
    if op is Operator.ENDS_WITH:
        return any(text.endswith(w) for w in wanted)
    raise AssertionError(op)


def rule_matches(rule: Rule, record: Mapping[str, Any], fields: Mapping[str, Field]) -> bool:
    field = field_for(rule.attribute, fields)
    assert field is not None, rule.attribute
    value = _value_of(rule.attribute, record)
    positive = NEGATIONS.get(rule.operator, rule.operator)
    result = _positive(positive, field.kind, value, rule.values)
    return not result if rule.operator in NEGATIONS else result


def evaluate(group: ConditionGroup, record: Mapping[str, Any], fields: Mapping[str, Field]) -> bool:
    """Does the record (attribute name → value, plus an `attributes` dict) match the group?"""
    results = (rule_matches(rule, record, fields) for rule in group.rules)
    return all(results) if group.match is Match.ALL else any(results)

"""Compiles a condition group to a parameterised SQL boolean over one row; see
`service.domain.conditions` for the semantics both must share."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from service.domain.conditions import (
    ATTRIBUTES_PREFIX,
    NEGATIONS,
    NUMBER_PATTERN,
    NUMERIC,
    ConditionGroup,
    Field,
    Kind,
    Match,
    Operator,
    Rule,
    field_for,
)
from service.store.sql import SqlParams

_SQL_COMPARISON = {
    Operator.GREATER_THAN: ">", Operator.GREATER_OR_EQUAL: ">=",
    Operator.LESS_THAN: "<", Operator.LESS_OR_EQUAL: "<=",
}


def _positive_sql(op: Operator, kind: Kind, expr: str, values: tuple[str, ...],
                  params: SqlParams) -> str:
    if op is Operator.IS_EMPTY:
        if kind is Kind.NUMBER:
            return f"({expr} IS NULL)"
        return f"(coalesce(btrim({expr}, ' '), '') = '')"
    if kind is Kind.NUMBER or op in NUMERIC:
        numbers = params.add([Decimal(v.strip(" ")) for v in values])
        if kind is Kind.NUMBER:
            number = expr
        else:
            trimmed = f"btrim({expr}, ' ')"
            pattern = params.add(NUMBER_PATTERN)
            number = f"(CASE WHEN {trimmed} ~ {pattern} THEN {trimmed}::numeric END)"
        comparison = "=" if op is Operator.EQUALS else _SQL_COMPARISON[op]
        return f"coalesce({number} {comparison} ANY({numbers}::numeric[]), false)"
    texts = params.add(list(values))
    low = f"lower({expr})"
    if op is Operator.EQUALS:
        wanted = f"ARRAY(SELECT lower(v) FROM unnest({texts}::text[]) v)"
        return f"coalesce({low} = ANY({wanted}), false)"
    # The values as LIKE patterns, built once per statement (an uncorrelated subquery, which
    # PostgreSQL runs once): a subquery over the values per row cost a third of a generation
    # job's rule evaluation. The values' own % _ and \ are escaped.
    escaped = r"replace(replace(replace(lower(v), '\', '\\'), '%', '\%'), '_', '\_')"
    pattern = {
        Operator.CONTAINS: f"'%' || {escaped} || '%'",
        Operator.STARTS_WITH: f"{escaped} || '%'",
        Operator.ENDS_WITH: f"'%' || {escaped}",
    }[op]
    patterns = f"ARRAY(SELECT {pattern} FROM unnest({texts}::text[]) v)"
    return f"coalesce({low} LIKE ANY({patterns}), false)"


def value_sql(rule: Rule, fields: Mapping[str, Field], alias: str, params: SqlParams) -> str:
    """The row's value that the rule tests (an attribute's as JSON text)."""
    field = field_for(rule.attribute, fields)
    assert field is not None, rule.attribute
    if rule.attribute.startswith(ATTRIBUTES_PREFIX):
        key = params.add(rule.attribute[len(ATTRIBUTES_PREFIX):])
        return f"({alias}.attributes ->> {key}::text)"
    return f"{alias}.{field.column}"


def compile_rule(rule: Rule, fields: Mapping[str, Field], alias: str, params: SqlParams) -> str:
    field = field_for(rule.attribute, fields)
    assert field is not None, rule.attribute
    expr = value_sql(rule, fields, alias, params)
    positive = NEGATIONS.get(rule.operator, rule.operator)
    sql = _positive_sql(positive, field.kind, expr, rule.values, params)
    return f"(NOT {sql})" if rule.operator in NEGATIONS else sql


def compile_sql(group: ConditionGroup, fields: Mapping[str, Field], alias: str,
                params: SqlParams) -> str:
    """A boolean SQL expression over the row `alias`; never NULL."""
    if not group.rules:
        return "true" if group.match is Match.ALL else "false"
    joiner = " AND " if group.match is Match.ALL else " OR "
    return "(" + joiner.join(compile_rule(r, fields, alias, params) for r in group.rules) + ")"


def explanation_sql(group: ConditionGroup, fields: Mapping[str, Field], alias: str,
                    params: SqlParams, *, whole: bool = True) -> list[str]:
    """Per rule of the group, two columns: whether the row meets it (`compile_rule`, the very
    expression `compile_sql` joins) and the value it tested, as text; then, if `whole`,
    whether the row meets the group (`compile_sql` itself)."""
    columns = []
    for rule in group.rules:
        columns.append(compile_rule(rule, fields, alias, params))
        columns.append(f"({value_sql(rule, fields, alias, params)})::text")
    if whole:
        columns.append(compile_sql(group, fields, alias, params))
    return columns

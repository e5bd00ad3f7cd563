"""A document is parsed and validated once per schema (#21), while every error still comes from
the parser or validator with its code, every time."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema

import graphql
from service.api.execution.document_cache import Documents
from tests.support import GraphQLClient, TenantKeys


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often strawberry parsed and validated."""
    counted = {"parse": 0, "validate": 0}
    parse = strawberry_schema.parse  # type: ignore[attr-defined]
    validate = strawberry_schema.validate_document

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        counted["parse"] += 1
        return parse(*args, **kwargs)

    def counting_validate(*args: Any) -> Any:
        counted["validate"] += 1
        return validate(*args)

    monkeypatch.setattr(strawberry_schema, "parse", counting_parse)
    monkeypatch.setattr(strawberry_schema, "validate_document", counting_validate)
    return counted


def fresh(document: str) -> str:
    """The document with a comment no other test sends: the schema's cache is the app's."""
    return f"# {uuid.uuid4()}\n{document}"


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_a_valid_document_is_parsed_and_validated_once(
        gql: GraphQLClient, tenant: TenantKeys, calls: dict[str, int]) -> None:
    query = fresh("query Probe($n: Int!) { roles(first: $n) { totalCount nodes { name } } }")
    first = await gql.data(query, {"n": 2}, key=tenant.read)
    assert calls == {"parse": 1, "validate": 1}
    again = await gql.data(query, {"n": 1}, key=tenant.read)
    assert calls == {"parse": 1, "validate": 1}
    assert again["roles"]["nodes"] == first["roles"]["nodes"][:1]


async def test_errors_keep_their_codes_and_are_not_kept(
        gql: GraphQLClient, tenant: TenantKeys, calls: dict[str, int]) -> None:
    unparsable, invalid = fresh("{ viewer { "), fresh("{ viewer { noSuchField } }")
    for round_ in (1, 2):
        assert code(await gql(unparsable, key=tenant.read)) == "GRAPHQL_PARSE_FAILED"
        assert code(await gql(invalid, key=tenant.read)) == "GRAPHQL_VALIDATION_FAILED"
        assert calls == {"parse": 2 * round_, "validate": round_}


async def test_checks_of_the_request_run_on_a_kept_document(
        gql: GraphQLClient, tenant: TenantKeys, calls: dict[str, int]) -> None:
    query = fresh("query($s: String) { accounts(filter: {search: $s}) { totalCount } }")
    assert (await gql.data(query, {"s": "a"}, key=tenant.read))["accounts"]["totalCount"] == 0
    # The variables are the request's own: a NUL in them is refused although the document
    # is known.
    assert code(await gql(query, {"s": "a\x00"}, key=tenant.read)) == "INVALID_VALUE"
    # So is a variable that does not fit its type.
    assert code(await gql(query, {"s": 7}, key=tenant.read)) == "BAD_USER_INPUT"
    assert calls == {"parse": 1, "validate": 1}


def test_the_least_recently_used_document_goes_first() -> None:
    documents = Documents(size=2)
    a, b, c = (graphql.parse(f"{{ {name} }}") for name in "abc")
    documents.keep("a", a)
    documents.keep("b", b)
    assert documents.get("a") is a  # now the most recently used
    documents.keep("c", c)
    assert (documents.get("a"), documents.get("b"), documents.get("c")) == (a, None, c)
    assert len(documents) == 2

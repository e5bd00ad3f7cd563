"""The repository layout the design asks for."""

from pathlib import Path

import graphql

ROOT = Path(__file__).resolve().parent.parent


def test_import_graphql_resolves_to_graphql_core() -> None:
    assert "site-packages" in str(Path(graphql.__file__)), graphql.__file__
    assert hasattr(graphql, "graphql_sync") and graphql.version.startswith("3.")


def test_graphql_folder_holds_only_graphql_documents() -> None:
    files = [p for p in (ROOT / "graphql").rglob("*") if p.is_file()]
    assert files, "graphql/ holds schema.graphql"
    assert all(p.suffix == ".graphql" for p in files), files


def test_exported_schema_is_current() -> None:
    from service.api.export import schema_sdl

    on_disk = (ROOT / "graphql" / "schema.graphql").read_text()
    assert on_disk == schema_sdl(), "graphql/schema.graphql is stale: run `make schema`"


def test_every_operation_document_is_valid_against_the_schema() -> None:
    from graphql import parse, validate
    from service.api.schema import schema

    documents = sorted((ROOT / "graphql" / "operations").glob("*.graphql"))
    assert documents
    for path in documents:
        errors = validate(schema._schema, parse(path.read_text()))
        assert not errors, f"{path.name}: {errors}"


def test_tests_share_helpers_through_support_not_through_each_other() -> None:
    module = "tests." + "test_"  # spelt apart, or this file would name itself
    offenders = [path.name for path in (ROOT / "tests").glob("*.py")
                 if f"from {module}" in path.read_text() or f"import {module}" in
                 path.read_text()]
    assert offenders == []

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


# Where SQL may be sent from: the store, and the database plumbing itself.
SQL_ALLOWED = ("service/store/", "service/infra/db.py", "service/infra/read_session.py",
               "service/infra/migrate.py", "service/infra/login.py",
               "service/infra/write_notices.py",
               "service/dev/replica.py")  # the tests' replica asks its primary as superuser
SENDS = {"fetch", "fetchval", "fetchrow", "execute", "executemany", "copy_records_to_table",
         "copy_from_query", "copy_to_table", "cursor", "prepare"}


def test_sql_is_sent_only_from_the_store_and_the_database_plumbing() -> None:
    """A call that sends text (a string literal or an f-string) through a connection."""
    import ast

    offenders = []
    for path in sorted([*(ROOT / "service").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(SQL_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in SENDS and node.args and \
                    isinstance(node.args[0], ast.Constant | ast.JoinedStr):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []


# What only service/api/execution/ may import or touch: strawberry's and graphql-core's
# internals, which change between their minor versions.
INTERNALS = ("strawberry.schema.schema", "strawberry.extensions.runner",
             "strawberry.extensions.context", "strawberry.execution", "strawberry.types.base",
             "strawberry.extensions.max_aliases", "strawberry.extensions.query_depth_limiter",
             "graphql.execution", "graphql.pyutils", "_raw_info", "schema_converter")


def test_only_the_execution_package_touches_strawberry_and_graphql_core_internals() -> None:
    offenders = []
    for path in sorted([*(ROOT / "service").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("service/api/execution/"):
            continue
        text = path.read_text()
        offenders += [f"{relative}: {name}" for name in INTERNALS if name in text]
    assert offenders == []


def test_tests_take_their_helpers_from_support_not_from_conftest() -> None:
    """conftest.py holds fixtures; imported as a module it would be loaded twice."""
    offenders = [path.name for path in (ROOT / "tests").glob("*.py")
                 if "tests.conftest" in path.read_text() and path.name != "test_layout.py"]
    assert offenders == []


def test_architecture_names_every_folder_and_root_module() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    folders = sorted(f"{p.parent.relative_to(ROOT).as_posix()}/"
                     for p in (ROOT / "service").rglob("__init__.py") if p.parent != ROOT /
                     "service")
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "service").glob("*.py")
                     if p.name != "__init__.py")
    assert [name for name in [*folders, *modules, "jobs/"] if f"`{name}" not in text] == []


def test_no_module_of_the_service_or_the_worker_is_over_400_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for p in [*(ROOT / "service").rglob("*.py"),
                                                    *(ROOT / "jobs").rglob("*.py")]
            if (n := len(p.read_text().splitlines())) > 400]
    assert long == []


def test_nothing_cites_a_document_the_repository_does_not_have() -> None:
    cited = "SPEC" + ".md"  # spelt apart, or this file would cite it
    # (test_migrations.py spells the reworded comment of migration 0002 apart, as here.)
    paths = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".sql",
                                                                        ".toml", ".graphql")
             and not p.relative_to(ROOT).as_posix().startswith((".venv", ".data", "build"))]
    assert [p.name for p in paths if cited in p.read_text(errors="replace")] == []


def test_every_graphql_example_in_the_docs_is_valid_against_the_schema() -> None:
    """The README's first query and the docs' examples say what the API really takes."""
    import re

    from graphql import parse, validate
    from service.api.schema import schema

    examples = [(path.name, block) for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
                for block in re.findall(r"```graphql\n(.*?)```", path.read_text(), re.S)]
    assert examples
    problems = [(name, [e.message for e in validate(schema._schema, parse(block))])
                for name, block in examples]
    assert [p for p in problems if p[1]] == []

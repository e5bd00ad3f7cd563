"""Rolling deploys. While a new release's processes start, the previous release's still serve,
from a database the new release has already migrated; so migrations only expand (a column with
a default or nullable, a table, an index), and what a release no longer uses is dropped by a
later one (docs/operations.md, Upgrades). Two sides of it:

- this release keeps working on a schema the next release expanded (a column on every table,
  a table of its own): nothing here reads "every column" into a fixed structure;
- the previous release's read operations run against this release's migrated schema.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql import (
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
    separate_operations,
)
from service.dev.embedded import EmbeddedServices
from service.infra.config import Settings
from service.infra.migrate import MIGRATIONS_DIR
from tests.support import (
    ROOT,
    RUN_ID,
    GraphQLClient,
    TenantKeys,
    answering,
    app_with,
    create_endpoint,
    free_port,
    generate,
    live_model,
    make_tenant_at,
    run_jobs,
    scratch_database,
    setup_catalogue,
    stop,
)

# The last release, whose processes still serve while the next one's migrations apply:
# updated on each release (docs/development.md).
PREVIOUS_RELEASE = ("0.1.0", "f47bd10015f6464ba5cdbc6b3c5950e6528b36dd")

# The next release's expansion: a column on every table (partitions get it from their
# parent), and a table of its own.
EXPANSION = """
DO $$
DECLARE t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  LOOP
    EXECUTE format('ALTER TABLE %s ADD COLUMN next_release_note text', t);
  END LOOP;
END $$;
CREATE TABLE next_release_things (id uuid PRIMARY KEY, tenant_id uuid NOT NULL);
"""


def read_operations(folder: Path) -> dict[str, tuple[str, set[str]]]:
    """Each query in the folder's operations, as a document of its own (with its fragments),
    and the variables it cannot go without."""
    found: dict[str, tuple[str, set[str]]] = {}
    for path in sorted(folder.glob("*.graphql")):
        for name, alone in separate_operations(parse(path.read_text())).items():
            for definition in alone.definitions:
                if isinstance(definition, OperationDefinitionNode) and \
                        definition.operation == OperationType.QUERY:
                    needed = {v.variable.name.value
                              for v in definition.variable_definitions or ()
                              if isinstance(v.type, NonNullTypeNode) and v.default_value is None}
                    found[name] = (print_ast(alone), needed)
    return found


async def a_scenario(gql: GraphQLClient, settings: Settings, tenant: TenantKeys
                     ) -> dict[str, Any]:
    """A tenant's catalogue, groups, a stage model, a webhook endpoint and an export: a value
    for every variable the read operations need."""
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await live_model(gql, tenant.admin)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    endpoint, _ = await create_endpoint(gql, tenant, "http://127.0.0.1:9/next-release")
    export = (await gql.data("mutation { startExport(input: {kind: BUYING_GROUPS}) { job { id } "
                             "userErrors { code } } }", key=tenant.write))["startExport"]
    await run_jobs(settings)
    group = (await gql.data("{ buyingGroups(first: 1) { nodes { id } } }",
                            key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    jobs = (await gql.data("{ buyingGroupJobs(first: 10) { nodes { id kind } } }",
                           key=tenant.read))["buyingGroupJobs"]["nodes"]
    job = next(j for j in jobs if j["kind"] == "CREATE")
    person, role = cat["people"]["A0-ceo"], cat["roles"]["Champion"]
    template = (await gql.data("query($id: ID!) { node(id: $id) { ... on SolutionInterest { "
                               "roleTemplate { id } } } }", {"id": cat["si"]},
                               key=tenant.read))["node"]["roleTemplate"]["id"]
    return {
        "roleId": role, "buyingGroupId": group, "groupId": group, "endpointId": endpoint,
        "externalId": "A0", "first": 10,
        "input": {"templateId": template, "accountListId": cat["list"]},
        "id": {"BuyingGroup": group, "WhyMembers": group, "ConsoleGroup": group,
               "Engagement": group, "PersonActivity": person, "Job": job["id"],
               "ExportJob": export["job"]["id"]},
        "PersonByExternalId.externalId": "A0-ceo",
        "ids": [group, person, job["id"]],
    }


def variables_for(name: str, needed: set[str], values: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for variable in needed:
        value = values.get(f"{name}.{variable}", values.get(variable))
        if isinstance(value, dict) and variable == "id":
            value = value.get(name)
        assert value is not None, f"{name} needs ${variable}: give it a value in a_scenario"
        chosen[variable] = value
    return chosen


@pytest.fixture
async def expanded_database(servers: EmbeddedServices, tmp_path: Path
                            ) -> AsyncIterator[tuple[str, str]]:
    """A database migrated by this release and then by the next one's expansion: the owner's
    URL and the service's."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        (folder / migration.name).write_text(migration.read_text())
    (folder / "9990_next_release_expands.sql").write_text(EXPANSION)
    async with scratch_database(servers, folder) as urls:
        yield urls


async def test_this_release_works_on_a_schema_the_next_release_expanded(
    expanded_database: tuple[str, str], settings: Settings
) -> None:
    """Every query this release ships, after writes of every kind the scenario makes, on a
    database with a column this release does not know on every table. A store that built a
    dataclass from `SELECT *` (0.1.0 did, for jobs and more) fails here."""
    owner, service = expanded_database
    tenant = await make_tenant_at(owner, "Next release")
    expanded = settings.model_copy(update={"database_url": service,
                                           "queue_name": f"bg-test:{RUN_ID}:next-release"})
    async with app_with(expanded) as client:
        gql = GraphQLClient(client)
        values = await a_scenario(gql, expanded, tenant)
        operations = read_operations(ROOT / "graphql" / "operations")
        assert len(operations) >= 40
        for name, (document, needed) in operations.items():
            body = await gql(document, variables_for(name, needed, values), key=tenant.admin)
            assert not body.get("errors"), (name, body["errors"])


# --- the previous release on this release's schema

# Read operations a release is known to fail on the next one's schema, by release. 0.1.0
# built dataclasses from `SELECT *` rows (jobs, role templates, scoring models, ...): every
# column added since breaks them. So 0.1.0 cannot roll to 0.2.0 (nor could it: 0.2.0's service
# logs in least-privileged, migration 0015); stop it, migrate, start 0.2.0. From 0.2.0 on,
# the set is empty and the test above holds the line.
KNOWN_BROKEN: dict[str, set[str]] = {
    "0.1.0": {"BuyingGroupJobs", "BuyingGroup", "RoleTemplates", "SolutionInterests",
              "Engagement", "Job", "Nodes"},
}


@pytest.fixture(scope="module")
def previous_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's files, from this checkout's history."""
    _, commit = PREVIOUS_RELEASE
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                             capture_output=True)
    if archive.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"the previous release ({commit}) is not in this checkout's history: "
                        f"{archive.stderr.decode()}")
        pytest.skip("not a git checkout with the previous release's commit")
    target = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def previous_api(previous_source: Path, database_url: str, settings: Settings
                 ) -> Iterator[str]:
    """The previous release's API on this release's database. It logs in as the database's
    owner: 0.1.0 came before the service's own least-privileged login."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(previous_source), "DATABASE_URL": database_url,
           "REDIS_URL": str(settings.redis_url), "QUEUE_NAME": f"bg-test:{RUN_ID}:previous",
           "LOG_LEVEL": "CRITICAL"}
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                str(port)], cwd=previous_source, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        # /healthz, not /readyz: 0.1.0 calls a database ahead of it not ready.
        if not answering(url, "/healthz", seconds=30, process=process):
            pytest.fail(f"the previous release's API did not start ({process.poll()})")
        yield url
    finally:
        stop([process])


async def test_the_previous_releases_read_operations_run_on_the_migrated_schema(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, previous_source: Path,
    previous_api: str
) -> None:
    """Each query the previous release shipped, asked of the previous release's API on this
    release's database, answers without an error. (What it answers may differ from this
    release's API: a release may change what a field means, and says so in CHANGELOG.md.)"""
    version, _ = PREVIOUS_RELEASE
    values = await a_scenario(gql, settings, tenant)
    operations = read_operations(previous_source / "graphql" / "operations")
    assert len(operations) >= 15
    broken: set[str] = set()
    async with httpx.AsyncClient(base_url=previous_api, timeout=30) as http:
        previous = GraphQLClient(http)
        for name, (document, needed) in operations.items():
            body = await previous(document, variables_for(name, needed, values),
                                  key=tenant.admin)
            if body.get("errors") or not body.get("data"):
                broken.add(name)
    assert broken == KNOWN_BROKEN.get(version, set())

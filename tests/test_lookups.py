"""Objects by the keys customers already have: a person by externalId, a role and a solution
interest by name without case; another tenant's, or none, is null."""

from __future__ import annotations

from tests.support import GraphQLClient, TenantKeys, setup_catalogue

LOOKUP = """query($external: String, $role: String, $interest: String) {
  person(externalId: $external) { externalId jobTitle }
  role(name: $role) { name }
  solutionInterest(name: $interest) { name }
}"""


async def test_people_roles_and_interests_by_their_own_keys(
    gql: GraphQLClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    await setup_catalogue(gql, tenant.write, accounts=1)
    found = await gql.data(LOOKUP, {"external": "A0-ceo", "role": "decision maker",
                                    "interest": "  CLOUD "}, key=tenant.read)
    assert found == {"person": {"externalId": "A0-ceo", "jobTitle": "CEO"},
                     "role": {"name": "Decision Maker"},
                     "solutionInterest": {"name": "Cloud"}}
    elsewhere = await gql.data(LOOKUP, {"external": "A0-ceo", "role": "nobody",
                                        "interest": "Cloud"}, key=other_tenant.read)
    assert elsewhere == {"person": None, "role": None, "solutionInterest": None}
    # Given both keys, the object must match both; given none, nothing is found.
    role_id = (await gql.data('{ role(name: "Champion") { id } }', key=tenant.read))["role"]["id"]
    both = """query($id: ID!, $name: String) { role(id: $id, name: $name) { name } }"""
    assert (await gql.data(both, {"id": role_id, "name": "champion"},
                           key=tenant.read))["role"] == {"name": "Champion"}
    assert (await gql.data(both, {"id": role_id, "name": "Influencer"},
                           key=tenant.read))["role"] is None
    assert (await gql.data("{ person { id } }", key=tenant.read))["person"] is None

"""Demo data for `buying-groups dev`: a believable tenant, the same on every machine.

A few hundred accounts in corporate hierarchies, a few thousand people with realistic titles, two
LIVE role templates with assignment rules, two solution interests and two audiences. Loaded once
per tenant, through the same code paths as the API.
"""

from __future__ import annotations

import random
from typing import Any

from service.domain.conditions import ACCOUNT_FIELDS, PERSON_FIELDS, ConditionGroup, validate
from service.domain.stages import StageSpec
from service.domain.templates import Entry
from service.store import account_lists as list_store
from service.store import accounts as account_store
from service.store import buying_groups as group_store
from service.store import role_templates as template_store
from service.store import roles as role_store
from service.store import solution_interests as interest_store
from service.store import stages as stage_store
from service.usecases import generation
from service.usecases.catalogue import upsert_accounts, upsert_people
from service.usecases.unit_of_work import UnitOfWork

INDUSTRIES = ["Software", "Financial Services", "Healthcare", "Manufacturing", "Retail",
              "Energy", "Telecommunications", "Education"]
REGIONS = {"EMEA": ["Sweden", "Germany", "United Kingdom", "France", "Netherlands"],
           "AMER": ["United States", "Canada", "Brazil"],
           "APAC": ["Japan", "Australia", "Singapore", "India"]}
NAME_HEADS = ["Nordic", "Atlas", "Blue", "Summit", "Vertex", "Polar", "Granite", "Harbor",
              "Aurora", "Cedar", "Quantum", "Orbit", "Crest", "Falcon", "Pioneer", "Lumen",
              "Meridian", "Northwind", "Silver", "Evergreen"]
NAME_TAILS = ["Systems", "Group", "Holdings", "Industries", "Labs", "Partners", "Networks",
              "Solutions", "Dynamics", "Works"]
DIVISIONS = ["North America", "Europe", "Asia Pacific", "Digital", "Services", "Research"]
FIRST = ["Anna", "Erik", "Maria", "Johan", "Sara", "Lars", "Emma", "Karl", "Sofia", "Nils",
         "Olivia", "Liam", "Noah", "Ava", "James", "Mia", "Lucas", "Ella", "Hugo", "Alice",
         "Priya", "Kenji", "Chen", "Fatima", "Diego", "Amara"]
LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Smith", "Johnson", "Brown", "Garcia",
        "Müller", "Schmidt", "Dubois", "Rossi", "Tanaka", "Kim", "Patel", "Singh", "Lindqvist",
        "Berg", "Eriksson", "Novak", "Silva", "O'Brien"]
# (title, department, seniority, relative frequency)
TITLES = [
    ("Chief Executive Officer", "Executive", "C-Level", 1),
    ("Chief Marketing Officer", "Marketing", "C-Level", 1),
    ("Chief Information Officer", "IT", "C-Level", 1),
    ("Chief Financial Officer", "Finance", "C-Level", 1),
    ("VP Marketing", "Marketing", "VP", 2),
    ("VP Engineering", "Engineering", "VP", 2),
    ("VP Sales", "Sales", "VP", 2),
    ("Director of IT", "IT", "Director", 3),
    ("Sr Director, Demand Generation", "Marketing", "Director", 2),
    ("Director, Procurement", "Procurement", "Director", 2),
    ("Head of Security", "IT", "Director", 2),
    ("Marketing Operations Manager", "Marketing", "Manager", 4),
    ("IT Manager", "IT", "Manager", 4),
    ("Product Manager", "Product", "Manager", 3),
    ("Software Engineer", "Engineering", "Individual Contributor", 6),
    ("Systems Administrator", "IT", "Individual Contributor", 4),
    ("Marketing Specialist", "Marketing", "Individual Contributor", 5),
    ("Data Analyst", "Analytics", "Individual Contributor", 4),
    ("Procurement Specialist", "Procurement", "Individual Contributor", 2),
    ("Executive Assistant", "Executive", "Individual Contributor", 1),
]


def demo_accounts(rng: random.Random, count: int = 300) -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = []
    index = 0
    while len(accounts) < count:
        head, tail = rng.choice(NAME_HEADS), rng.choice(NAME_TAILS)
        region = rng.choice(list(REGIONS))
        industry = rng.choice(INDUSTRIES)
        parent: dict[str, Any] = {
            "externalId": f"ACC-{index:05d}", "name": f"{head} {tail} {index}",
            "industry": industry, "region": region, "country": rng.choice(REGIONS[region]),
            "annualRevenue": float(rng.choice([2, 5, 10, 50, 200, 900, 4000]) * 1_000_000
                                   * rng.uniform(0.5, 1.5)) // 1000 * 1000,
            "employeeCount": rng.choice([40, 120, 600, 2500, 12000, 60000]),
            "attributes": {"tier": rng.choice(["gold", "silver", "bronze"])},
        }
        accounts.append(parent)
        index += 1
        for division in rng.sample(DIVISIONS, rng.choice([0, 0, 1, 2, 3])):
            if len(accounts) >= count:
                break
            accounts.append({
                **parent, "externalId": f"ACC-{index:05d}",
                "name": f"{parent['name']} {division}", "parentExternalId": parent["externalId"],
                "annualRevenue": parent["annualRevenue"] // 4,
                "employeeCount": parent["employeeCount"] // 5,
            })
            index += 1
    return accounts


def demo_people(rng: random.Random, accounts: list[dict[str, Any]], per_account: int = 10
                ) -> list[dict[str, Any]]:
    weights = [t[3] for t in TITLES]
    people: list[dict[str, Any]] = []
    for account in accounts:
        domain = account["name"].split()[0].lower() + ".example"
        for _ in range(rng.randint(per_account // 2, per_account * 3 // 2)):
            title, department, seniority, _ = rng.choices(TITLES, weights)[0]
            first, last = rng.choice(FIRST), rng.choice(LAST)
            number = len(people)
            people.append({
                "externalId": str(100_000 + number), "accountExternalId": account["externalId"],
                "firstName": first, "lastName": last,
                "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{number}@{domain}",
                "jobTitle": title, "department": department, "seniority": seniority,
                "country": account["country"],
            })
    return people


def _rules(match: str, *rules: tuple[str, str, list[str]]) -> ConditionGroup:
    group, problems = validate(match, list(rules), PERSON_FIELDS)
    assert group is not None, problems
    return group


async def load_demo(work: UnitOfWork, seed: int = 7) -> bool:
    """Fill the tenant with demo data unless it already has accounts; True when loaded."""
    conn, tenant_id = work.conn, work.tenant_id
    if await account_store.has_accounts(conn, tenant_id):
        return False
    rng = random.Random(seed)
    accounts = demo_accounts(rng)
    for start in range(0, len(accounts), 1000):
        await upsert_accounts(work, accounts[start:start + 1000])
    people = demo_people(rng, accounts)
    for start in range(0, len(people), 1000):
        await upsert_people(work, people[start:start + 1000])

    roles = {r.name: r.id for r in await role_store.list_roles(conn, tenant_id)}
    enterprise = await template_store.create_template(conn, tenant_id, "Enterprise IT",
        "Who decides on infrastructure and platform purchases.", [
            Entry(roles["Decision Maker"], "VITAL", 1, True, _rules(
                "ANY", ("jobTitle", "STARTS_WITH", ["Chief Information", "Chief Executive",
                                                    "Chief Financial"]))),
            Entry(roles["Influencer"], "IMPORTANT", 1, True, _rules(
                "ALL", ("seniority", "EQUALS", ["VP", "Director"]),
                ("department", "EQUALS", ["IT", "Engineering", "Procurement"]))),
            Entry(roles["Practitioner"], "NORMAL", 2, True, _rules(
                "ANY", ("jobTitle", "CONTAINS", ["Engineer", "Administrator", "IT Manager"]))),
            Entry(roles["Champion"], "MINOR", 1, False, None),
        ])
    marketing = await template_store.create_template(conn, tenant_id, "Marketing Technology",
        "Who buys marketing platforms.", [
            Entry(roles["Decision Maker"], "VITAL", 1, True, _rules(
                "ANY", ("jobTitle", "CONTAINS", ["CMO", "Chief Marketing"]))),
            Entry(roles["Influencer"], "IMPORTANT", 1, True, _rules(
                "ALL", ("department", "EQUALS", ["Marketing"]),
                ("seniority", "EQUALS", ["VP", "Director"]))),
            Entry(roles["Practitioner"], "NORMAL", 1, True, _rules(
                "ALL", ("department", "EQUALS", ["Marketing", "Analytics"]),
                ("seniority", "NOT_EQUALS", ["C-Level", "VP", "Director"]))),
            Entry(roles["Executive Steering Committee"], "TRIVIAL", 1, False, _rules(
                "ALL", ("seniority", "EQUALS", ["C-Level"]),
                ("jobTitle", "NOT_CONTAINS", ["Marketing"]))),
        ])
    for template in (enterprise, marketing):
        await template_store.publish_template(conn, template.id)
    journey = await stage_store.create_model(
        conn, tenant_id, "Buying journey", "From first contact to a decision.", [
            StageSpec("new", "New", "ENTRY", ("engaged", "lost")),
            StageSpec("engaged", "Engaged", "INTERMEDIATE", ("opportunity", "lost"), None,
                      {"match": "ALL", "conditions": [
                          {"metric": "ENGAGEMENT", "operator": "GTE", "value": 10},
                          {"metric": "COMPLETENESS", "operator": "GTE", "value": 75}]}),
            StageSpec("opportunity", "Opportunity", "INTERMEDIATE", ("won", "lost")),
            StageSpec("won", "Won", "SUCCESS"),
            StageSpec("lost", "Lost", "FAILURE", ("resurgence",)),
            StageSpec("resurgence", "Resurgence", "INTERMEDIATE", ("engaged", "lost")),
        ])
    journey = await stage_store.publish_model(conn, journey.id)
    entry = journey.entry_stage()
    assert entry is not None
    cloud = await interest_store.create_interest(
        conn, tenant_id, name="Cloud Platform", description="Compute, storage and networking.",
        products=["Compute", "Object Storage", "Managed Kubernetes"],
        role_template_id=enterprise.id, stage_model_id=journey.id, update_existing=True)
    martech = await interest_store.create_interest(
        conn, tenant_id, name="Marketing Automation", description="Campaigns and journeys.",
        products=["Journeys", "Email", "Analytics"], role_template_id=marketing.id,
        stage_model_id=None, update_existing=False)
    software, _ = validate("ALL", [("industry", "EQUALS", ["Software"]),
                                   ("annualRevenue", "GREATER_THAN", ["10000000"])],
                           ACCOUNT_FIELDS)
    await list_store.create_list(conn, tenant_id, name="Large software companies",
                                 description="Software, revenue above 10M.", kind="DYNAMIC",
                                 filter=software, account_ids=[])
    targets = await list_store.create_list(
        conn, tenant_id, name="Q4 target accounts", description="Hand-picked for the Q4 campaign.",
        kind="STATIC", filter=None,
        account_ids=await account_store.top_level_account_ids(conn, tenant_id, 40))
    # Buying groups for both interests, through the generation job's own set-based code.
    for interest, template, audience in ((cloud, enterprise, targets),
                                         (martech, marketing, targets)):
        after = None
        while True:
            chunk = await generation.create_chunk(
                work, interest, template, audience, after=after, limit=1000, job_id=None,
                entry_stage_id=entry.id if interest is cloud else None)
            if chunk.processed == 0:
                break
            after = chunk.last_id
    # Spread the Cloud Platform groups over the journey, as users would have moved them.
    stage = journey.by_key()
    paths = [[], ["engaged"], ["engaged", "opportunity"], ["engaged", "opportunity", "won"],
             ["lost"], ["lost", "resurgence"], ["engaged"], []]
    made = await group_store.stages_of_interest(conn, cloud.id)
    for i, (group_id, previous) in enumerate(made):
        for key in paths[i % len(paths)]:
            if stage[key].id == previous:
                continue
            await stage_store.move_group(conn, tenant_id, group_id, previous, stage[key].id,
                                         "USER", None)
            previous = stage[key].id
    return True

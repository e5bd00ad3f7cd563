"""The console in Debian's Chromium (#26), on an API process that runs only the shipped
operations (PERSISTED_QUERIES_ONLY) and a real worker: a walk-through from a tenant with only
accounts, people and an audience — a template drafted, previewed, published; a solution
interest and its groups generated with the progress bar reaching 100 %; a group opened, a
recommended person accepted, its stage moved, the page following each change without a reload
— and axe-core on every screen. Screenshots go to .data/screenshots/, or to docs/ (the
README's) with UPDATE_SCREENSHOTS=1.

Skipped without Chromium, except where REQUIRE_BROWSER is set (CI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.infra.config import Settings
from tests.support import (
    CREATE_LIST,
    GraphQLClient,
    TenantKeys,
    groups_with_stages,
    live_model,
    start_api,
    start_worker,
    stop,
    upsert_accounts,
    upsert_people,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent
# The README's pictures: refreshed in docs/ with UPDATE_SCREENSHOTS=1, else kept out of the
# working tree (a test run leaves no tracked file changed).
SHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else ".data/screenshots")

if CHROMIUM is None and not os.environ.get("REQUIRE_BROWSER"):
    pytest.skip("no Chromium here (apt-get install chromium)", allow_module_level=True)


async def accessible(page: Any, api: str, screen: str) -> None:
    """axe-core, served by the service like the console's own modules, finds no serious or
    critical violation on the screen."""
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.add_script_tag(url=f"{api}/static/axe.min.js")
    found = await page.evaluate("""async () => (await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice']}}))
        .violations.filter((v) => ['serious', 'critical'].includes(v.impact))
        .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)""")
    assert found == [], (screen, found)


async def test_a_team_goes_from_an_empty_tenant_to_acting_on_a_group(
    settings: Settings, tenant: TenantKeys, gql: GraphQLClient,
) -> None:
    from playwright.async_api import async_playwright, expect

    await upsert_accounts(gql, tenant.write, [
        {"externalId": f"A{i}", "name": f"Account {i}"} for i in range(3)])
    people = await upsert_people(gql, tenant.write, [
        {"externalId": f"A{i}-{who}", "accountExternalId": f"A{i}", "jobTitle": title,
         "firstName": who.capitalize(), "lastName": f"Of {i}"}
        for i in range(3) for who, title in (("ceo", "CEO"), ("eng", "Software Engineer"),
                                             ("intern", "Intern"))])
    assert len(people["people"]) == 9
    accounts = (await gql.data("{ accounts(first: 10) { nodes { id } } }",
                               key=tenant.read))["accounts"]["nodes"]
    await gql.data(CREATE_LIST, {"input": {"name": "All accounts", "kind": "STATIC",
                                           "accountIds": [a["id"] for a in accounts]}},
                   key=tenant.write)
    await live_model(gql, tenant.write)

    (api,), processes = start_api(settings, 1, PERSISTED_QUERIES_ONLY="true")
    processes.append(start_worker(settings))
    outside: list[str] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                def leaving(request: Any) -> None:
                    if not request.url.startswith((api, api.replace("http", "ws"))):
                        outside.append(request.url)

                page.on("request", leaving)
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(f"{api}/console#key={tenant.write}")
                await expect(page.get_by_role("heading", name="Overview")).to_be_visible(
                    timeout=30_000)
                await accessible(page, api, "overview")

                # A template: drafted, previewed on the audience, saved, published.
                await page.get_by_role("link", name="Templates").click()
                await page.get_by_label("Name", exact=True).fill("Enterprise")
                await page.get_by_label("Role 1", exact=True).select_option(
                    label="Decision Maker")
                await page.get_by_label("Operator of role 1's rule").select_option(
                    "EQUALS")
                await page.get_by_label("Values of role 1's rule").fill("CEO")
                await page.get_by_role("button", name="Add a role").click()
                await page.get_by_label("Role 2", exact=True).select_option(
                    label="Practitioner")
                await page.get_by_label("Members required for role 2").fill("2")
                await page.get_by_label("Values of role 2's rule").fill("engineer")
                await page.get_by_label("Preview on").select_option(label="All accounts")
                await page.get_by_role("button", name="Preview").click()
                await expect(page.get_by_role("heading", name="Preview: 3 groups")).to_be_visible(
                    timeout=15_000)
                await accessible(page, api, "templates")
                await page.get_by_role("button", name="Save draft").click()
                # The draft, edited: a second rule for the practitioners.
                await page.get_by_role("button", name="Edit Enterprise").click()
                await page.get_by_role("button", name="Add a rule to role 2").click()
                await page.get_by_label("Values of role 2's rule 2").fill("developer")
                await page.get_by_role("button", name="Save changes").click()
                await expect(page.get_by_role("heading", name="New template")).to_be_visible()
                await page.get_by_role("button", name="Publish Enterprise").click()
                await page.get_by_label("Audience for Enterprise").select_option(
                    label="All accounts (3)")
                await page.get_by_label("Stage model for Enterprise").select_option(
                    label="Funnel")
                await page.get_by_role("button", name="Generate groups").click()

                # The job's progress bar, fed by the subscription, reaches 100 %.
                await expect(page.get_by_test_id("job-status").first).to_have_text(
                    "succeeded", timeout=60_000)
                await expect(page.get_by_test_id("job-percent").first).to_have_text("100 %")
                await accessible(page, api, "jobs")

                # The groups, then one group.
                await page.get_by_role("link", name="Buying groups", exact=True).click()
                await page.get_by_role("link", name="Enterprise for Account 0").click()
                await expect(page.get_by_role("heading", name="Enterprise for Account 0")
                             ).to_be_visible(timeout=15_000)
                await accessible(page, api, "group")
                completeness = page.locator(".card .big").first
                before = await completeness.inner_text()
                await page.get_by_role("button", name="Show candidates for Practitioner").click()
                candidate = page.locator(".candidates li", has_text="Intern")
                await candidate.get_by_role("button", name="Accept").click()
                # The page follows the change by itself: completeness and timeline.
                await expect(completeness).not_to_have_text(before, timeout=15_000)
                await expect(page.locator(".timeline")).to_contain_text("member assigned",
                                                                        timeout=15_000)
                await page.get_by_role("button", name="Engaged").click()
                await expect(page.get_by_test_id("stage")).to_have_text("Engaged",
                                                                        timeout=15_000)
                await expect(page.locator(".timeline")).to_contain_text("stage changed",
                                                                        timeout=15_000)
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / "console-group.png"), full_page=True)

                for link, heading in (("Overview", "Overview"),
                                      ("Buying groups", "Buying groups"),
                                      ("Alerts", "Alerts"),
                                      ("Activity source", "Activity source"),
                                      ("Webhooks", "Webhooks")):
                    await page.get_by_role("link", name=link, exact=True).click()
                    await expect(page.get_by_role("heading", name=heading).first
                                 ).to_be_visible(timeout=15_000)
                    await accessible(page, api, link)
                    if link == "Overview":
                        await page.screenshot(path=str(SHOTS / "console-overview.png"))
                    if link == "Alerts":  # a rule of each kind the form offers
                        await page.get_by_label("Rule name").fill("Entered engaged")
                        await page.get_by_label("When").select_option("stageEntered")
                        await page.get_by_label("Stage", exact=True).select_option(
                            label="Funnel: Engaged")
                        await page.get_by_role("button", name="Add rule").click()
                        await expect(page.locator("li", has_text="Entered engaged")
                                     ).to_be_visible(timeout=15_000)
                # At a phone's size, the list still reads.
                await page.set_viewport_size({"width": 390, "height": 844})
                await page.get_by_role("link", name="Buying groups", exact=True).click()
                await expect(page.get_by_role("link", name="Enterprise for Account 1")
                             ).to_be_visible(timeout=15_000)
                await accessible(page, api, "groups on a phone")
                assert errors == [], errors
            finally:
                await browser.close()
    finally:
        stop(processes)
    assert outside == [], outside  # nothing leaves the service's origin


async def test_a_read_key_sees_everything_and_changes_nothing(
    settings: Settings, tenant: TenantKeys, gql: GraphQLClient,
) -> None:
    from playwright.async_api import async_playwright, expect

    _, stage, groups = await groups_with_stages(gql, settings, tenant.write)
    (api,), processes = start_api(settings, 1)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(f"{api}/console#key={tenant.read}")
                await expect(page.get_by_text("(read only)")).to_be_visible(timeout=30_000)
                await page.goto(f"{api}/console#/groups/{groups[0]['id']}")
                await expect(page.get_by_role("button", name="Engaged")).to_be_disabled(
                    timeout=15_000)
                await page.get_by_role("button", name="Show candidates for Practitioner").click()
                await expect(page.get_by_role("button", name="Accept").first).to_be_disabled(
                    timeout=15_000)
                await page.get_by_role("link", name="Templates").click()
                await expect(page.get_by_role("button", name="Save draft")).to_be_disabled(
                    timeout=15_000)
                # A wrong key is told as such, and the sign-in form comes back.
                other = await browser.new_page()
                await other.goto(f"{api}/console#key=bgk_not-a-key")
                await expect(other.get_by_role("alert")).to_contain_text(
                    "not valid", timeout=15_000)
                await expect(other.get_by_label("API key")).to_be_visible()
            finally:
                await browser.close()
    finally:
        stop(processes)
    assert stage and len(groups) == 2

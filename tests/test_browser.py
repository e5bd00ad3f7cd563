"""The API from a real browser (#22): headless Chromium opens a page served from a second origin,
which calls the API with `fetch` (CORS), sends a persisted query over GET (registering it on
PERSISTED_QUERY_NOT_FOUND, as Apollo's clients do) and subscribes with the graphql-ws client;
the test reads what the page got. Then GraphiQL, served by the service with no CDN, runs a browse
query; its screenshot goes to .data/screenshots/graphiql.png (the picture in docs/api.md).

Chromium is Debian's (.ci/run installs it); without it the test is skipped, except where
REQUIRE_BROWSER is set (CI), where it fails."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.http.graphiql import STATIC
from service.infra.config import Settings
from tests.support import (
    GraphQLClient,
    TenantKeys,
    free_port,
    generate,
    setup_catalogue,
    start_api,
    stop,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".data" / "screenshots"
# As the machine's notes advise: no sandbox as root, and no calls out of this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

if CHROMIUM is None and not os.environ.get("REQUIRE_BROWSER"):
    pytest.skip("no Chromium here (apt-get install chromium)", allow_module_level=True)

# The page a front end would be: everything it does goes into window.results.
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="graphql-ws.min.js"></script></head><body><pre id="out">running</pre><script>
const params = new URLSearchParams(location.hash.slice(1));
const api = params.get("api"), key = params.get("key"), job = params.get("job");
const results = {origin: location.origin};
async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
async function post(body) {
  const response = await fetch(api + "/graphql", {method: "POST", body: JSON.stringify(body),
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"}});
  return response.json();
}
async function persistedGet(query) {
  const extensions = {persistedQuery: {version: 1, sha256Hash: await sha256(query)}};
  const url = api + "/graphql?extensions=" + encodeURIComponent(JSON.stringify(extensions));
  const get = () => fetch(url, {headers: {"Authorization": "Bearer " + key}});
  let response = await get(), body = await response.json();
  const first = body.errors ? body.errors[0].extensions.code : "found";
  if (first === "PERSISTED_QUERY_NOT_FOUND") {
    await post({query, extensions});
    response = await get();
    body = await response.json();
  }
  return {first, status: response.status, etag: response.headers.get("ETag"), body};
}
function subscribe() {
  return new Promise((resolve, reject) => {
    const client = graphqlWs.createClient({url: api.replace(/^http/, "ws") + "/graphql",
      connectionParams: {Authorization: "Bearer " + key}});
    client.subscribe({query: "subscription($id: ID!) { jobProgress(jobId: $id) { id status } }",
                      variables: {id: job}},
      {next: (value) => { client.dispose(); resolve(value); },
       error: (e) => reject(e.code ? `closed ${e.code} ${e.reason}` : String(e.message || e)),
       complete: () => {}});
  });
}
(async () => {
  try {
    results.fetch = await post({query: "{ viewer { tenant { name } scopes } }"});
    results.persisted = await persistedGet(
      "query Count { buyingGroups(first: 1) { totalCount } } # from the browser test");
    results.subscription = await subscribe();
  } catch (error) {
    results.error = String(error);
  }
  window.results = results;
  document.getElementById("out").textContent = JSON.stringify(results);
})();
</script></body></html>"""


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    """A second origin serving the page and the graphql-ws client the service vendors."""
    (tmp_path / "index.html").write_text(PAGE)
    shutil.copy(STATIC / "graphql-ws.min.js", tmp_path / "graphql-ws.min.js")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_web_page_of_another_origin_and_graphiql_work_in_chromium(
    settings: Settings, tenant: TenantKeys, gql: GraphQLClient, other_origin: str,
) -> None:
    from playwright.async_api import async_playwright

    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = (await gql.data("mutation { refreshScores(input: {}) { job { id } } }",
                          key=tenant.write))["refreshScores"]["job"]["id"]
    (api,), processes = start_api(settings, 1, CORS_ALLOW_ORIGINS=other_origin)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{other_origin}/index.html#api={api}&key={tenant.read}"
                                f"&job={job}")
                await page.wait_for_function("window.results !== undefined", timeout=30_000)
                results = await page.evaluate("window.results")
                await graphiql(browser, api, tenant.read)
            finally:
                await browser.close()
    finally:
        stop(processes)
    assert "error" not in results, results
    assert results["fetch"]["data"] == {"viewer": {"tenant": {"name": tenant.name},
                                                   "scopes": ["READ"]}}
    persisted = results["persisted"]
    assert persisted["first"] == "PERSISTED_QUERY_NOT_FOUND"
    assert persisted["status"] == 200 and persisted["etag"]  # the ETag is exposed to the page
    assert persisted["body"]["data"] == {"buyingGroups": {"totalCount": 3}}
    assert results["subscription"]["data"]["jobProgress"]["id"] == job


async def graphiql(browser: Any, api: str, key: str) -> None:
    """GraphiQL from the service itself runs a browse query; the result is screenshotted."""
    page = await browser.new_page(viewport={"width": 1400, "height": 800})
    outside: list[str] = []
    def leaving(request: Any) -> None:
        if not request.url.startswith(api):
            outside.append(request.url)

    page.on("request", leaving)
    # As `make run` prints it: the key in the fragment fills the headers, then leaves the URL.
    await page.goto(f"{api}/graphql#key={key}")
    await page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
    assert "#key" not in page.url
    await page.click(".graphiql-execute-button")
    # Locators, not wait_for_function: the page's CSP refuses the eval that one would need.
    await page.locator(".result-window", has_text="Cloud for Account").wait_for(timeout=30_000)
    assert outside == [], outside  # no CDN, nothing from anywhere but the service
    await page.evaluate("""() => {
        const editors = [...document.querySelectorAll('.CodeMirror')].map((e) => e.CodeMirror);
        const headers = editors.find((e) => e.getValue().includes('Authorization'));
        headers.setValue('{\\n  "Authorization": "Bearer bgk_…"\\n}');
    }""")  # the picture shows no key
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "graphiql.png"))
    result = await page.inner_text(".result-window")
    assert '"totalCount": 3' in result, result

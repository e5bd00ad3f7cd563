// The console's shell: sign-in, navigation, and the screen the address names (#/groups, ...).
import { html, render, useEffect, useState } from "/static/preact-htm.module.js";
import { call, session, signIn, signOut } from "./api.js";
import { Problem } from "./ui.js";
import { Overview } from "./screens/overview.js";
import { Groups } from "./screens/groups.js";
import { Group } from "./screens/group.js";
import { Templates } from "./screens/templates.js";
import { Jobs } from "./screens/jobs.js";
import { Alerts } from "./screens/alerts.js";
import { Activity } from "./screens/activity.js";
import { Webhooks } from "./screens/webhooks.js";

const SCREENS = [
  ["overview", "Overview", Overview], ["groups", "Buying groups", Groups],
  ["templates", "Templates", Templates], ["jobs", "Jobs", Jobs],
  ["alerts", "Alerts", Alerts], ["activity", "Activity source", Activity],
  ["webhooks", "Webhooks", Webhooks],
];

function route() {
  const [screen = "overview", id] = location.hash.replace(/^#\/?/, "").split("/");
  return { screen, id: id ? decodeURIComponent(id) : null };
}

function SignIn({ onDone }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    signIn(key.trim());
    try {
      await onDone();
    } catch (failure) {
      signOut();
      setError(failure);
    }
  };
  return html`<main class="signin"><h1>Buying Groups console</h1>
    <form onSubmit=${submit}>
      <label for="key">API key</label>
      <input id="key" type="password" autocomplete="off" value=${key} required
             onInput=${(e) => setKey(e.target.value)} />
      <p class="hint">Kept in this tab only, and sent to this service only.</p>
      <button type="submit">Sign in</button>
      <${Problem} error=${error} />
    </form></main>`;
}

function App() {
  const [where, setWhere] = useState(route());
  const [ready, setReady] = useState(false);
  const [error, setError] = useState(null);

  async function whoAmI() {
    const data = await call("ConsoleViewer");
    session.scopes = data.viewer.scopes;
    session.tenant = data.viewer.tenant;
    setReady(true);
  }

  useEffect(() => {
    const moved = () => setWhere(route());
    addEventListener("hashchange", moved);
    if (session.key) whoAmI().catch((failure) => { signOut(); setError(failure); });
    return () => removeEventListener("hashchange", moved);
  }, []);

  if (!session.key || !ready) {
    return session.key && !error ? html`<p class="loading">Signing in…</p>`
      : html`<div><${SignIn} onDone=${whoAmI} /><${Problem} error=${error} /></div>`;
  }
  const found = SCREENS.find(([name]) => name === where.screen) || SCREENS[0];
  const Screen = where.screen === "groups" && where.id ? Group : found[2];
  const readOnly = !session.scopes.includes("WRITE");
  return html`<div class="shell">
    <header>
      <a class="brand" href="#/overview">Buying Groups</a>
      <nav aria-label="Screens"><ul>${SCREENS.map(([name, label]) => html`<li>
        <a href=${`#/${name}`} aria-current=${name === found[0] ? "page" : undefined}>${label}</a>
      </li>`)}</ul></nav>
      <span class="who">${session.tenant.name}${readOnly ? " (read only)" : ""}</span>
      <button class="link" onClick=${() => { signOut(); location.hash = ""; location.reload(); }}>
        Sign out</button>
    </header>
    <main id="main"><${Screen} id=${where.id} key=${where.screen + (where.id || "")} /></main>
  </div>`;
}

// `make run` opens the console with the demo key in the address's fragment (never sent to the
// service): take it, keep it for the tab, and drop it from the address.
const given = new URLSearchParams(location.hash.replace(/^#\/?/, "")).get("key");
if (given) {
  signIn(given);
  history.replaceState(null, "", location.pathname + "#/overview");
}
render(html`<${App} />`, document.getElementById("console"));

// Webhook endpoints and how their deliveries go (an ADMIN key's screen).
import { html } from "/static/preact-htm.module.js";
import { can } from "../api.js";
import { Loading, Problem, useQuery, when } from "../ui.js";

function Endpoints() {
  const { data, error } = useQuery("ConsoleWebhooks", {});
  if (error) return html`<${Problem} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  const endpoints = data.webhookEndpoints;
  if (!endpoints.length) {
    return html`<p>No endpoints yet: <code>createWebhookEndpoint</code> adds one (see the
      integrators' guide).</p>`;
  }
  return html`<table class="list"><thead><tr><th scope="col">URL</th>
    <th scope="col">Events</th><th scope="col">Status</th><th scope="col">Last delivered</th>
    <th scope="col">Failures</th><th scope="col">Last error</th></tr></thead><tbody>
    ${endpoints.map((e) => html`<tr><td>${e.url}</td>
      <td>${e.kinds.length ? e.kinds.join(", ").toLowerCase() : "all"}</td>
      <td>${e.status.toLowerCase()}</td><td>${when(e.lastDeliveryAt)}</td>
      <td>${e.consecutiveFailures}${e.failingSince ? ` since ${when(e.failingSince)}` : ""}
      </td><td>${e.lastError || "–"}</td></tr>`)}</tbody></table>`;
}

export function Webhooks() {
  return html`<section aria-labelledby="webhooks-title">
    <h1 id="webhooks-title">Webhooks</h1>
    ${can("ADMIN") ? html`<${Endpoints} />`
      : html`<p>Webhook endpoints are managed with an ADMIN key.</p>`}
  </section>`;
}

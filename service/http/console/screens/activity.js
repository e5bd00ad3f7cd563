// The activity source: where activity comes from and how its syncs go.
import { html } from "/static/preact-htm.module.js";
import { Loading, Problem, useQuery, when } from "../ui.js";

export function Activity() {
  const { data, error } = useQuery("ConsoleActivity", {});
  if (error) return html`<${Problem} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  const s = data.activitySync;
  return html`<section aria-labelledby="activity-title">
    <h1 id="activity-title">Activity source</h1>
    <dl class="facts">
      <dt>Source</dt><dd>${s.source.baseUrl || "none configured"}</dd>
      <dt>Client id</dt><dd>${`${s.source.clientId || "–"}${s.source.hasClientSecret
        ? " (secret set)" : ""}`}</dd>
      <dt>Last sync</dt><dd>${when(s.lastRunAt)}</dd>
      <dt>Last success</dt><dd>${when(s.lastSuccessAt)}</dd>
      <dt>Activities stored</dt><dd>${s.activitiesIngested}</dd>
      <dt>Activities skipped</dt><dd>${s.activitiesRejected}</dd>
      <dt>Last error</dt><dd>${s.lastError || "none"}</dd>
    </dl></section>`;
}

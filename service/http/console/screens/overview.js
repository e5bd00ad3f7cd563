// The dashboard: how many groups, where they stand, which are hot, which are stuck.
import { html } from "/static/preact-htm.module.js";
import { Bars, Loading, Problem, band, number, useQuery } from "../ui.js";

const percent = (share) => `${Math.round(100 * share)} %`;

export function Overview() {
  const { data, error, loading } = useQuery("ConsoleOverview", {});
  if (error) return html`<${Problem} error=${error} />`;
  if (loading && !data) return html`<${Loading} />`;
  const o = data.buyingGroupsOverview;
  return html`<section aria-labelledby="overview-title">
    <h1 id="overview-title">Overview</h1>
    <div class="cards">
      <div class="card"><span class="big">${o.total}</span> buying groups</div>
      <div class="card"><span class="big">${number(o.averageCompleteness, 0)}</span>
        average completeness</div>
      <div class="card"><span class="big">${number(o.averageEngagement)}</span>
        average engagement</div>
      <div class="card"><span class="big">${o.stagnantCount}</span> stagnant</div>
    </div>
    <div class="grid">
      <${Bars} caption="Groups by stage" rows=${o.byStage.map((s) => ({
        label: s.stage ? s.stage.name : "No stage", value: s.count }))} />
      <${Bars} caption="Completeness" rows=${o.completenessBands.map((b) => ({
        label: band(b), value: b.count }))} />
      <${Bars} caption="Engagement (the tenant's distribution)" rows=${o.engagementBands.map(
        (b) => ({ label: band(b), value: b.count }))} />
      <${Bars} caption="Role coverage: groups with the role filled" format=${percent}
        rows=${o.roleCoverage.map((r) => ({ label: r.role.name, value: r.share }))} />
    </div>
    <div class="grid">
      <div><h2>Most engaged</h2><ol>${o.topEngaged.map((g) => html`<li>
        <a href=${`#/groups/${encodeURIComponent(g.id)}`}>${g.name}</a>
        <span class="muted">${` engagement ${g.engagement.display}, completeness ${
          g.completeness.display}`}</span></li>`)}</ol></div>
      <div><h2>Stagnant</h2>
        <p class="hint">Complete (75 or more) and no stage change in 30 days.</p>
        ${o.stagnant.length ? html`<ul>${o.stagnant.map((g) => html`<li>
          <a href=${`#/groups/${encodeURIComponent(g.id)}`}>${g.name}</a>
          <span class="muted"> completeness ${g.completeness.display}</span></li>`)}</ul>`
          : html`<p>None.</p>`}</div>
    </div>
  </section>`;
}

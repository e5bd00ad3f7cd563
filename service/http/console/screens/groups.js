// The groups list: filters, sort, pages of 50, and live updates as groups change.
import { html, useEffect, useState } from "/static/preact-htm.module.js";
import { subscribe } from "../api.js";
import { Field, Loading, Problem, Trend, useQuery } from "../ui.js";

const PAGE = 50;
const ORDERS = [["NAME", "Name"], ["ENGAGEMENT_SCORE", "Engagement"],
                ["ENGAGEMENT_TREND", "Trend (7 days)"], ["COMPLETENESS_SCORE", "Completeness"],
                ["UPDATED_AT", "Last change"]];

function range(min, max) {
  const found = {};
  if (min !== "") found.gte = Number(min);
  if (max !== "") found.lte = Number(max);
  return Object.keys(found).length ? found : undefined;
}

function toFilter(f) {
  const filter = {};
  if (f.search) filter.search = f.search;
  if (f.interest) filter.solutionInterestIds = [f.interest];
  if (f.stage) filter.stageIds = [f.stage];
  if (f.missingRole) filter.missingRoleIds = [f.missingRole];
  const completeness = range(f.completenessMin, f.completenessMax);
  if (completeness) filter.completenessScore = completeness;
  const engagement = range(f.engagementMin, f.engagementMax);
  if (engagement) filter.engagementScore = engagement;
  if (f.trendMin !== "") filter.engagementTrend = { gte: Number(f.trendMin) };
  return filter;
}

const EMPTY = { search: "", interest: "", stage: "", missingRole: "", completenessMin: "",
                completenessMax: "", engagementMin: "", engagementMax: "", trendMin: "" };

function Filters({ value, onChange }) {
  const { data } = useQuery("ConsoleCatalogue", {});
  const set = (name) => (event) => onChange({ ...value, [name]: event.target.value });
  const options = (items) => items.map((i) => html`<option value=${i.id}>${i.name}</option>`);
  const stages = data ? data.stageModels.nodes.flatMap((m) => m.stages.map((s) => ({
    id: s.id, name: `${m.name}: ${s.name}` }))) : [];
  return html`<form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
    <${Field} label="Name"><input type="search" value=${value.search}
      onInput=${set("search")} /><//>
    <${Field} label="Solution interest"><select value=${value.interest}
      onChange=${set("interest")}><option value="">Any</option>
      ${data && options(data.solutionInterests.nodes)}</select><//>
    <${Field} label="Stage"><select value=${value.stage} onChange=${set("stage")}>
      <option value="">Any</option>${options(stages)}</select><//>
    <${Field} label="Missing role"><select value=${value.missingRole}
      onChange=${set("missingRole")}><option value="">None required</option>
      ${data && options(data.roles.nodes)}</select><//>
    <${Field} label="Completeness from"><input type="number" min="0" max="100"
      value=${value.completenessMin} onInput=${set("completenessMin")} /><//>
    <${Field} label="to"><input type="number" min="0" max="100"
      value=${value.completenessMax} onInput=${set("completenessMax")} /><//>
    <${Field} label="Engagement from"><input type="number" min="0"
      value=${value.engagementMin} onInput=${set("engagementMin")} /><//>
    <${Field} label="to"><input type="number" min="0" value=${value.engagementMax}
      onInput=${set("engagementMax")} /><//>
    <${Field} label="Risen by at least (7 days)"><input type="number"
      value=${value.trendMin} onInput=${set("trendMin")} /><//>
    <button type="button" class="link" onClick=${() => onChange(EMPTY)}>Clear</button>
  </form>`;
}

export function Groups() {
  const [filters, setFilters] = useState(EMPTY);
  const [order, setOrder] = useState({ field: "NAME", direction: "ASC" });
  const [pages, setPages] = useState([null]);  // the cursors of the pages seen so far
  const after = pages[pages.length - 1];
  const variables = { filter: toFilter(filters), orderBy: order, first: PAGE, after };
  const query = useQuery("ConsoleGroups", variables, [JSON.stringify(variables)]);
  const [live, setLive] = useState("connecting");

  // Any change to a group shows here within a moment: the page is read again (at most every
  // two seconds, so a burst of events costs one read).
  useEffect(() => {
    let timer = null;
    const stop = subscribe("ConsoleGroupEvents", { filter: null }, () => {
      setLive("live");
      if (timer === null) timer = setTimeout(() => { timer = null; query.reload(); }, 2000);
    }, () => setLive("offline"));
    setLive("live");
    return () => { stop(); if (timer) clearTimeout(timer); };
  }, []);

  const change = (next) => { setFilters(next); setPages([null]); };
  const sort = (event) => {
    const [field, direction] = event.target.value.split(" ");
    setOrder({ field, direction });
    setPages([null]);
  };
  const found = query.data && query.data.buyingGroups;
  return html`<section aria-labelledby="groups-title">
    <h1 id="groups-title">Buying groups <span class="badge" title="Live updates">${live}</span></h1>
    <${Filters} value=${filters} onChange=${change} />
    <${Field} label="Sort by"><select onChange=${sort}
      value=${`${order.field} ${order.direction}`}>${ORDERS.flatMap(([field, label]) => [
        html`<option value=${`${field} ASC`}>${label} (ascending)</option>`,
        html`<option value=${`${field} DESC`}>${label} (descending)</option>`])}</select><//>
    <${Problem} error=${query.error} />
    ${!found ? html`<${Loading} />` : html`
      <p class="muted">${found.totalCount} groups</p>
      <table class="list"><thead><tr><th scope="col">Group</th><th scope="col">Stage</th>
        <th scope="col">Members</th><th scope="col">Completeness</th>
        <th scope="col">Engagement</th><th scope="col">Trend</th></tr></thead>
      <tbody>${found.nodes.map((g) => html`<tr>
        <td><a href=${`#/groups/${encodeURIComponent(g.id)}`}>${g.name}</a></td>
        <td>${g.stage ? g.stage.name : "–"}</td><td>${g.memberCount}</td>
        <td>${g.completeness.display}</td><td>${g.engagement.display}</td>
        <td><${Trend} trend=${g.engagement.trend} /></td></tr>`)}</tbody></table>
      <nav class="pages" aria-label="Pages">
        <button disabled=${pages.length === 1}
          onClick=${() => setPages(pages.slice(0, -1))}>Previous</button>
        <span>Page ${pages.length}</span>
        <button disabled=${!found.pageInfo.hasNextPage}
          onClick=${() => setPages([...pages, found.pageInfo.endCursor])}>Next</button>
      </nav>`}
  </section>`;
}

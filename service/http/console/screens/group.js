// One group: its roles and members with why each holds the role, its scores with their history
// and trend, the stage moves its model allows, candidates for its missing roles, its timeline.
import { html, useEffect, useRef, useState } from "/static/preact-htm.module.js";
import { call, can, problems, subscribe } from "../api.js";
import { Bars, Loading, Problem, Trend, number, useQuery, when } from "../ui.js";

function person(p) {
  return [p.firstName, p.lastName].filter(Boolean).join(" ") || "(no name)";
}

function Why({ assignment }) {
  const a = assignment;
  return html`<details><summary>Why</summary>
    <p>${`${a.source === "SYSTEM" ? "The role's rules" : a.source === "MANUAL" ? "A user"
      : "An integration"} put them here on ${when(a.at)}${a.actor ? ` (${a.actor})` : ""}. ${
      a.matched === null ? "The role has no rules." : a.matched
        ? "They meet the role's rules now." : "They do not meet the role's rules now."}`}</p>
    ${a.conditionResults.length ? html`<ul class="reasons">${a.conditionResults.map((r) =>
      html`<li class=${r.matched ? "met" : "unmet"}>${`${r.matched ? "✓" : "✗"} ${
        r.attribute} ${r.operator.toLowerCase().replace(/_/g, " ")} ${r.expected.join(", ")
        }: is “${r.actual === null ? "empty" : r.actual}”`}</li>`)}</ul>` : null}
  </details>`;
}

function History({ snapshots }) {
  if (snapshots.length < 2) {
    return html`<p class="muted">The score history draws once the group has two daily
      snapshots (the first sync or nightly pass adds one a day).</p>`;
  }
  return html`<${Chart} snapshots=${snapshots} />`;
}

function Chart({ snapshots }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current || !snapshots.length || !globalThis.uPlot) return undefined;
    const days = snapshots.map((s) => Date.parse(s.date) / 1000);
    const chart = new globalThis.uPlot({
      width: Math.min(640, box.current.clientWidth || 640), height: 200,
      series: [{}, { label: "Engagement", stroke: "#1f6feb", width: 2 },
               { label: "Completeness", stroke: "#2da44e", width: 2 }],
      axes: [{}, {}] },
      [days, snapshots.map((s) => s.engagement), snapshots.map((s) => s.completeness)],
      box.current);
    return () => chart.destroy();
  }, [snapshots]);
  return html`<figure><div ref=${box} class="chart" role="img"
      aria-label=${`Scores over the last ${snapshots.length} days`}></div>
    <figcaption>Daily snapshots of both scores.</figcaption></figure>`;
}

function Candidates(props) {
  const [shown, setShown] = useState(false);
  if (!shown) {
    return html`<button class="link" onClick=${() => setShown(true)}>
      Show candidates for ${props.role.name}</button>`;
  }
  return html`<${CandidateList} ...${props} />`;
}

function CandidateList({ group, role, onChanged }) {
  const [error, setError] = useState(null);
  const found = useQuery("Recommendations", { buyingGroupId: group, roleId: role.id, first: 5 });
  const act = async (name, personId) => {
    setError(null);
    try {
      const data = await call(name, { input: { buyingGroupId: group, roleId: role.id,
                                               personId } });
      const payload = Object.values(data)[0];
      if (payload.userErrors.length) setError(problems(payload));
      else { found.reload(); onChanged(); }
    } catch (failure) { setError(failure); }
  };
  const list = found.data && found.data.node && found.data.node.recommendations;
  return html`<div class="candidates"><h4>Candidates for ${role.name}</h4>
    <${Problem} error=${error || found.error} />
    ${!list ? html`<${Loading} />` : !list.nodes.length ? html`<p>No one left to suggest.</p>`
      : html`<ul>${list.nodes.map((c) => html`<li>
        <strong>${person(c.person)}</strong>${" "}<span class="muted">${`${
          c.person.jobTitle || ""} · meets ${c.conditionsMet} of ${c.conditionsTotal} rules · ${
          number(c.engagementPoints)} activity points${c.assignedRole ? ` · now ${
          c.assignedRole.name}` : ""}`}</span>${" "}
        <button disabled=${!can("WRITE")} onClick=${() => act("AcceptRecommendation",
          c.person.id)}>Accept</button>
        <button class="link" disabled=${!can("WRITE")} onClick=${() => act(
          "DismissRecommendation", c.person.id)}>Dismiss</button></li>`)}</ul>`}
  </div>`;
}

function Timeline({ id, round }) {
  const { data, error } = useQuery("ConsoleGroupTimeline", { groupId: id }, [round]);
  if (error) return html`<${Problem} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  const events = [...data.buyingGroupEventLog.nodes].reverse().slice(0, 30);
  return html`<ol class="timeline">${events.map((e) => html`<li>
    <time>${when(e.occurredAt)}</time>${` ${e.kind.toLowerCase().replace(/_/g, " ")}${
      e.person ? ` · ${person(e.person)}` : ""}${e.role ? ` · ${e.role.name}` : ""}${
      typeof e.newValue === "number" ? ` · ${number(e.previousValue)} → ${number(e.newValue)}`
      : ""}`}</li>`)}</ol>`;
}

export function Group({ id }) {
  const [round, setRound] = useState(0);
  const { data, error, loading, reload } = useQuery("ConsoleGroup", { id }, [round]);
  const [moveError, setMoveError] = useState(null);
  useEffect(() => subscribe("ConsoleGroupEvents", { filter: { buyingGroupIds: [id] } },
                            () => setRound((n) => n + 1)), [id]);
  if (error) return html`<${Problem} error=${error} />`;
  if (loading && !data) return html`<${Loading} />`;
  const g = data.node;
  if (!g) return html`<p>This group does not exist (any more).</p>`;
  const move = async (stageId) => {
    setMoveError(null);
    try {
      const done = (await call("ConsoleSetStage", { buyingGroupId: id, stageId }))
        .setBuyingGroupStage;
      if (done.userErrors.length) setMoveError(problems(done));
      reload();
    } catch (failure) { setMoveError(failure); }
  };
  const missing = new Set(g.missingRoles.map((r) => r.id));
  return html`<article aria-labelledby="group-title">
    <p><a href="#/groups">← All groups</a></p>
    <h1 id="group-title">${g.name}</h1>
    <p class="muted">${g.account.name} · ${g.solutionInterest.name} · ${g.memberCount} members</p>
    <div class="cards">
      <div class="card"><span class="big">${g.completeness.display}</span> completeness${" "}
        <span class="muted">${`(${g.completeness.rolesFilled} of ${
          g.completeness.rolesTotal} roles filled)`}</span></div>
      <div class="card"><span class="big" data-testid="engagement">${g.engagement.display}</span>
        engagement${" "}<${Trend} trend=${g.engagement.trend} /></div>
      <div class="card"><span class="big" data-testid="stage">${g.stage ? g.stage.name : "–"}
        </span> stage
        ${g.stage && g.stage.nextStages.length ? html`<div class="moves">Move to:
          ${g.stage.nextStages.map((s) => html`<button disabled=${!can("WRITE")}
            onClick=${() => move(s.id)}>${s.name}</button>`)}</div>` : null}
        <${Problem} error=${moveError} /></div>
    </div>
    <h2>Roles and members</h2>
    ${g.roles.map((r) => html`<section class="role" aria-label=${r.role.name}>
      <h3>${r.role.name} <span class="muted">${`${r.memberCount} of ${r.membersRequired
        } required · ${r.weighting.toLowerCase()}`}</span>${r.isFilled ? "" : html` <span
        class="badge warn">missing</span>`}</h3>
      <ul>${r.members.map((m) => html`<li>${person(m.person)} <span class="muted">
        ${m.person.jobTitle || ""}</span><${Why} assignment=${m.assignment} /></li>`)}</ul>
      ${missing.has(r.role.id) ? html`<${Candidates} group=${id} role=${r.role}
        onChanged=${() => setRound((n) => n + 1)} />` : null}
    </section>`)}
    <h2>Engagement</h2>
    <p class="muted">${`Window ${g.engagement.windowStart} to ${g.engagement.windowEnd
      }; exact value ${number(g.engagement.value, 2)}.`}</p>
    <${Bars} caption="Weighted points by role" format=${(v) => number(v)}
      rows=${g.engagement.breakdown.map((b) => ({ label: `${b.role.name} (${number(
        b.weightPercent)} %)`, value: b.weightedPoints }))} />
    <${History} snapshots=${g.scoreHistory} />
    <h2>Timeline</h2>
    <${Timeline} id=${id} round=${round} />
  </article>`;
}

// Alerts: what crossed a rule, to acknowledge; the rules themselves, to add to.
import { html, useState } from "/static/preact-htm.module.js";
import { call, can, problems } from "../api.js";
import { Field, Loading, Problem, number, useQuery, when } from "../ui.js";

const CONDITIONS = [["engagementAtLeast", "Engagement reaches"],
                    ["completenessBelow", "Completeness falls below"]];

function NewRule({ onDone }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState(CONDITIONS[0][0]);
  const [threshold, setThreshold] = useState("50");
  const [error, setError] = useState(null);
  const create = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const done = (await call("CreateAlertRule", { input: { name, when: {
        [kind]: Number(threshold) } } })).createAlertRule;
      if (done.userErrors.length) setError(problems(done));
      else { setName(""); onDone(); }
    } catch (failure) { setError(failure); }
  };
  return html`<form class="row" onSubmit=${create} aria-label="New alert rule">
    <${Field} label="Rule name"><input value=${name} required
      onInput=${(e) => setName(e.target.value)} /><//>
    <${Field} label="When"><select value=${kind} onChange=${(e) => setKind(e.target.value)}>
      ${CONDITIONS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select><//>
    <${Field} label="Threshold"><input type="number" value=${threshold}
      onInput=${(e) => setThreshold(e.target.value)} /><//>
    <button type="submit" disabled=${!can("WRITE")}>Add rule</button>
    <${Problem} error=${error} /></form>`;
}

export function Alerts() {
  const [open, setOpen] = useState(true);
  const alerts = useQuery("Alerts", { filter: open ? { acknowledged: false } : null,
                                      first: 50 }, [open]);
  const rules = useQuery("AlertRules", {});
  const [error, setError] = useState(null);
  const acknowledge = async (id) => {
    try {
      const done = (await call("AcknowledgeAlert", { id })).acknowledgeAlert;
      if (done.userErrors.length) setError(problems(done));
      alerts.reload();
    } catch (failure) { setError(failure); }
  };
  return html`<section aria-labelledby="alerts-title"><h1 id="alerts-title">Alerts</h1>
    <${Problem} error=${error || alerts.error || rules.error} />
    <label class="field inline"><input type="checkbox" checked=${open}
      onChange=${(e) => setOpen(e.target.checked)} /> Only those not acknowledged</label>
    ${!alerts.data ? html`<${Loading} />` : html`<table class="list"><thead><tr>
      <th scope="col">When</th><th scope="col">Group</th><th scope="col">Rule</th>
      <th scope="col">What</th><th scope="col">Seen</th></tr></thead><tbody>
      ${alerts.data.alerts.nodes.map((a) => html`<tr>
        <td>${when(a.triggeredAt)}</td>
        <td>${a.buyingGroup ? html`<a href=${`#/groups/${encodeURIComponent(
          a.buyingGroup.id)}`}>${a.buyingGroup.name}</a>` : "–"}</td>
        <td>${a.rule ? a.rule.name : "–"}</td>
        <td>${a.condition.toLowerCase().replace(/_/g, " ")}${a.value !== null
          ? `: ${number(a.previousValue)} → ${number(a.value)}` : ""}${a.role
          ? `: ${a.role.name}` : ""}${a.stage ? `: ${a.stage.name}` : ""}</td>
        <td>${a.acknowledgedAt ? when(a.acknowledgedAt) : html`<button
          disabled=${!can("WRITE")} onClick=${() => acknowledge(a.id)}>Acknowledge</button>`}
        </td></tr>`)}</tbody></table>`}
    <h2>Rules</h2>
    ${rules.data ? html`<ul>${rules.data.alertRules.map((r) => html`<li>${`${r.name}: ${
      r.when.condition.toLowerCase().replace(/_/g, " ")} ${r.when.threshold ?? ""} ${
      r.enabled ? "" : "(paused)"}`}</li>`)}</ul>` : null}
    <${NewRule} onDone=${rules.reload} />
  </section>`;
}

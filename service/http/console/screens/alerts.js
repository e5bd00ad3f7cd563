// Alerts: what crossed a rule, to acknowledge; the rules themselves, to add to.
import { html, useState } from "/static/preact-htm.module.js";
import { call, can, problems } from "../api.js";
import { Field, Loading, Problem, number, useQuery, when } from "../ui.js";

const CONDITIONS = [["engagementAtLeast", "Engagement reaches"],
                    ["engagementRise", "Engagement rises by"],
                    ["completenessBelow", "Completeness falls below"],
                    ["roleEmptied", "A role loses its last member"],
                    ["stageEntered", "A group enters a stage"]];

function condition(kind, form) {
  switch (kind) {
    case "engagementRise":
      return { engagementRise: { points: Number(form.threshold), days: Number(form.days) } };
    case "roleEmptied":
      return { roleEmptied: { roleId: form.role || null } };
    case "stageEntered":
      return { stageEntered: form.stage };
    default:
      return { [kind]: Number(form.threshold) };
  }
}

function NewRule({ onDone }) {
  const catalogue = useQuery("ConsoleCatalogue", {});
  const [name, setName] = useState("");
  const [kind, setKind] = useState(CONDITIONS[0][0]);
  const [form, setForm] = useState({ threshold: "50", days: "7", role: "", stage: "" });
  const [error, setError] = useState(null);
  const set = (field) => (event) => setForm({ ...form, [field]: event.target.value });
  const create = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const done = (await call("CreateAlertRule", { input: { name,
        when: condition(kind, form) } })).createAlertRule;
      if (done.userErrors.length) setError(problems(done));
      else { setName(""); onDone(); }
    } catch (failure) { setError(failure); }
  };
  const data = catalogue.data;
  const stages = data ? data.stageModels.nodes.flatMap((m) => m.stages.map((st) => ({
    id: st.id, name: `${m.name}: ${st.name}` }))) : [];
  return html`<form class="row" onSubmit=${create} aria-label="New alert rule">
    <${Field} label="Rule name"><input value=${name} required
      onInput=${(e) => setName(e.target.value)} /><//>
    <${Field} label="When"><select value=${kind} onChange=${(e) => setKind(e.target.value)}>
      ${CONDITIONS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}</select><//>
    ${["engagementAtLeast", "completenessBelow", "engagementRise"].includes(kind) ? html`
      <${Field} label=${kind === "engagementRise" ? "Points" : "Threshold"}><input
        type="number" value=${form.threshold} onInput=${set("threshold")} /><//>` : null}
    ${kind === "engagementRise" ? html`<${Field} label="Within days"><input type="number"
      min="1" max="366" value=${form.days} onInput=${set("days")} /><//>` : null}
    ${kind === "roleEmptied" ? html`<${Field} label="Role"><select value=${form.role}
      onChange=${set("role")}><option value="">Any role</option>${data && data.roles.nodes
        .map((r) => html`<option value=${r.id}>${r.name}</option>`)}</select><//>` : null}
    ${kind === "stageEntered" ? html`<${Field} label="Stage"><select value=${form.stage}
      onChange=${set("stage")} required><option value="">Choose</option>${stages.map((st) =>
        html`<option value=${st.id}>${st.name}</option>`)}</select><//>` : null}
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

// Role templates: a draft with its roles, weights and rules, previewed on an audience before it
// is saved and published; then a solution interest that uses it, and its groups generated.
import { html, useState } from "/static/preact-htm.module.js";
import { call, can, problems } from "../api.js";
import { Field, Loading, Problem, band, number, useQuery } from "../ui.js";

const WEIGHTINGS = ["VITAL", "IMPORTANT", "NORMAL", "MINOR", "TRIVIAL"];
const ATTRIBUTES = ["jobTitle", "seniority", "department", "country", "city", "email"];
const OPERATORS = ["CONTAINS", "EQUALS", "STARTS_WITH", "ENDS_WITH", "NOT_CONTAINS"];

const blankRole = () => ({ roleId: "", weighting: "NORMAL", membersRequired: 1,
                           attribute: "jobTitle", operator: "CONTAINS", values: "" });

function entries(roles) {
  return roles.filter((r) => r.roleId).map((r) => {
    const values = r.values.split(",").map((v) => v.trim()).filter(Boolean);
    return { roleId: r.roleId, weighting: r.weighting,
             membersRequired: Number(r.membersRequired) || 1,
             conditions: values.length ? { match: "ANY", rules: [
               { attribute: r.attribute, operator: r.operator, values }] } : null };
  });
}

function Preview({ result }) {
  if (!result) return null;
  const p = result;
  return html`<section class="preview" aria-label="Preview" aria-live="polite">
    <h3>${`Preview: ${p.groups} groups, ${p.members} members, average completeness ${
      number(p.averageCompleteness)}`}</h3>
    <table class="list"><thead><tr><th scope="col">Completeness</th><th scope="col">Groups</th>
      </tr></thead><tbody>${p.completenessBands.map((b) => html`<tr><td>${band(b)}</td>
      <td>${b.groups}</td></tr>`)}</tbody></table>
    <table class="list"><thead><tr><th scope="col">Role</th><th scope="col">Filled</th>
      <th scope="col">Fill rate</th></tr></thead><tbody>${p.roles.map((r) => html`<tr>
      <td>${r.role ? r.role.name : "?"}</td><td>${r.filled}</td><td>${number(r.fillRate)} %</td>
      </tr>`)}</tbody></table>
    ${p.sample.map((g) => html`<details><summary>${`${g.account ? g.account.name : "?"
      }: completeness ${g.completenessDisplay}, ${g.memberCount} members`}</summary><ul>
      ${g.members.map((m) => html`<li>${`${m.person ? [m.person.firstName,
        m.person.lastName].filter(Boolean).join(" ") : "?"} as ${m.role ? m.role.name : "?"}`
        }</li>`)}</ul>
      </details>`)}
  </section>`;
}

function Editor({ catalogue, onSaved }) {
  const [name, setName] = useState("");
  const [scope, setScope] = useState("ACCOUNT");
  const [roles, setRoles] = useState([blankRole()]);
  const [audience, setAudience] = useState("");
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  const update = (i, field) => (event) => setRoles(roles.map((r, j) =>
    (j === i ? { ...r, [field]: event.target.value } : r)));

  const runPreview = async () => {
    setError(null);
    try {
      const data = await call("PreviewRoleTemplate", { input: {
        roles: entries(roles), memberScope: scope, accountListId: audience, sample: 3 } });
      const payload = data.previewRoleTemplate;
      if (payload.userErrors.length) setError(problems(payload));
      setPreview(payload.preview);
    } catch (failure) { setError(failure); }
  };
  const save = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const data = await call("ConsoleCreateTemplate", { input: {
        name, memberScope: scope, roles: entries(roles) } });
      const payload = data.createRoleTemplate;
      if (payload.userErrors.length) setError(problems(payload));
      else { setName(""); setRoles([blankRole()]); setPreview(null); onSaved(); }
    } catch (failure) { setError(failure); }
  };
  const options = (items) => items.map((i) => html`<option value=${i.id}>${i.name}</option>`);
  return html`<form class="editor" onSubmit=${save} aria-label="New role template">
    <h2>New template</h2>
    <${Field} label="Name"><input value=${name} required onInput=${(e) =>
      setName(e.target.value)} /><//>
    <${Field} label="People of"><select value=${scope} onChange=${(e) =>
      setScope(e.target.value)}><option value="ACCOUNT">the account</option>
      <option value="ACCOUNT_AND_DESCENDANTS">the account and its sub-accounts</option>
      </select><//>
    <table class="list"><caption>Roles, in priority order</caption><thead><tr>
      <th scope="col">Role</th><th scope="col">Weight</th><th scope="col">Required</th>
      <th scope="col">Rule: attribute</th><th scope="col">operator</th>
      <th scope="col">values (comma-separated)</th></tr></thead><tbody>
      ${roles.map((r, i) => html`<tr>
        <td><select aria-label=${`Role ${i + 1}`} value=${r.roleId}
          onChange=${update(i, "roleId")}><option value="">Choose</option>
          ${options(catalogue.roles.nodes)}</select></td>
        <td><select aria-label=${`Weight of role ${i + 1}`} value=${r.weighting}
          onChange=${update(i, "weighting")}>${WEIGHTINGS.map((w) => html`<option
          value=${w}>${w.toLowerCase()}</option>`)}</select></td>
        <td><input aria-label=${`Members required for role ${i + 1}`} type="number" min="1"
          value=${r.membersRequired} onInput=${update(i, "membersRequired")} /></td>
        <td><select aria-label=${`Attribute of role ${i + 1}'s rule`} value=${r.attribute}
          onChange=${update(i, "attribute")}>${ATTRIBUTES.map((a) => html`<option
          value=${a}>${a}</option>`)}</select></td>
        <td><select aria-label=${`Operator of role ${i + 1}'s rule`} value=${r.operator}
          onChange=${update(i, "operator")}>${OPERATORS.map((o) => html`<option
          value=${o}>${o.toLowerCase().replace(/_/g, " ")}</option>`)}</select></td>
        <td><input aria-label=${`Values of role ${i + 1}'s rule`} value=${r.values}
          onInput=${update(i, "values")} placeholder="none: assigned by hand" /></td>
      </tr>`)}</tbody></table>
    <button type="button" class="link" onClick=${() => setRoles([...roles, blankRole()])}>
      Add a role</button>
    <div class="row">
      <${Field} label="Preview on"><select value=${audience} onChange=${(e) =>
        setAudience(e.target.value)}><option value="">Choose an audience</option>
        ${options(catalogue.accountLists.nodes)}</select><//>
      <button type="button" disabled=${!audience} onClick=${runPreview}>Preview</button>
      <button type="submit" disabled=${!can("WRITE")}>Save draft</button>
    </div>
    <${Problem} error=${error} />
    <${Preview} result=${preview} />
  </form>`;
}

function Use({ template, catalogue }) {
  const [audience, setAudience] = useState("");
  const [model, setModel] = useState("");
  const [error, setError] = useState(null);
  const generate = async () => {
    setError(null);
    try {
      const made = (await call("ConsoleCreateSolutionInterest", { input: {
        name: template.name, roleTemplateId: template.id, stageModelId: model || null } }))
        .createSolutionInterest;
      const interest = made.solutionInterest || catalogue.solutionInterests.nodes.find(
        (i) => i.roleTemplate.id === template.id);
      if (!interest) { setError(problems(made)); return; }
      const job = (await call("ConsoleCreateGroups", { solutionInterestId: interest.id,
                                                      accountListId: audience }))
        .createBuyingGroups;
      if (job.userErrors.length) setError(problems(job));
      else location.hash = "#/jobs";
    } catch (failure) { setError(failure); }
  };
  return html`<span class="row">
    <select aria-label=${`Audience for ${template.name}`} value=${audience}
      onChange=${(e) => setAudience(e.target.value)}><option value="">Choose an audience</option>
      ${catalogue.accountLists.nodes.map((l) => html`<option value=${l.id}>${
        `${l.name} (${l.accountCount})`}</option>`)}</select>
    <select aria-label=${`Stage model for ${template.name}`} value=${model}
      onChange=${(e) => setModel(e.target.value)}><option value="">No stages</option>
      ${catalogue.stageModels.nodes.map((m) => html`<option value=${m.id}>${m.name}</option>`)}
      </select>
    <button disabled=${!audience || !can("WRITE")} onClick=${generate}>Generate groups</button>
    <${Problem} error=${error} /></span>`;
}

export function Templates() {
  const templates = useQuery("ConsoleTemplates", {});
  const catalogue = useQuery("ConsoleCatalogue", {});
  const [error, setError] = useState(null);
  const publish = async (id) => {
    setError(null);
    try {
      const done = (await call("ConsolePublishTemplate", { id })).publishRoleTemplate;
      if (done.userErrors.length) setError(problems(done));
      templates.reload();
    } catch (failure) { setError(failure); }
  };
  if (templates.error || catalogue.error) {
    return html`<${Problem} error=${templates.error || catalogue.error} />`;
  }
  if (!templates.data || !catalogue.data) return html`<${Loading} />`;
  return html`<section aria-labelledby="templates-title">
    <h1 id="templates-title">Role templates</h1>
    <${Problem} error=${error} />
    <table class="list"><thead><tr><th scope="col">Template</th><th scope="col">Status</th>
      <th scope="col">Roles</th><th scope="col">Action</th></tr></thead><tbody>
      ${templates.data.roleTemplates.nodes.map((t) => html`<tr>
        <td>${t.name}</td><td>${t.status.toLowerCase()}</td>
        <td>${t.roles.map((r) => r.role.name).join(", ")}</td>
        <td>${t.status === "DRAFT" ? html`<button disabled=${!can("WRITE")}
          onClick=${() => publish(t.id)}>Publish ${t.name}</button>`
          : html`<${Use} template=${t} catalogue=${catalogue.data} />`}</td></tr>`)}
    </tbody></table>
    <${Editor} catalogue=${catalogue.data} onSaved=${templates.reload} />
  </section>`;
}

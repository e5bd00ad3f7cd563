// Role templates: a draft with its roles, weights and rules, previewed on an audience before it
// is saved and published; then a solution interest that uses it, and its groups generated.
import { html, useState } from "/static/preact-htm.module.js";
import { call, can, problems } from "../api.js";
import { Field, Loading, Problem, band, number, useQuery } from "../ui.js";

const WEIGHTINGS = ["VITAL", "IMPORTANT", "NORMAL", "MINOR", "TRIVIAL"];
const ATTRIBUTES = ["jobTitle", "seniority", "department", "country", "city", "email"];
const OPERATORS = ["CONTAINS", "EQUALS", "STARTS_WITH", "ENDS_WITH", "NOT_CONTAINS"];

const blankRule = () => ({ attribute: "jobTitle", operator: "CONTAINS", values: "" });
const blankRole = () => ({ roleId: "", weighting: "NORMAL", membersRequired: 1, match: "ANY",
                           rules: [blankRule()] });

// The API's roles from the editor's rows: a rule without values is left out.
function entries(roles) {
  return roles.filter((r) => r.roleId).map((r) => {
    const rules = r.rules.map((rule) => ({ ...rule, values: rule.values.split(",")
      .map((v) => v.trim()).filter(Boolean) })).filter((rule) => rule.values.length);
    return { roleId: r.roleId, weighting: r.weighting,
             membersRequired: Number(r.membersRequired) || 1,
             conditions: rules.length ? { match: r.match, rules } : null };
  });
}

// The editor's rows from a template as the API gives it.
function rows(template) {
  return template.roles.map((r) => ({
    roleId: r.role.id, weighting: r.weighting, membersRequired: r.membersRequired,
    match: r.conditions ? r.conditions.match : "ANY",
    rules: r.conditions ? r.conditions.rules.map((rule) => ({
      attribute: rule.attribute, operator: rule.operator, values: rule.values.join(", ") }))
      : [blankRule()] }));
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

function RuleRow({ role, i, rule, j, set, remove }) {
  const label = (what) => `${what} of role ${i + 1}'s rule${j ? ` ${j + 1}` : ""}`;
  return html`<div class="row rule">
    <select aria-label=${label("Attribute")} value=${rule.attribute}
      onChange=${(e) => set({ ...rule, attribute: e.target.value })}>${ATTRIBUTES.map((a) =>
        html`<option value=${a}>${a}</option>`)}</select>
    <select aria-label=${label("Operator")} value=${rule.operator}
      onChange=${(e) => set({ ...rule, operator: e.target.value })}>${OPERATORS.map((o) =>
        html`<option value=${o}>${o.toLowerCase().replace(/_/g, " ")}</option>`)}</select>
    <input aria-label=${label("Values")} value=${rule.values} placeholder="comma-separated"
      onInput=${(e) => set({ ...rule, values: e.target.value })} />
    ${role.rules.length > 1 ? html`<button type="button" class="link" onClick=${remove}
      aria-label=${`Remove ${label("rule").replace(/^rule of /, "")}`}>Remove</button>` : null}
  </div>`;
}

function RoleRow({ role, i, catalogue, set, remove }) {
  const field = (name) => (event) => set({ ...role, [name]: event.target.value });
  const setRule = (j) => (rule) => set({ ...role, rules: role.rules.map((r, k) =>
    (k === j ? rule : r)) });
  return html`<fieldset class="role-row"><legend>Role ${i + 1}</legend>
    <div class="row">
      <select aria-label=${`Role ${i + 1}`} value=${role.roleId}
        onChange=${field("roleId")}><option value="">Choose</option>
        ${catalogue.roles.nodes.map((r) => html`<option value=${r.id}>${r.name}</option>`)}
      </select>
      <select aria-label=${`Weight of role ${i + 1}`} value=${role.weighting}
        onChange=${field("weighting")}>${WEIGHTINGS.map((w) => html`<option
        value=${w}>${w.toLowerCase()}</option>`)}</select>
      <${Field} label=${`Members required for role ${i + 1}`}><input type="number" min="1"
        value=${role.membersRequired} onInput=${field("membersRequired")} /><//>
      <select aria-label=${`Match of role ${i + 1}'s rules`} value=${role.match}
        onChange=${field("match")}><option value="ANY">any rule</option>
        <option value="ALL">every rule</option></select>
      <button type="button" class="link" onClick=${remove}>Remove role ${i + 1}</button>
    </div>
    ${role.rules.map((rule, j) => html`<${RuleRow} role=${role} i=${i} rule=${rule} j=${j}
      set=${setRule(j)} remove=${() => set({ ...role, rules: role.rules.filter((_, k) =>
        k !== j) })} />`)}
    <button type="button" class="link" onClick=${() => set({ ...role,
      rules: [...role.rules, blankRule()] })}>Add a rule to role ${i + 1}</button>
    <p class="hint">A role whose rules have no values is filled by hand only.</p>
  </fieldset>`;
}

function Editor({ catalogue, editing, onSaved, onCancel }) {
  const [name, setName] = useState(editing ? editing.name : "");
  const [scope, setScope] = useState(editing ? editing.memberScope : "ACCOUNT");
  const [roles, setRoles] = useState(editing ? rows(editing) : [blankRole()]);
  const [audience, setAudience] = useState("");
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);

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
      const input = { name, memberScope: scope, roles: entries(roles) };
      const payload = editing
        ? (await call("ConsoleUpdateTemplate", { input: { ...input, id: editing.id } }))
          .updateRoleTemplate
        : (await call("ConsoleCreateTemplate", { input })).createRoleTemplate;
      if (payload.userErrors.length) setError(problems(payload));
      else { setName(""); setRoles([blankRole()]); setPreview(null); onSaved(); }
    } catch (failure) { setError(failure); }
  };
  return html`<form class="editor" onSubmit=${save}
      aria-label=${editing ? `Edit ${editing.name}` : "New role template"}>
    <h2>${editing ? `Edit the draft ${editing.name}` : "New template"}</h2>
    <${Field} label="Name"><input value=${name} required onInput=${(e) =>
      setName(e.target.value)} /><//>
    <${Field} label="People of"><select value=${scope} onChange=${(e) =>
      setScope(e.target.value)}><option value="ACCOUNT">the account</option>
      <option value="ACCOUNT_AND_DESCENDANTS">the account and its sub-accounts</option>
      </select><//>
    <p class="hint">Roles in priority order: a person who meets several roles' rules takes the
      first.</p>
    ${roles.map((role, i) => html`<${RoleRow} role=${role} i=${i} catalogue=${catalogue}
      set=${(next) => setRoles(roles.map((r, k) => (k === i ? next : r)))}
      remove=${() => setRoles(roles.filter((_, k) => k !== i))} />`)}
    <button type="button" class="link" onClick=${() => setRoles([...roles, blankRole()])}>
      Add a role</button>
    <div class="row">
      <${Field} label="Preview on"><select value=${audience} onChange=${(e) =>
        setAudience(e.target.value)}><option value="">Choose an audience</option>
        ${catalogue.accountLists.nodes.map((l) => html`<option value=${l.id}>${l.name}
        </option>`)}</select><//>
      <button type="button" disabled=${!audience} onClick=${runPreview}>Preview</button>
      <button type="submit" disabled=${!can("WRITE")}>${editing ? "Save changes"
        : "Save draft"}</button>
      ${editing ? html`<button type="button" class="link" onClick=${onCancel}>Cancel</button>`
        : null}
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
  const [editing, setEditing] = useState(null);
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
        <td>${t.status === "DRAFT" ? html`<button class="link" disabled=${!can("WRITE")}
          onClick=${() => setEditing(t)}>Edit ${t.name}</button><button
          disabled=${!can("WRITE")} onClick=${() => publish(t.id)}>Publish ${t.name}</button>`
          : html`<${Use} template=${t} catalogue=${catalogue.data} />`}</td></tr>`)}
    </tbody></table>
    <${Editor} key=${editing ? editing.id : "new"} catalogue=${catalogue.data}
      editing=${editing} onCancel=${() => setEditing(null)}
      onSaved=${() => { setEditing(null); templates.reload(); }} />
  </section>`;
}

// Small pieces every screen uses: loading a shipped query, showing its errors, bar charts.
import { h, html, useCallback, useEffect, useMemo, useState } from "/static/preact-htm.module.js";
import { call } from "./api.js";

// Runs a shipped query now and whenever `deps` change; `reload` runs it again.
export function useQuery(name, variables, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    call(name, variables).then(
      (data) => {
        // bench/console.py reads these: from the response to the screen drawn with it.
        performance.mark(`${name}:response`);
        if (live) setState({ data, error: null, loading: false });
      },
      (error) => live && setState({ data: null, error, loading: false }));
    return () => { live = false; };
  }, [...deps, round]);
  useEffect(() => {
    if (state.data) {
      performance.mark(`${name}:drawn`);
      performance.measure(`${name}:draw`, `${name}:response`, `${name}:drawn`);
    }
  }, [state.data]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { ...state, reload };
}

export function Problem({ error }) {
  if (!error) return null;
  const text = typeof error === "string" ? error : error.message;
  return html`<p class="problem" role="alert">${text}</p>`;
}

export function Loading({ what = "Loading" }) {
  return html`<p class="loading" aria-busy="true">${what}…</p>`;
}

// A horizontal bar per item: a table (readable by screen readers) with bars drawn by CSS.
export function Bars({ caption, rows, format = (n) => n }) {
  const top = Math.max(1, ...rows.map((r) => r.value));
  return html`<table class="bars"><caption>${caption}</caption>
    <tbody>${rows.map((r) => html`<tr>
      <th scope="row">${r.label}</th>
      <td><span class="bar" style=${`width:${(75 * r.value / top).toFixed(1)}%`}></span>
          <span class="value">${format(r.value)}</span></td></tr>`)}</tbody></table>`;
}

export const number = (value, digits = 1) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

export function band(b) {
  return b.high === null ? `${number(b.low)} and above` : `${number(b.low)} to ${number(b.high)}`;
}

export function when(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

export function Trend({ trend }) {
  if (!trend) return html`<span class="trend muted">no history yet</span>`;
  const change = trend.change;
  const sign = change > 0 ? "▲" : change < 0 ? "▼" : "■";
  return html`<span class=${`trend ${change > 0 ? "up" : change < 0 ? "down" : ""}`}
    title=${`over ${trend.days || 7} days`}>${sign} ${number(Math.abs(change))}</span>`;
}

let fields = 0;

// A control with its label, tied by id: the control's name is the label alone (a select's
// options would join it if the label wrapped the control).
export function Field({ label, children }) {
  const id = useMemo(() => `field-${fields += 1}`, []);
  const control = [].concat(children).find((child) => child && child.type);
  return html`<div class="field"><label for=${id}>${label}</label>${
    control ? h(control.type, { ...control.props, id }) : children}</div>`;
}

// The GraphQL-over-HTTP specification's server audits (the graphql-http package), run against
// a live service: prints one JSON line, [{id, name, status, reason}], for tests/test_graphql_http.py.
// Usage: node graphql_http_audit.mjs <node_modules dir> <url> <api key>
import { createRequire } from "node:module";
import path from "node:path";

const [modules, url, key] = process.argv.slice(2);
const require = createRequire(path.join(modules, "noop.js"));
const { serverAudits } = require("graphql-http");

const authorized = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

const results = [];
for (const audit of serverAudits({ url, fetchFn: authorized })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status,
                 reason: result.status === "ok" ? null : String(result.reason) });
}
console.log(JSON.stringify(results));

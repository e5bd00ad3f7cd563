// The console's only way to the service: the public GraphQL API, with the operations shipped in
// graphql/operations/, sent by hash (GET for queries, so the browser may revalidate them; POST
// for mutations; graphql-transport-ws for subscriptions).
import { operations } from "/console/operations.js";

const KEY = "bg.console.key";

export const session = { key: sessionStorage.getItem(KEY), scopes: [], tenant: null };

export function signIn(key) {
  session.key = key;
  sessionStorage.setItem(KEY, key);  // for this tab only
}

export function signOut() {
  session.key = null;
  session.scopes = [];
  session.tenant = null;
  sessionStorage.removeItem(KEY);
  closeSocket();
}

export const can = (scope) => session.scopes.includes(scope);

// What a person reads for each code the API returns.
const MESSAGES = {
  UNAUTHENTICATED: "This API key is not valid (or was revoked): sign in again.",
  FORBIDDEN: "Your API key may not do this: it needs the WRITE (or ADMIN) scope.",
  THROTTLED: "Too many requests for now.",
  MAX_COST_EXCEEDED: "This view asks for too much at once: narrow it down.",
  TIMEOUT: "The service took too long to answer: try a narrower view.",
  SERVICE_UNAVAILABLE: "The service is busy or starting: try again in a moment.",
  PERSISTED_QUERY_NOT_IN_LIST: "This console is older than the service: reload the page.",
  PERSISTED_QUERY_NOT_FOUND: "This console is older than the service: reload the page.",
  INTERNAL_SERVER_ERROR: "Something went wrong in the service (it was logged).",
};

export class ApiError extends Error {
  constructor(code, message, retryAfter) {
    const known = MESSAGES[code];
    const wait = code === "THROTTLED" && retryAfter ? ` Try again in ${retryAfter} s.` : "";
    super(known ? known + wait : message || code);
    this.code = code;
    this.detail = message;
    this.retryAfter = retryAfter;
  }
}

function shipped(name) {
  const operation = operations[name];
  if (!operation) throw new Error(`${name} is not an operation shipped in graphql/operations/`);
  return operation;
}

function persisted(operation) {
  return { persistedQuery: { version: 1, sha256Hash: operation.hash } };
}

export async function call(name, variables = {}) {
  const operation = shipped(name);
  const headers = { Authorization: `Bearer ${session.key}`, Accept: "application/json" };
  let response;
  try {
    if (operation.kind === "query") {
      const params = new URLSearchParams({
        operationName: name, variables: JSON.stringify(variables),
        extensions: JSON.stringify(persisted(operation)) });
      response = await fetch(`/graphql?${params}`, { headers });
    } else {
      response = await fetch("/graphql", {
        method: "POST", headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ operationName: name, variables,
                               extensions: persisted(operation) }) });
    }
  } catch (error) {
    throw new ApiError("NETWORK", "The service cannot be reached: check your connection.");
  }
  let body = null;
  try { body = await response.json(); } catch (error) { /* not JSON: told below */ }
  if (!body) throw new ApiError(`HTTP_${response.status}`, `The service answered ${response.status}.`);
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(first.extensions && first.extensions.code, first.message,
                       response.headers.get("Retry-After"));
  }
  return body.data;
}

// userErrors of a mutation's payload, as one message for people.
export function problems(payload) {
  const errors = (payload && payload.userErrors) || [];
  return errors.map((e) => `${e.message} (${e.code}${e.field ? ", " + e.field.slice(1).join(".") : ""})`)
               .join("; ");
}

let socket = null;

function client() {
  if (socket === null) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = globalThis.graphqlWs.createClient({
      url: `${scheme}//${location.host}/graphql`, lazy: true, retryAttempts: 5,
      connectionParams: { Authorization: `Bearer ${session.key}` } });
  }
  return socket;
}

function closeSocket() {
  if (socket !== null) socket.dispose();
  socket = null;
}

// Calls `next` with each result of a shipped subscription; returns the function that stops it.
export function subscribe(name, variables, next, failed = () => {}) {
  const operation = shipped(name);
  return client().subscribe(
    { query: operation.document, operationName: name, variables,
      extensions: persisted(operation) },
    { next: (result) => (result.errors ? failed(new ApiError(
        result.errors[0].extensions && result.errors[0].extensions.code,
        result.errors[0].message)) : next(result.data)),
      error: (error) => failed(new ApiError("SOCKET", error && error.reason || "The live "
        + "connection was lost.")),
      complete: () => {} });
}

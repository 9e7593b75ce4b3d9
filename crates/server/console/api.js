// The console's only connection to the server: the token endpoint and the
// admin API, same origin. The admin token lives in this module's variable
// only (no cookie, no storage); signing out, its expiry or a 401 forgets it.

let token = null;
let expiresAt = 0;
let expiryTimer = null;
let onSignedOut = () => {};

/** An error answer of the API: its `error` code and `error_description`. */
export class ApiError extends Error {
  constructor(status, error, description) {
    super(description || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

/** What to do when the session ends (the reason, or null on sign-out). */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

export function signedIn() {
  return token !== null && Date.now() < expiresAt;
}

export function signOut(reason = null) {
  token = null;
  expiresAt = 0;
  clearTimeout(expiryTimer);
  onSignedOut(reason);
}

// RFC 6749 §2.3.1: id and secret form-urlencoded inside Basic.
function formEncode(text) {
  return encodeURIComponent(text).replace(/%20/g, "+");
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: said below with the status.
  }
  if (body && typeof body === "object" && (body.error_description || body.error)) {
    return new ApiError(response.status, body.error, body.error_description);
  }
  return new ApiError(response.status, null, `HTTP ${response.status} ${response.statusText}`.trim());
}

/** Trades the admin client's credentials for an `m2m:admin` token. */
export async function signIn(clientId, clientSecret) {
  const response = await fetch("/oauth/token", {
    method: "POST",
    headers: {
      Authorization: `Basic ${btoa(`${formEncode(clientId)}:${formEncode(clientSecret)}`)}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "m2m:admin" }),
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  const answer = await response.json();
  token = answer.access_token;
  // Forget it a little before it expires.
  const lifetime = Math.max(0, (answer.expires_in ?? 300) - 10) * 1000;
  expiresAt = Date.now() + lifetime;
  clearTimeout(expiryTimer);
  expiryTimer = setTimeout(() => signOut("Your session expired: sign in again."), lifetime);
}

/** Calls the admin API; answers the JSON body (null for 204). */
export async function api(method, path, body = undefined) {
  if (!signedIn()) {
    signOut("Your session expired: sign in again.");
    throw new ApiError(401, "unauthorized", "not signed in");
  }
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401) {
    const error = await failure(response);
    signOut(`Signed out: ${error.message}`);
    throw error;
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

/** A query string of the non-empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// The console's pages. Each renders into `ui.main` from admin API answers;
// every failure is shown as the API's error_description (see app.js).

import { api, query, signIn } from "./api.js";
import { keyTimeline, tokensChart } from "./chart.js";
import { h, localToRfc3339, when, words } from "./dom.js";

/** Seven days: a secret expiring sooner is flagged. */
const EXPIRY_WARNING_MS = 7 * 24 * 3600 * 1000;

const KINDS = ["org", "user", "service"];
const AUDIT_KINDS = [
  "tokens.issued", "auth.failed", "client.created", "client.updated", "client.deleted",
  "client.registered", "secret.created", "secret.deleted", "keys.rotated", "key.revoked",
  "grant.created", "grant.revoked", "consent.granted", "consent.denied", "token.revoked",
  "token.exchanged", "token.exchanged_revoked", "token.quota_exceeded",
  "federated_credential.created", "federated_credential.deleted", "org.quota_set",
  "org.quota_cleared", "registration.rate_limited",
];

function field(label, input, hint = null) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint && h("small", {}, hint));
}

function badge(text, kind = text) {
  return h("span", { class: `badge ${kind}` }, text);
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

function table(headers, rows, empty = "Nothing here yet.") {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows),
  );
}

/** The secret of a create answer, shown once, with a copy button. */
function secretOnce(ui, secret) {
  const value = h("code", { class: "secret", "data-testid": "new-secret" }, secret);
  const copy = h("button", {
    type: "button",
    "data-testid": "copy-secret",
    on: {
      click: ui.act(async () => {
        await navigator.clipboard.writeText(secret);
        copy.textContent = "Copied";
      }),
    },
  }, "Copy");
  return h(
    "div",
    { class: "once" },
    h("strong", {}, "Client secret (shown once; copy it now):"),
    h("div", { class: "row" }, value, copy),
  );
}

// ---- sign in --------------------------------------------------------------

export function signInView(ui, reason) {
  const id = h("input", { name: "client_id", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { name: "client_secret", type: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    {
      class: "card narrow",
      on: {
        submit: ui.act(async (event) => {
          event.preventDefault();
          await signIn(id.value.trim(), secret.value);
          secret.value = "";
          ui.signedIn();
        }),
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "With an admin client's credentials (scope m2m:admin), such as those in the bootstrap admin file m2m-admin.json. The token is kept in this tab's memory only."),
    reason && h("p", { class: "warn" }, reason),
    field("Client ID", id),
    field("Client secret", secret),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  ui.render(form);
  id.focus();
}

// ---- clients --------------------------------------------------------------

export async function clientsView(ui, params) {
  const org = params.get("org_id") ?? "";
  const kind = params.get("kind") ?? "";
  const enabled = params.get("enabled") ?? "";
  const search = params.get("q") ?? "";
  // Every page the filters select (at most 1000 clients), then search and
  // the enabled filter in the browser.
  const items = [];
  let cursor = null;
  for (let page = 0; page < 5; page++) {
    const answer = await api("GET", `/admin/clients${query({ org_id: org, kind, limit: 200, cursor })}`);
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  const needle = search.toLowerCase();
  const shown = items.filter(
    (c) =>
      (enabled === "" || String(c.enabled) === enabled) &&
      (needle === "" || c.name.toLowerCase().includes(needle) || c.client_id.toLowerCase().includes(needle)),
  );

  const q = h("input", { name: "q", type: "search", value: search, placeholder: "name or client ID" });
  const orgInput = h("input", { name: "org_id", value: org, placeholder: "any" });
  const kindSelect = h("select", { name: "kind" }, h("option", { value: "" }, "any"), KINDS.map((k) => h("option", { value: k, selected: k === kind }, k)));
  const enabledSelect = h(
    "select",
    { name: "enabled" },
    h("option", { value: "" }, "any"),
    h("option", { value: "true", selected: enabled === "true" }, "enabled"),
    h("option", { value: "false", selected: enabled === "false" }, "disabled"),
  );
  const filters = h(
    "form",
    {
      class: "filters",
      on: {
        submit: (event) => {
          event.preventDefault();
          ui.go(`#/clients${query({ q: q.value.trim(), org_id: orgInput.value.trim(), kind: kindSelect.value, enabled: enabledSelect.value })}`);
        },
      },
    },
    field("Search", q),
    field("Org", orgInput),
    field("Kind", kindSelect),
    field("Status", enabledSelect),
    h("button", { type: "submit" }, "Filter"),
  );
  const rows = shown.map((c) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/clients/${encodeURIComponent(c.client_id)}` }, c.name)),
      h("td", {}, h("code", {}, c.client_id)),
      h("td", {}, c.kind),
      h("td", {}, c.org_id ?? "—"),
      h("td", {}, c.enabled ? badge("enabled") : badge("disabled")),
      h("td", {}, c.scopes.join(" ")),
      h("td", {}, when(c.created_at)),
    ),
  );
  ui.render(
    h("div", { class: "head" }, h("h1", {}, "Clients"), h("a", { class: "button primary", href: "#/new" }, "New client")),
    filters,
    section(
      `${shown.length} of ${items.length} clients${cursor ? " (first 1000)" : ""}`,
      table(["Name", "Client ID", "Kind", "Org", "Status", "Scopes", "Created"], rows, "No client matches."),
    ),
  );
}

export function newClientView(ui) {
  const name = h("input", { name: "name", required: true });
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k, selected: k === "service" }, k)));
  const org = h("input", { name: "org_id" });
  const user = h("input", { name: "user_id" });
  const scopes = h("input", { name: "scopes", placeholder: "invoices:read invoices:write" });
  const audiences = h("input", { name: "audiences", placeholder: "the API's URI" });
  const ttl = h("input", { name: "token_ttl_seconds", type: "number", min: 300, max: 86400, placeholder: "3600" });
  const redirects = h("input", { name: "redirect_uris" });
  const metadata = h("textarea", { name: "metadata", rows: 3, placeholder: '{"team": "billing"}' });
  const result = h("div", {});
  const form = h(
    "form",
    {
      class: "card",
      on: {
        submit: ui.act(async (event) => {
          event.preventDefault();
          const body = { name: name.value.trim(), kind: kind.value, scopes: words(scopes.value) };
          if (org.value.trim()) body.org_id = org.value.trim();
          if (user.value.trim()) body.user_id = user.value.trim();
          if (audiences.value.trim()) body.audiences = words(audiences.value);
          if (ttl.value) body.token_ttl_seconds = Number(ttl.value);
          if (redirects.value.trim()) body.redirect_uris = words(redirects.value);
          if (metadata.value.trim()) {
            try {
              body.metadata = JSON.parse(metadata.value);
            } catch (e) {
              throw new Error(`metadata is not JSON: ${e.message}`);
            }
          }
          const created = await api("POST", "/admin/clients", body);
          form.hidden = true;
          result.append(
            section(
              `Created ${created.name}`,
              h("p", {}, "Client ID: ", h("code", { "data-testid": "new-client-id" }, created.client_id)),
              secretOnce(ui, created.client_secret),
              h("p", {}, h("a", { class: "button", href: `#/clients/${encodeURIComponent(created.client_id)}` }, "Open the client")),
            ),
          );
        }),
      },
    },
    field("Name", name),
    field("Kind", kind, "org: bound to an org; user: an org's user (authorization code); service: internal, by audience"),
    field("Org ID", org, "required for org and user clients"),
    field("User ID", user, "user clients"),
    field("Scopes", scopes, "space-separated"),
    field("Audiences", audiences, "space-separated; none: the issuer's default audience"),
    field("Token TTL (seconds)", ttl, "300 to 86400; default 3600"),
    field("Redirect URIs", redirects, "user clients"),
    field("Metadata (JSON object)", metadata),
    h("button", { type: "submit", class: "primary" }, "Create client"),
  );
  ui.render(h("h1", {}, "New client"), form, result);
  name.focus();
}

function secretRows(ui, client, now) {
  return (client.secrets ?? []).map((secret) => {
    const expires = secret.expires_at ? new Date(secret.expires_at).getTime() : null;
    let warning = null;
    if (expires !== null && expires <= now) warning = badge("expired", "danger");
    else if (expires !== null && expires - now < EXPIRY_WARNING_MS) warning = badge("expires soon", "warn");
    return h(
      "tr",
      { "data-secret": secret.secret_id },
      h("td", {}, h("code", {}, secret.secret_id)),
      h("td", {}, when(secret.created_at)),
      h("td", {}, when(secret.last_used_at)),
      h("td", {}, when(secret.expires_at), " ", warning),
      h(
        "td",
        {},
        h("button", {
          type: "button",
          class: "danger",
          on: {
            click: ui.act(async () => {
              if (!(await ui.confirm(`Remove secret ${secret.secret_id} of ${client.name}? Callers using it are refused at once.`))) return;
              await api("DELETE", `/admin/clients/${encodeURIComponent(client.client_id)}/secrets/${encodeURIComponent(secret.secret_id)}`);
              ui.notice("Secret removed.");
              ui.refresh();
            }),
          },
        }, "Remove"),
      ),
    );
  });
}

export async function clientView(ui, id) {
  const path = `/admin/clients/${encodeURIComponent(id)}`;
  const client = await api("GET", path);
  const since = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const minutes = await api("GET", `/admin/audit${query({ client_id: id, kind: "tokens.issued", since, limit: 200 })}`);
  const grants = client.kind === "user" ? await api("GET", `${path}/grants`) : null;
  const now = Date.now();

  const name = h("input", { name: "name", value: client.name });
  const scopes = h("input", { name: "scopes", value: client.scopes.join(" ") });
  const audiences = h("input", { name: "audiences", value: client.audiences.join(" ") });
  const ttl = h("input", { name: "token_ttl_seconds", type: "number", min: 300, max: 86400, value: client.token_ttl_seconds });
  const edit = h(
    "form",
    {
      class: "grid",
      on: {
        submit: ui.act(async (event) => {
          event.preventDefault();
          await api("PATCH", path, {
            name: name.value.trim(),
            scopes: words(scopes.value),
            audiences: words(audiences.value),
            token_ttl_seconds: Number(ttl.value),
          });
          ui.notice("Saved. (Narrowing scopes or audiences revokes the client's earlier tokens.)");
          ui.refresh();
        }),
      },
    },
    field("Name", name),
    field("Scopes", scopes, "space-separated"),
    field("Audiences", audiences, "space-separated"),
    field("Token TTL (seconds)", ttl),
    h("button", { type: "submit", class: "primary" }, "Save"),
  );

  const toggle = h("button", {
    type: "button",
    "data-testid": "toggle-enabled",
    class: client.enabled ? "danger" : "",
    on: {
      click: ui.act(async () => {
        if (client.enabled && !(await ui.confirm(`Disable ${client.name}? Its tokens are refused at once; enabling it again does not revive them.`))) return;
        await api("PATCH", path, { enabled: !client.enabled });
        ui.notice(client.enabled ? "Client disabled: its tokens are revoked." : "Client enabled.");
        ui.refresh();
      }),
    },
  }, client.enabled ? "Disable" : "Enable");
  const remove = h("button", {
    type: "button",
    class: "danger",
    on: {
      click: ui.act(async () => {
        if (!(await ui.confirm(`Delete the client "${client.name}" (${client.client_id})? This cannot be undone; its tokens are revoked.`))) return;
        await api("DELETE", path);
        ui.notice(`Deleted ${client.name}.`);
        ui.go("#/clients");
      }),
    },
  }, "Delete");

  const expiry = h("input", { name: "expires_at", type: "datetime-local" });
  const addSecret = h(
    "form",
    {
      class: "row",
      on: {
        submit: ui.act(async (event) => {
          event.preventDefault();
          const expires = localToRfc3339(expiry.value);
          const added = await api("POST", `${path}/secrets`, expires ? { expires_at: expires } : {});
          ui.refresh(secretOnce(ui, added.client_secret));
        }),
      },
    },
    field("Expires (optional)", expiry),
    h("button", { type: "submit" }, "Add secret"),
  );

  const details = h(
    "dl",
    { class: "details" },
    [
      ["Client ID", h("code", {}, client.client_id)],
      ["Kind", client.kind],
      ["Org", client.org_id ?? "—"],
      ["User", client.user_id ?? "—"],
      ["Status", client.enabled ? badge("enabled") : badge("disabled")],
      ["Auth method", client.token_endpoint_auth_method],
      ["Redirect URIs", client.redirect_uris.join(" ") || "—"],
      ["Metadata", h("code", {}, JSON.stringify(client.metadata))],
      ["Created", when(client.created_at)],
      ["Updated", when(client.updated_at)],
    ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );

  const parts = [
    h("div", { class: "head" }, h("h1", {}, client.name), h("div", { class: "actions" }, toggle, remove)),
    ui.flash && section("New secret", ui.flash),
    section("Details", details),
    section("Edit", edit),
    section(
      `Secrets (${(client.secrets ?? []).length} of 5)`,
      table(["Secret ID", "Created", "Last used", "Expires", ""], secretRows(ui, client, now), "No live secret."),
      addSecret,
    ),
    section(
      "Tokens issued per minute (last hour)",
      tokensChart(minutes.items),
      h("p", {}, h("a", { href: `#/audit${query({ client_id: client.client_id })}` }, "This client's audit events")),
    ),
  ];
  if (grants) {
    parts.push(
      section(
        "Grants",
        table(
          ["Grant", "User", "Scopes", "Created", "Revoked", ""],
          grants.items.map((g) =>
            h(
              "tr",
              {},
              h("td", {}, h("code", {}, g.grant_id)),
              h("td", {}, g.user_id),
              h("td", {}, g.scopes.join(" ")),
              h("td", {}, when(g.created_at)),
              h("td", {}, when(g.revoked_at)),
              h(
                "td",
                {},
                !g.revoked_at &&
                  h("button", {
                    type: "button",
                    class: "danger",
                    on: {
                      click: ui.act(async () => {
                        if (!(await ui.confirm(`Revoke the grant of user ${g.user_id} to ${client.name}? Its refresh and access tokens stop working.`))) return;
                        await api("DELETE", `${path}/grants/${encodeURIComponent(g.grant_id)}`);
                        ui.notice("Grant revoked.");
                        ui.refresh();
                      }),
                    },
                  }, "Revoke"),
              ),
            ),
          ),
          "No grant: no user has consented yet.",
        ),
      ),
    );
  }
  ui.render(...parts);
}

// ---- keys -----------------------------------------------------------------

export async function keysView(ui) {
  const keys = await api("GET", "/admin/keys");
  const rotate = h("button", {
    type: "button",
    class: "primary",
    on: {
      click: ui.act(async () => {
        const r = await api("POST", "/admin/keys/rotate");
        ui.notice(`New key ${r.kid} is published and signs from ${when(r.signs_from)}.${r.superseded ? ` It replaces ${r.superseded}, which never signed.` : ""}`);
        ui.refresh();
      }),
    },
  }, "Rotate");
  const rows = keys.items.map((k) =>
    h(
      "tr",
      { "data-kid": k.kid },
      h("td", {}, badge(k.state)),
      h("td", {}, h("code", {}, k.kid)),
      h("td", {}, k.alg),
      h("td", {}, when(k.created_at)),
      h("td", {}, when(k.signs_from)),
      h("td", {}, when(k.signs_until)),
      h("td", {}, when(k.published_until)),
      h(
        "td",
        {},
        h("button", {
          type: "button",
          class: "danger",
          on: {
            click: ui.act(async () => {
              if (!(await ui.confirm(`Revoke key ${k.kid}? It leaves the JWKS at once and every token it signed is refused. Only for a leaked key.`))) return;
              const r = await api("POST", `/admin/keys/${encodeURIComponent(k.kid)}/revoke`);
              ui.notice(`Key revoked.${r.replacement ? ` ${r.replacement} signs now.` : ""}`);
              ui.refresh();
            }),
          },
        }, "Revoke"),
      ),
    ),
  );
  ui.render(
    h("div", { class: "head" }, h("h1", {}, "Signing keys"), rotate),
    section(
      "Rotation timeline",
      h("p", {}, "next: published, signs from its date; current: signs; retired: still published so its tokens verify, until its end of publication."),
      keys.items.length > 0 && keyTimeline(keys.items),
      table(["State", "Key ID", "Alg", "Created", "Signs from", "Signs until", "Published until", ""], rows),
    ),
  );
}

// ---- audit ----------------------------------------------------------------

function detailText(event) {
  const d = event.detail;
  if (event.kind === "tokens.issued" && d) return `${d.count} token(s) in the minute ${when(d.minute)}; scopes ${(d.scopes ?? []).join(" ")}`;
  return d === null || d === undefined ? "" : JSON.stringify(d);
}

export async function auditView(ui, params) {
  const filter = {
    client_id: params.get("client_id") ?? "",
    kind: params.get("kind") ?? "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
  };
  const items = [];
  let cursor = params.get("cursor") ?? null;
  const answer = await api("GET", `/admin/audit${query({ ...filter, limit: 100, cursor })}`);
  items.push(...answer.items);
  cursor = answer.next_cursor;

  const toLocal = (text) => {
    if (!text) return "";
    const t = new Date(text);
    const pad = (n) => String(n).padStart(2, "0");
    return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}`;
  };
  const client = h("input", { name: "client_id", value: filter.client_id, placeholder: "any" });
  const kind = h("select", { name: "kind" }, h("option", { value: "" }, "any"), AUDIT_KINDS.map((k) => h("option", { value: k, selected: k === filter.kind }, k)));
  const since = h("input", { name: "since", type: "datetime-local", value: toLocal(filter.since) });
  const until = h("input", { name: "until", type: "datetime-local", value: toLocal(filter.until) });
  const form = h(
    "form",
    {
      class: "filters",
      on: {
        submit: ui.act(async (event) => {
          event.preventDefault();
          ui.go(`#/audit${query({ client_id: client.value.trim(), kind: kind.value, since: localToRfc3339(since.value), until: localToRfc3339(until.value) })}`);
        }),
      },
    },
    field("Client ID", client),
    field("Kind", kind),
    field("Since", since),
    field("Until", until),
    h("button", { type: "submit" }, "Filter"),
  );
  const rows = items.map((e) =>
    h(
      "tr",
      { "data-kind": e.kind },
      h("td", {}, when(e.at)),
      h("td", {}, badge(e.kind, "kind")),
      h("td", {}, e.client_id ? h("a", { href: `#/audit${query({ ...filter, client_id: e.client_id })}` }, e.client_id) : "—"),
      h("td", {}, e.actor ?? "—"),
      h("td", { class: "detail" }, detailText(e)),
    ),
  );
  const parts = [h("h1", {}, "Audit"), form];
  if (filter.client_id) {
    const since = new Date(Date.now() - 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const minutes = await api("GET", `/admin/audit${query({ client_id: filter.client_id, kind: "tokens.issued", since, limit: 200 })}`);
    parts.push(section("Tokens issued per minute (last hour)", tokensChart(minutes.items)));
  }
  parts.push(
    section(
      "Events (newest first)",
      table(["At", "Kind", "Client", "Actor", "Detail"], rows, "No event matches."),
      cursor && h("p", {}, h("a", { class: "button", href: `#/audit${query({ ...filter, cursor })}` }, "Older events")),
    ),
  );
  ui.render(...parts);
}

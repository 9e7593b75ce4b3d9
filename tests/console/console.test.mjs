// The operator console in Chromium: sign in, create a client and copy its
// secret, get a token with it over HTTP, rotate the secret, disable the
// client and see its token refused, rotate the signing keys, find the events
// in the audit view; API errors shown as their error_description; a client
// name that is HTML shown as text. A screenshot of each page goes to
// $M2M_SCREENSHOTS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { chromium } from "playwright-core";

const endpoint = process.env.M2M_ENDPOINT;
const admin = JSON.parse(readFileSync(process.env.M2M_ADMIN_FILE, "utf8"));
const shots = process.env.M2M_SCREENSHOTS;
const profile = process.env.CONSOLE_PROFILE;
assert.ok(endpoint && shots && profile, "run through tests/console/run.sh");

let context;
let page;
const problems = []; // page errors, CSP violations, dialogs nobody expected

async function token(clientId, secret, extra = {}) {
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64");
  const response = await fetch(`${endpoint}/oauth/token`, {
    method: "POST",
    headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", ...extra }),
  });
  return { status: response.status, body: await response.json() };
}

async function adminCall(method, path, body) {
  const t = await token(admin.client_id, admin.client_secret, { scope: "m2m:admin" });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const response = await fetch(`${endpoint}${path}`, {
    method,
    headers: { Authorization: `Bearer ${t.body.access_token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

async function shot(name) {
  await page.screenshot({ path: `${shots}/${name}.png` });
}

// Confirms the next confirmation dialog, after checking what it says.
async function confirm(expected) {
  const dialog = page.locator("dialog#confirm");
  await dialog.waitFor({ state: "visible" });
  assert.match(await dialog.locator("#confirm-text").textContent(), expected);
  await dialog.locator("#confirm-ok").click();
  await dialog.waitFor({ state: "hidden" });
}

async function errorBanner() {
  const banner = page.locator("#error");
  await banner.waitFor({ state: "visible" });
  return banner.textContent();
}

before(async () => {
  rmSync(profile, { recursive: true, force: true });
  mkdirSync(profile, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1280, height: 800 },
    locale: "en-US",
    timezoneId: "UTC",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: endpoint });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on("dialog", async (d) => {
    problems.push(`unexpected ${d.type()} dialog: ${d.message()}`);
    await d.dismiss();
  });
});

after(async () => {
  await context?.close();
});

// A step whose failure also says where the page was and what it showed.
async function step(t, name, body) {
  await t.test(name, async () => {
    try {
      await body();
    } catch (error) {
      const state = await page
        .evaluate(() => `at ${location.hash || "/"}; error banner: ${document.getElementById("error")?.textContent || "none"}; page: ${document.querySelector("main")?.innerText.slice(0, 400)}`)
        .catch((e) => `page state unknown: ${e.message}`);
      console.log(`-- ${name}: ${state}`);
      throw error;
    }
  });
}

test("the console, end to end", async (t) => {
  let clientId;
  let firstSecret;
  let secondSecret;
  let clientToken;

  await step(t, "a wrong secret shows the token endpoint's error_description", async () => {
    await page.goto(`${endpoint}/console`);
    await page.locator("h1", { hasText: "Sign in" }).waitFor();
    await shot("sign-in");
    const expected = await token(admin.client_id, "m2ms_wrong");
    assert.equal(expected.status, 401);
    await page.fill("input[name=client_id]", admin.client_id);
    await page.fill("input[name=client_secret]", "m2ms_wrong");
    await page.click("button[type=submit]");
    assert.equal(await errorBanner(), expected.body.error_description);
  });

  await step(t, "the browser enforces the CSP: injected inline code does not run", async () => {
    const ran = await page.evaluate(async () => {
      window.injected = false;
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.append(script);
      const img = document.createElement("img");
      img.setAttribute("src", "data:,x");
      img.setAttribute("onerror", "window.injected = true");
      document.body.append(img);
      await new Promise((resolve) => setTimeout(resolve, 200));
      script.remove();
      img.remove();
      return window.injected;
    });
    assert.equal(ran, false);
    // The violations were reported (which is how the last check sees any).
    const reported = problems.filter((p) => p.startsWith("CSP: "));
    assert.ok(reported.length >= 1, "CSP violations are reported to the console");
    problems.splice(0, problems.length, ...problems.filter((p) => !p.startsWith("CSP: ")));
  });

  await step(t, "sign in with the bootstrap admin credentials", async () => {
    await page.fill("input[name=client_secret]", admin.client_secret);
    await page.click("button[type=submit]");
    await page.locator("h1", { hasText: "Clients" }).waitFor();
    assert.ok(await page.locator("#error").isHidden());
    // Nothing of the session is stored where another page could read it.
    const stored = await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length]);
    assert.deepEqual(stored, ["", 0, 0]);
  });

  await step(t, "create a client; its secret is shown once and copied", async () => {
    await page.click("a:has-text('New client')");
    await page.fill("input[name=name]", "billing-agent");
    await page.selectOption("select[name=kind]", "org");
    await page.fill("input[name=org_id]", "acme");
    await page.fill("input[name=scopes]", "invoices:read invoices:write");
    await page.fill("textarea[name=metadata]", '{"team": "billing"}');
    await page.click("button:has-text('Create client')");
    firstSecret = (await page.locator("[data-testid=new-secret]").textContent()).trim();
    clientId = (await page.locator("[data-testid=new-client-id]").textContent()).trim();
    assert.match(firstSecret, /^m2ms_/);
    assert.match(clientId, /^m2m_/);
    await page.click("[data-testid=copy-secret]");
    await page.locator("[data-testid=copy-secret]", { hasText: "Copied" }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), firstSecret);
    await shot("new-client");
  });

  await step(t, "the copied secret gets a token over HTTP", async () => {
    const answer = await token(clientId, firstSecret);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.scope, "invoices:read invoices:write");
  });

  await step(t, "an invalid client shows the admin API's error_description", async () => {
    await page.click("a:has-text('Clients')");
    await page.click("a:has-text('New client')");
    await page.fill("input[name=name]", "too-short");
    await page.fill("input[name=scopes]", "a:b");
    await page.fill("input[name=token_ttl_seconds]", "10");
    // The number input's own bounds would stop the form before the API: lift them.
    await page.evaluate(() => document.querySelector("input[name=token_ttl_seconds]").removeAttribute("min"));
    await page.click("button:has-text('Create client')");
    const expected = await adminCall("POST", "/admin/clients", { name: "too-short", kind: "service", scopes: ["a:b"], token_ttl_seconds: 10 });
    assert.equal(expected.status, 422);
    assert.equal(await errorBanner(), expected.body.error_description);
    assert.ok(await page.locator("button:has-text('Create client')").isVisible(), "the form stays");
  });

  await step(t, "a client name that is HTML shows as text and runs nothing", async () => {
    const name = "<img src=x onerror=alert(1)>";
    await page.click("a:has-text('Clients')");
    await page.click("a:has-text('New client')");
    await page.fill("input[name=name]", name);
    await page.selectOption("select[name=kind]", "org");
    await page.fill("input[name=org_id]", "globex");
    await page.fill("input[name=scopes]", "a:b");
    await page.click("button:has-text('Create client')");
    await page.locator("[data-testid=new-secret]").waitFor();
    await page.click("nav a:has-text('Clients')");
    const link = page.locator("main table a", { hasText: name });
    await link.waitFor();
    assert.equal(await link.textContent(), name);
    await link.click();
    await page.locator("h1", { hasText: name }).waitFor();
    assert.equal(await page.locator("main img").count(), 0, "no element was made from the name");
  });

  await step(t, "the clients list searches and filters", async () => {
    await page.click("nav a:has-text('Clients')");
    await page.locator("main table").waitFor();
    await page.fill("input[name=q]", "billing");
    await page.selectOption("select[name=kind]", "org");
    await page.click("button:has-text('Filter')");
    await page.locator("h2", { hasText: "1 of 2 clients" }).waitFor();
    assert.equal(await page.locator("main tbody tr").count(), 1);
    await page.fill("input[name=q]", "");
    await page.selectOption("select[name=kind]", "");
    await page.click("button:has-text('Filter')");
    await page.locator("h2", { hasText: "3 of 3 clients" }).waitFor();
    await shot("clients");
  });

  await step(t, "rotate the client's secret: add a new one, remove the old", async () => {
    await page.click(`main a:has-text('billing-agent')`);
    await page.locator("h1", { hasText: "billing-agent" }).waitFor();
    assert.match(await page.locator("h2", { hasText: "Secrets" }).textContent(), /1 of 5/);
    // The token got above is in the chart.
    assert.match(await page.locator("svg.chart title").first().textContent(), /^1 tokens issued/);
    const inTwoDays = new Date(Date.now() + 2 * 86400 * 1000);
    const local = inTwoDays.toISOString().slice(0, 16);
    await page.fill("input[name=expires_at]", local);
    await page.click("button:has-text('Add secret')");
    secondSecret = (await page.locator("[data-testid=new-secret]").textContent()).trim();
    assert.match(secondSecret, /^m2ms_/);
    assert.notEqual(secondSecret, firstSecret);
    await page.locator("h2", { hasText: "2 of 5" }).waitFor();
    assert.equal(await page.locator("main .badge", { hasText: "expires soon" }).count(), 1, "the new secret expires within a week");
    await shot("client");

    const rows = page.locator("main tr[data-secret]");
    // The old secret has no expiry: remove that one.
    const old = rows.filter({ hasNotText: "expires soon" });
    const oldId = await old.getAttribute("data-secret");
    await old.locator("button:has-text('Remove')").click();
    await confirm(new RegExp(`Remove secret ${oldId} of billing-agent`));
    await page.locator("h2", { hasText: "1 of 5" }).waitFor();

    assert.equal((await token(clientId, firstSecret)).status, 401, "the removed secret is refused");
    const fresh = await token(clientId, secondSecret);
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    clientToken = fresh.body.access_token;
  });

  // Widening only: narrowing would revoke the client's tokens (contract
  // section 7), the one the next step checks included.
  await step(t, "edit scopes and TTL: new tokens follow", async () => {
    await page.fill("input[name=scopes]", "invoices:read invoices:write reports:read");
    await page.fill("input[name=token_ttl_seconds]", "600");
    await page.click("button:has-text('Save')");
    await page.locator("#notice", { hasText: "Saved." }).waitFor();
    await page.waitForFunction(() => document.querySelector("input[name=token_ttl_seconds]")?.value === "600");
    const widened = await token(clientId, secondSecret);
    assert.equal(widened.status, 200, JSON.stringify(widened.body));
    assert.equal(widened.body.scope, "invoices:read invoices:write reports:read");
    assert.equal(widened.body.expires_in, 600);
  });

  await step(t, "disable the client: its token is refused", async () => {
    const introspect = async () => {
      const t = await token(admin.client_id, admin.client_secret, { scope: "m2m:admin" });
      const response = await fetch(`${endpoint}/oauth/introspect`, {
        method: "POST",
        headers: { Authorization: `Bearer ${t.body.access_token}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: clientToken }),
      });
      if (response.status === 200) return (await response.json()).active;
      // Introspection by client credentials when the bearer form is not accepted.
      const basic = Buffer.from(`${encodeURIComponent(admin.client_id)}:${encodeURIComponent(admin.client_secret)}`).toString("base64");
      const again = await fetch(`${endpoint}/oauth/introspect`, {
        method: "POST",
        headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: clientToken }),
      });
      assert.equal(again.status, 200);
      return (await again.json()).active;
    };
    assert.equal(await introspect(), true, "live before");
    await page.click("[data-testid=toggle-enabled]");
    await confirm(/Disable billing-agent\?/);
    await page.locator("[data-testid=toggle-enabled]", { hasText: "Enable" }).waitFor();
    assert.equal(await page.locator("main .badge", { hasText: "disabled" }).count(), 1);
    assert.equal(await introspect(), false, "revoked by the disable");
    const refused = await token(clientId, secondSecret);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, "invalid_client");
  });

  await step(t, "grants of a user-level client: listed and revoked", async () => {
    const redirect = "https://agent.example.com/callback";
    const user = await adminCall("POST", "/admin/clients", {
      name: "crm-agent", kind: "user", org_id: "acme", scopes: ["crm:read"], redirect_uris: [redirect],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    // Authorization code + PKCE; the server's development consent consents as alice.
    const { createHash, randomBytes } = await import("node:crypto");
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const authorize = await fetch(
      `${endpoint}/oauth/authorize?${new URLSearchParams({
        response_type: "code", client_id: user.body.client_id, redirect_uri: redirect, state: "s1",
        scope: "crm:read", code_challenge: challenge, code_challenge_method: "S256", login_hint: "alice",
      })}`,
      { redirect: "manual" },
    );
    const code = new URL(authorize.headers.get("location")).searchParams.get("code");
    assert.ok(code, `no code: ${authorize.status} ${authorize.headers.get("location")}`);
    const tokens = await token(user.body.client_id, user.body.client_secret, {
      grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: verifier,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));

    await page.goto(`${endpoint}/console#/clients/${user.body.client_id}`);
    await page.locator("h2", { hasText: "Grants" }).waitFor();
    const row = page.locator("main tr", { hasText: "alice" });
    await row.waitFor();
    await row.scrollIntoViewIfNeeded();
    await shot("grants");
    await row.locator("button:has-text('Revoke')").click();
    await confirm(/Revoke the grant of user alice to crm-agent\?/);
    await page.locator("#notice", { hasText: "Grant revoked." }).waitFor();
    await page.waitForFunction(() => ![...document.querySelectorAll("main tr")].some((r) => r.textContent.includes("alice") && r.querySelector("button")));
    const refreshed = await token(user.body.client_id, user.body.client_secret, {
      grant_type: "refresh_token", refresh_token: tokens.body.refresh_token,
    });
    assert.equal(refreshed.status, 400, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.error, "invalid_grant");
  });

  await step(t, "keys: the timeline, a rotation", async () => {
    await page.click("nav a:has-text('Keys')");
    await page.locator("main tr[data-kid]").first().waitFor();
    assert.equal(await page.locator("main tr[data-kid]").count(), 1);
    await page.click("button:has-text('Rotate')");
    await page.locator("#notice", { hasText: "is published and signs from" }).waitFor();
    await page.locator("main tr[data-kid]").nth(1).waitFor();
    const states = await page.locator("main tr[data-kid] td:first-child").allTextContents();
    assert.deepEqual(states, ["current", "next"]);
    const api = await adminCall("GET", "/admin/keys");
    assert.deepEqual(
      await page.locator("main tr[data-kid]").evaluateAll((rows) => rows.map((r) => r.dataset.kid)),
      api.body.items.map((k) => k.kid),
    );
    await shot("keys");

    // Revoking the key that waits to sign: confirmed, and it leaves the timeline.
    const next = page.locator("main tr[data-kid]").nth(1);
    const kid = await next.getAttribute("data-kid");
    await next.locator("button:has-text('Revoke')").click();
    await confirm(new RegExp(`Revoke key ${kid}\\?`));
    await page.locator("#notice", { hasText: "Key revoked." }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("main tr[data-kid]").length === 1);
    const after = await adminCall("GET", "/admin/keys");
    assert.deepEqual(after.body.items.map((k) => k.state), ["current"]);
    assert.ok(!after.body.items.some((k) => k.kid === kid));
  });

  await step(t, "audit: the client's events, by client and by kind", async () => {
    await page.click("nav a:has-text('Audit')");
    await page.fill("input[name=client_id]", clientId);
    await page.click("button:has-text('Filter')");
    await page.locator("main tr[data-kind]").first().waitFor();
    const kinds = await page.locator("main tr[data-kind]").evaluateAll((rows) => rows.map((r) => r.dataset.kind));
    for (const kind of ["client.created", "tokens.issued", "secret.created", "secret.deleted", "client.updated", "auth.failed"]) {
      assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
    }
    assert.match(await page.locator("svg.chart title").first().textContent(), /^3 tokens issued/);
    await shot("audit");
    await page.selectOption("select[name=kind]", "secret.deleted");
    await page.click("button:has-text('Filter')");
    await page.waitForFunction(() => [...document.querySelectorAll("main tr[data-kind]")].every((r) => r.dataset.kind === "secret.deleted"));
    assert.equal(await page.locator("main tr[data-kind]").count(), 1);
    // A time range after every event: nothing.
    const tomorrow = new Date(Date.now() + 86400 * 1000).toISOString().slice(0, 16);
    await page.selectOption("select[name=kind]", "");
    await page.fill("input[name=since]", tomorrow);
    await page.click("button:has-text('Filter')");
    await page.locator("main .empty", { hasText: "No event matches." }).waitFor();
    assert.match(await page.evaluate(() => location.hash), /since=/);
  });

  await step(t, "delete a client: the confirmation names it", async () => {
    const name = "<img src=x onerror=alert(1)>";
    await page.click("nav a:has-text('Clients')");
    await page.locator("main table a", { hasText: name }).click();
    await page.locator("h1", { hasText: name }).waitFor();
    const id = decodeURIComponent((await page.evaluate(() => location.hash)).split("/").pop());
    await page.click("main button:has-text('Delete')");
    await confirm(new RegExp(`^Delete the client "${name.replace(/[()]/g, "\\$&")}" \\(${id}\\)\\?`));
    await page.locator("h1", { hasText: "Clients" }).waitFor();
    assert.equal((await adminCall("GET", `/admin/clients/${id}`)).status, 404);
  });

  await step(t, "a 401 from the admin API forgets the token and asks to sign in again", async () => {
    // A second admin client signs in; disabling it revokes the console's token.
    const second = await adminCall("POST", "/admin/clients", {
      name: "second admin", kind: "service", scopes: ["m2m:admin"], audiences: [endpoint],
    });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    await page.click("#sign-out");
    await page.fill("input[name=client_id]", second.body.client_id);
    await page.fill("input[name=client_secret]", second.body.client_secret);
    await page.click("button[type=submit]");
    await page.locator("h1", { hasText: "Clients" }).waitFor();
    const disabled = await adminCall("PATCH", `/admin/clients/${second.body.client_id}`, { enabled: false });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    await page.click("nav a:has-text('Keys')");
    await page.locator("h1", { hasText: "Sign in" }).waitFor();
    assert.match(await page.locator("main .warn").textContent(), /^Signed out: /);
    assert.match(await errorBanner(), /\S/);
    await page.goto(`${endpoint}/console#/keys`);
    await page.locator("h1", { hasText: "Sign in" }).waitFor();
    // Back in as the bootstrap admin for the last step.
    await page.fill("input[name=client_id]", admin.client_id);
    await page.fill("input[name=client_secret]", admin.client_secret);
    await page.click("button[type=submit]");
    await page.locator("h1", { hasText: "Signing keys" }).waitFor();
  });

  await step(t, "sign out forgets the token", async () => {
    await page.click("#sign-out");
    await page.locator("h1", { hasText: "Sign in" }).waitFor();
    await page.goto(`${endpoint}/console#/clients`);
    await page.locator("h1", { hasText: "Sign in" }).waitFor();
  });

  assert.deepEqual(problems, [], "no page error, CSP violation or dialog");
});

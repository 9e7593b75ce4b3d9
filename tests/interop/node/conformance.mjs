// The MCP conformance suite (@modelcontextprotocol/conformance, pinned in
// package.json) against a real `m2m serve`: every authorization-server
// scenario, run headlessly, failing on any check that is not SUCCESS.
//
// The suite's `authorization` command prints an authorization URL and waits
// for a browser to land on its callback server (http://127.0.0.1:PORT/callback).
// This driver is that browser: it fetches the URL without following the
// issuer's redirect (the issuer runs with --dev-consent, so the authorization
// request is answered with a redirect at once), checks it goes to the
// suite's callback, and delivers it there.
//
// The suite's own exit status counts failures only, not warnings; this
// driver reads the JSON checks every scenario saved and fails on any check
// that is not SUCCESS (or INFO, which asserts nothing): FAILURE, WARNING,
// SKIPPED, on a scenario that saved no checks, and
// on a scenario the suite lists that did not run.
//
// Environment (set by tests/interop/run.sh): M2M_CONFORMANCE is a JSON object
// {"issuer", "client_id", "resource", "port", "output_dir"}: the issuer, a
// public client registered there with the redirect URI
// http://127.0.0.1:PORT/callback and the audience `resource`, and where the
// suite saves its results.

import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const settings = JSON.parse(process.env.M2M_CONFORMANCE ?? 'null');
if (!settings) {
  console.error('conformance: M2M_CONFORMANCE is not set: run tests/interop/run.sh');
  process.exit(2);
}
const cli = fileURLToPath(new URL('./node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));
const deadlineMs = 60_000;
const callback = `http://127.0.0.1:${settings.port}/callback`;

// The scenarios this version of the suite has, from its own list.
const listing = execFileSync(process.execPath, [cli, 'list', '--authorization'], { encoding: 'utf8' });
const scenarios = [...listing.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]);
if (scenarios.length === 0) {
  console.error(`conformance: the suite lists no authorization-server scenario:\n${listing}`);
  process.exit(1);
}

const metadata = await (await fetch(`${settings.issuer}/.well-known/oauth-authorization-server`)).json();
const authorizationEndpoint = `${metadata.authorization_endpoint}?`;

const problems = [];
const child = spawn(
  process.execPath,
  [cli, 'authorization', '--url', settings.issuer, '--client-id', settings.client_id,
    '--resource', settings.resource, '--port', String(settings.port), '--output-dir', settings.output_dir],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const timer = setTimeout(() => {
  problems.push(`the suite did not finish within ${deadlineMs / 1000} s`);
  child.kill('SIGKILL');
}, deadlineMs);

// Acts for the user's browser on the one authorization URL the suite prints.
async function authorize(url) {
  const answer = await fetch(url, { redirect: 'manual' });
  const location = answer.headers.get('location') ?? '';
  if (answer.status !== 302 || !location.startsWith(`${callback}?`)) {
    problems.push(`the authorization endpoint answered ${answer.status} (location ${JSON.stringify(location)}): ${await answer.text()}`);
    child.kill('SIGKILL');
    return;
  }
  const delivered = await fetch(location);
  if (!delivered.ok) problems.push(`the suite's callback answered ${delivered.status}`);
}

// The suite prints the URL, then starts its callback server and says so; the
// URL is fetched once both lines are out, so the redirect has somewhere to land.
let authorizations = 0;
let authorizationUrl = null;
let callbackListening = false;
const pending = [];
for await (const line of createInterface({ input: child.stdout })) {
  console.log(line);
  if (line.startsWith(authorizationEndpoint)) {
    authorizations += 1;
    authorizationUrl = line.trim();
  } else if (line.trim() === `Callback server started: http://127.0.0.1:${settings.port}`) {
    callbackListening = true;
  }
  if (authorizationUrl && callbackListening) {
    const url = authorizationUrl;
    authorizationUrl = null;
    pending.push(authorize(url).catch((e) => {
      problems.push(`the authorization request failed: ${e}`);
      child.kill('SIGKILL');
    }));
  }
}
const status = await new Promise((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode);
  else child.on('exit', (code, signal) => resolve(code ?? signal));
});
await Promise.all(pending);
clearTimeout(timer);

if (status !== 0) problems.push(`the suite exited with ${status}`);
if (authorizations !== 1) problems.push(`the suite printed ${authorizations} authorization URLs, not 1`);

// Every scenario saved its checks in OUTPUT_DIR/authorization-server-SCENARIO-TIMESTAMP/checks.json.
const saved = readdirSync(settings.output_dir);
for (const scenario of scenarios) {
  const dirs = saved.filter((d) => d.startsWith(`authorization-server-${scenario}-`));
  if (dirs.length !== 1) {
    problems.push(`${scenario}: ${dirs.length} result folders, not 1`);
    continue;
  }
  const checks = JSON.parse(readFileSync(join(settings.output_dir, dirs[0], 'checks.json'), 'utf8'));
  if (!Array.isArray(checks) || checks.length === 0) {
    problems.push(`${scenario}: no checks`);
    continue;
  }
  for (const check of checks) {
    const line = `${scenario}: [${check.id}] ${check.status}`;
    if (check.status === 'SUCCESS' || check.status === 'INFO') {
      console.log(`conformance: ${line}`);
    } else {
      problems.push(`${line}: ${check.errorMessage ?? check.description}`);
    }
  }
}

if (problems.length > 0) {
  console.error(`conformance: ${problems.length} problem(s) (failures, warnings and skipped checks all fail):`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log(`conformance: ${scenarios.length} authorization-server scenarios, no check failed, warned or was skipped`);

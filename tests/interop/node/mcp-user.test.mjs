// The official TypeScript MCP SDK (@modelcontextprotocol/sdk) as an MCP
// client acting for a user: authorization code + PKCE as a PUBLIC client
// (token_endpoint_auth_method "none"), through the SDK's own OAuth machinery
// (an OAuthClientProvider, the transport's 401/403 handling, finishAuth),
// against examples/mcp_server.rs and a real `m2m serve --dev-consent`.
//
// The provider is headless: where a desktop client opens a browser,
// redirectToAuthorization fetches the authorization URL without following
// the redirect (development consent grants at once), checks the state and
// keeps the code from the Location, which the test hands to the transport's
// finishAuth, as an application does when its redirect URI is hit. The
// redirect URI is a loopback one that is never listened on: the redirect is
// read, not followed.
//
// The same flow runs twice: for a client registered through the admin API,
// and for a Client ID Metadata Document client (client_id =
// https://127.0.0.1:PORT/client.json, served here over HTTPS with a
// certificate from a throwaway CA the issuer is told to trust). The second is
// skipped while the issuer's metadata does not say
// client_id_metadata_document_supported.
//
// Environment (set by tests/interop/run.sh): M2M_MCP_USER is a JSON object
// {"issuer", "admin_file", "server", "tls_cert", "tls_key"}: the issuer (with
// development consent), its admin credentials, where this MCP server listens
// (its resource is SERVER/mcp), and the certificate and key the metadata
// document is served with (empty when run.sh could not make them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const env = JSON.parse(process.env.M2M_MCP_USER ?? 'null');
assert.ok(env, 'M2M_MCP_USER is not set: run tests/interop/run.sh');
const resource = `${env.server}/mcp`;
const redirectUrl = 'http://127.0.0.1:53682/callback'; // never listened on
const tokenEndpoint = `${env.issuer}/oauth/token`;

async function adminToken() {
  const creds = JSON.parse(readFileSync(env.admin_file, 'utf8'));
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${creds.client_id}:${creds.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'm2m:admin' }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).access_token;
}

// A public user-level client, registered by the operator.
async function createPublicClient(audiences = [resource]) {
  const response = await fetch(`${env.issuer}/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'mcp sdk public interop',
      kind: 'user',
      org_id: 'org_mcp',
      scopes: ['invoices:read', 'invoices:write'],
      audiences,
      redirect_uris: [redirectUrl],
      token_endpoint_auth_method: 'none',
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  const created = await response.json();
  assert.equal(created.client_secret, undefined);
  return created;
}

function claims(accessToken) {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
}

// The SDK's OAuthClientProvider, headless. `clientId` is a pre-registered
// client; `clientMetadataUrl` a Client ID Metadata Document (the SDK then
// uses that URL as client_id when the issuer's metadata supports it).
// `keepRefreshToken: false` stores tokens without their refresh token (see
// the step-up test for why).
class HeadlessProvider {
  constructor({ clientId, clientMetadataUrl, keepRefreshToken = true }) {
    this.clientMetadataUrl = clientMetadataUrl;
    this.keepRefreshToken = keepRefreshToken;
    this.information = clientId ? { client_id: clientId, token_endpoint_auth_method: 'none' } : undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.expectedState = undefined;
    this.authorizations = []; // every authorization URL the SDK sent the "browser" to
    this.codes = []; // the codes the issuer redirected back with, not yet handed to finishAuth
  }

  get redirectUrl() {
    return redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'm2m-auth interop (public)',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.expectedState = randomBytes(16).toString('base64url');
    return this.expectedState;
  }

  clientInformation() {
    return this.information;
  }

  saveClientInformation(information) {
    this.information = information;
  }

  tokens() {
    return this.stored;
  }

  saveTokens(tokens) {
    this.stored = this.keepRefreshToken ? tokens : { ...tokens, refresh_token: undefined };
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    assert.ok(this.verifier, 'no code verifier saved');
    return this.verifier;
  }

  // The user's browser, with a consent that grants at once.
  async redirectToAuthorization(url) {
    this.authorizations.push(new URL(url));
    const answer = await fetch(url, { redirect: 'manual' });
    assert.equal(answer.status, 302, await answer.clone().text());
    const location = new URL(answer.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, redirectUrl);
    assert.equal(location.searchParams.get('error'), null, location.href);
    assert.equal(location.searchParams.get('state'), this.expectedState);
    if (location.searchParams.has('iss')) assert.equal(location.searchParams.get('iss'), env.issuer);
    const code = location.searchParams.get('code');
    assert.ok(code, location.href);
    this.codes.push(code);
  }

  takeCode() {
    assert.equal(this.codes.length, 1, `codes waiting: ${this.codes.length}`);
    return this.codes.pop();
  }
}

// A fetch that records every request the SDK makes, with its answer's status
// and WWW-Authenticate.
function recordingFetch() {
  const log = [];
  const fn = async (input, init = {}) => {
    const request = new Request(input, init);
    const response = await fetch(request.url, init);
    log.push({
      method: request.method,
      url: request.url,
      body: init.body === undefined ? '' : String(init.body),
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
    });
    return response;
  };
  return { fn, log };
}

const tokenRequests = (log) =>
  log.filter((r) => r.url === tokenEndpoint).map((r) => ({ ...r, form: new URLSearchParams(r.body) }));

function newTransport(provider, recorder) {
  return new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider, fetch: recorder.fn });
}

// The SDK's interactive flow: the first connect meets the 401, sends the user
// to the authorization endpoint and fails with UnauthorizedError; the
// application finishes the authorization with the code and connects again on
// a new transport.
async function connect(provider, recorder) {
  const first = newTransport(provider, recorder);
  await assert.rejects(
    new Client({ name: 'm2m-auth interop', version: '0.0.0' }).connect(first),
    (e) => e instanceof UnauthorizedError,
  );
  await first.finishAuth(provider.takeCode());
  const transport = newTransport(provider, recorder);
  const client = new Client({ name: 'm2m-auth interop', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport };
}

// The whole flow for one provider: discovery from the bare 401, the
// authorization request for the challenge's scope and this resource, the code
// exchange as a public client, a tool, then a tool the grant lacks the scope
// for: 403 insufficient_scope, the SDK re-authorizes with the scopes the
// challenge names, and the call goes through.
async function authorizationCodeFlow(provider, expectedClientId) {
  const recorder = recordingFetch();
  const { log } = recorder;
  const { client, transport } = await connect(provider, recorder);
  try {
    // A bare 401 naming the metadata and the scope every call needs.
    assert.equal(log[0].url, resource);
    assert.equal(log[0].status, 401);
    assert.ok(log[0].challenge.includes('scope="invoices:read"'), log[0].challenge);
    assert.ok(log.some((r) => r.url === `${env.issuer}/.well-known/oauth-authorization-server`));

    // One authorization request: PKCE S256, this resource (RFC 8707), the
    // challenge's scope.
    assert.equal(provider.authorizations.length, 1);
    const asked = provider.authorizations[0].searchParams;
    assert.equal(asked.get('client_id'), expectedClientId);
    assert.equal(asked.get('code_challenge_method'), 'S256');
    assert.equal(asked.get('resource'), resource);
    assert.equal(asked.get('scope'), 'invoices:read');

    // The code exchange: client_id in the form and no secret anywhere.
    const [exchange] = tokenRequests(log);
    assert.equal(exchange.status, 200);
    assert.equal(exchange.form.get('grant_type'), 'authorization_code');
    assert.equal(exchange.form.get('client_id'), expectedClientId);
    assert.equal(exchange.form.get('client_secret'), null);
    assert.ok(exchange.form.get('code_verifier'));
    const first = claims(provider.tokens().access_token);
    assert.equal(first.aud, resource);
    assert.equal(first.client_id, expectedClientId);
    assert.equal(first.scope, 'invoices:read');

    const listed = await client.callTool({ name: 'list_invoices', arguments: {} });
    assert.notEqual(listed.isError, true, JSON.stringify(listed));
    assert.ok(Array.isArray(listed.structuredContent.invoices), JSON.stringify(listed));

    // Step-up: the 403 names both scopes; the SDK sends the user to
    // authorize them, and the call fails with UnauthorizedError until the
    // application finishes that authorization.
    const call = { name: 'create_invoice', arguments: { customer: 'ACME', amount_cents: 4200 } };
    await assert.rejects(client.callTool(call), (e) => e instanceof UnauthorizedError);
    const refused = log.filter((r) => r.status === 403);
    assert.equal(refused.length, 1, JSON.stringify(log));
    assert.ok(refused[0].challenge.includes('error="insufficient_scope"'), refused[0].challenge);
    assert.ok(refused[0].challenge.includes('scope="invoices:read invoices:write"'), refused[0].challenge);
    assert.equal(provider.authorizations.length, 2);
    const stepUp = provider.authorizations[1].searchParams;
    assert.equal(stepUp.get('scope'), 'invoices:read invoices:write');
    assert.equal(stepUp.get('resource'), resource);
    await transport.finishAuth(provider.takeCode());
    const second = claims(provider.tokens().access_token);
    assert.equal(second.scope, 'invoices:read invoices:write');
    assert.equal(second.aud, resource);

    const made = await client.callTool(call);
    assert.notEqual(made.isError, true, JSON.stringify(made));
    assert.equal(made.structuredContent.customer, 'ACME');
    assert.equal(made.structuredContent.created_by, expectedClientId);
    assert.equal(log.filter((r) => r.status === 403).length, 1);
  } finally {
    await client.close();
  }
}

// SDK 1.32.2 answers a 403 insufficient_scope by calling auth() with the
// challenge's scope, and auth() uses a refresh token first when it has one;
// a refresh request carries no scope and cannot widen a grant, so the step-up
// reaches the authorization endpoint only for a provider that keeps no
// refresh token. That is the provider here; the next test covers the other.
test('MCP SDK authorization code + PKCE, public client: tools, then step-up by re-authorization', async () => {
  const created = await createPublicClient();
  await authorizationCodeFlow(new HeadlessProvider({ clientId: created.client_id, keepRefreshToken: false }), created.client_id);
});

test('MCP SDK step-up with a refresh token: the refresh does not widen the grant, the call stays 403', async () => {
  const created = await createPublicClient();
  const provider = new HeadlessProvider({ clientId: created.client_id });
  const recorder = recordingFetch();
  const { client } = await connect(provider, recorder);
  try {
    const before = provider.tokens();
    assert.match(before.refresh_token, /^m2mr_/);
    await assert.rejects(
      client.callTool({ name: 'create_invoice', arguments: { customer: 'ACME', amount_cents: 1 } }),
      (e) => e.code === 403 && /upscoping/.test(e.message),
    );
    // The SDK refreshed once (rotating the refresh token), without a scope,
    // and the issuer kept the grant's scope.
    const refreshes = tokenRequests(recorder.log).filter((r) => r.form.get('grant_type') === 'refresh_token');
    assert.equal(refreshes.length, 1);
    assert.equal(refreshes[0].status, 200);
    assert.equal(refreshes[0].form.get('refresh_token'), before.refresh_token);
    assert.equal(refreshes[0].form.get('scope'), null);
    const after = provider.tokens();
    assert.notEqual(after.refresh_token, before.refresh_token);
    assert.equal(claims(after.access_token).scope, 'invoices:read');
    assert.equal(provider.authorizations.length, 1);
    assert.equal(recorder.log.filter((r) => r.status === 403).length, 2);

    // The read tool still works on the refreshed token.
    const listed = await client.callTool({ name: 'list_invoices', arguments: {} });
    assert.notEqual(listed.isError, true, JSON.stringify(listed));
  } finally {
    await client.close();
  }
});

test('a user token for another resource is refused by the MCP server with 401 invalid_token', async () => {
  const elsewhere = 'https://elsewhere.example/mcp';
  const created = await createPublicClient([resource, elsewhere]);
  // The authorization request names the other resource; the code, and the
  // token's aud, are bound to it.
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = new URL(`${env.issuer}/oauth/authorize`);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: created.client_id, redirect_uri: redirectUrl, state: 's',
    scope: 'invoices:read', resource: elsewhere, code_challenge: challenge, code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  const answer = await fetch(authorize, { redirect: 'manual' });
  assert.equal(answer.status, 302, await answer.clone().text());
  const code = new URL(answer.headers.get('location')).searchParams.get('code');
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: created.client_id, code,
      redirect_uri: redirectUrl, code_verifier: verifier,
    }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { access_token: token } = await response.json();
  assert.equal(claims(token).aud, elsewhere);

  const refused = await fetch(resource, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  assert.equal(refused.status, 401);
  const header = refused.headers.get('www-authenticate');
  assert.ok(header.includes('error="invalid_token"'), header);
  assert.ok(header.includes('resource_metadata="'), header);
});

// A Client ID Metadata Document, served over HTTPS on 127.0.0.1 (port 0) with
// the certificate run.sh made; resolves to { url, close }.
async function serveClientMetadata(document) {
  const server = createServer({ cert: readFileSync(env.tls_cert), key: readFileSync(env.tls_key) }, (req, res) => {
    if (req.method === 'GET' && req.url === '/client.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(document(server.url)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.url = `https://127.0.0.1:${server.address().port}/client.json`;
  return { url: server.url, close: () => new Promise((resolve) => server.close(resolve)) };
}

const issuerMetadata = await (await fetch(`${env.issuer}/.well-known/oauth-authorization-server`)).json();
const cimd = issuerMetadata.client_id_metadata_document_supported === true;

test('MCP SDK authorization code + PKCE with a Client ID Metadata Document client', {
  skip: cimd ? false : 'the issuer\'s metadata does not say client_id_metadata_document_supported: true (no Client ID Metadata Document support yet)',
}, async () => {
  assert.ok(env.tls_cert && env.tls_key, 'run.sh made no certificate for the metadata document (is openssl installed?)');
  const served = await serveClientMetadata((url) => ({
    client_id: url,
    client_name: 'm2m-auth interop (metadata document)',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }));
  try {
    const provider = new HeadlessProvider({ clientMetadataUrl: served.url, keepRefreshToken: false });
    await authorizationCodeFlow(provider, served.url);
  } finally {
    await served.close();
  }
});

// The official TypeScript MCP SDK (@modelcontextprotocol/sdk) as an MCP
// client of examples/mcp_server.rs (rmcp behind m2m-guard), with a real
// `m2m serve` as the authorization server: the SDK's client-credentials
// provider (SEP-1046) starts from a bare 401, discovers the issuer through the
// server's Protected Resource Metadata (RFC 9728) and the issuer's RFC 8414
// metadata, gets a token for the MCP server's resource (RFC 8707), lists the
// tools and calls them; a missing scope is 403 insufficient_scope, which the
// SDK answers by asking for the named scopes.
//
// Environment (set by tests/interop/run.sh): M2M_MCP is a JSON object
// {"issuer": "...", "admin_file": "...", "server": "http://ADDRESS"}: the
// issuer, its admin credentials, and where examples/mcp_server listens (its
// resource is SERVER/mcp).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const mcp = JSON.parse(process.env.M2M_MCP ?? 'null');
assert.ok(mcp, 'M2M_MCP is not set: run tests/interop/run.sh');
const resource = `${mcp.server}/mcp`;

async function adminToken() {
  const creds = JSON.parse(readFileSync(mcp.admin_file, 'utf8'));
  const response = await fetch(`${mcp.issuer}/oauth/token`, {
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

async function createClient(scopes, audiences = [resource]) {
  const response = await fetch(`${mcp.issuer}/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'mcp sdk interop', kind: 'service', scopes, audiences }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return response.json();
}

// A fetch that records every request the SDK makes (auth included), with its
// answer's status and WWW-Authenticate.
function recordingFetch() {
  const log = [];
  const fn = async (input, init = {}) => {
    const request = new Request(input, init);
    const body = init.body === undefined ? '' : String(init.body);
    const response = await fetch(request.url, init);
    log.push({
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      body,
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
    });
    return response;
  };
  return { fn, log };
}

// The SDK's provider, told to authenticate with client_secret_post instead of
// its default client_secret_basic (the method the SDK picks when the client
// information names one the issuer's metadata lists). The provider asks for
// `scope` when given, else for no scope (the issuer then grants all the
// client's scopes): the SDK's client-credentials flow sends the scope it was
// configured with, whatever a challenge's `scope=` says.
function provider(created, method, scope) {
  const base = new ClientCredentialsProvider({
    clientId: created.client_id,
    clientSecret: created.client_secret,
    expectedIssuer: mcp.issuer,
    scope,
  });
  if (method === 'client_secret_post') {
    const info = base.clientInformation();
    base.clientInformation = () => ({ ...info, token_endpoint_auth_method: 'client_secret_post' });
  }
  return base;
}

async function connect(created, method, scope) {
  const recorder = recordingFetch();
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    authProvider: provider(created, method, scope),
    fetch: recorder.fn,
  });
  const client = new Client({ name: 'm2m-auth interop', version: '0.0.0' });
  await client.connect(transport);
  return { client, log: recorder.log };
}

const tokenRequests = (log) => log.filter((r) => r.url === `${mcp.issuer}/oauth/token`);

// client_secret_basic with the provider's default (no scope asked, all the
// client's granted), client_secret_post with an explicit scope.
for (const [method, scope] of [['client_secret_basic', undefined], ['client_secret_post', 'invoices:read']]) {
  test(`MCP SDK client credentials (${method}): bare 401, discovery, tools`, async () => {
    const created = await createClient(['invoices:read']);
    const { client, log } = await connect(created, method, scope);
    try {
      // The first request had no token and was refused with a challenge
      // naming the metadata and the scope every call needs.
      const first = log[0];
      assert.equal(first.url, resource);
      assert.equal(first.authorization, null);
      assert.equal(first.status, 401);
      const metadataUrl = `${mcp.server}/.well-known/oauth-protected-resource/mcp`;
      assert.match(first.challenge, /^Bearer /);
      assert.ok(first.challenge.includes(`resource_metadata="${metadataUrl}"`), first.challenge);
      assert.ok(first.challenge.includes('scope="invoices:read"'), first.challenge);

      // Then the resource metadata, the issuer's metadata, and one token
      // request for this resource (RFC 8707).
      const urls = log.map((r) => r.url);
      assert.ok(urls.indexOf(metadataUrl) > 0, urls.join('\n'));
      assert.ok(urls.includes(`${mcp.issuer}/.well-known/oauth-authorization-server`), urls.join('\n'));
      const tokens = tokenRequests(log);
      assert.equal(tokens.length, 1, JSON.stringify(tokens));
      const form = new URLSearchParams(tokens[0].body);
      assert.equal(tokens[0].status, 200);
      assert.equal(form.get('grant_type'), 'client_credentials');
      assert.equal(form.get('scope'), scope ?? null);
      assert.equal(form.get('resource'), resource);
      if (method === 'client_secret_basic') {
        assert.match(tokens[0].authorization ?? '', /^Basic /);
        assert.equal(form.get('client_secret'), null);
      } else {
        assert.equal(tokens[0].authorization, null);
        assert.equal(form.get('client_id'), created.client_id);
        assert.equal(form.get('client_secret'), created.client_secret);
      }
      // Every MCP request after the first carried the token.
      assert.ok(log.filter((r) => r.url === resource).slice(1).every((r) => /^Bearer /.test(r.authorization)));

      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['create_invoice', 'list_invoices']);

      const listed = await client.callTool({ name: 'list_invoices', arguments: {} });
      assert.notEqual(listed.isError, true, JSON.stringify(listed));
      assert.ok(Array.isArray(listed.structuredContent.invoices), JSON.stringify(listed));
    } finally {
      await client.close();
    }
  });
}

test('MCP SDK: create_invoice with a read-only client is 403 insufficient_scope', async () => {
  const created = await createClient(['invoices:read']);
  const { client, log } = await connect(created, 'client_secret_basic');
  try {
    // The SDK answers the 403 by fetching a token again (its client-credentials
    // flow asks for the scope it was configured with), gets the same scopes,
    // is refused again, and gives up with the 403.
    await assert.rejects(
      client.callTool({ name: 'create_invoice', arguments: { customer: 'ACME', amount_cents: 100 } }),
      (e) => e.code === 403 && /upscoping/.test(e.message),
    );
    const refused = log.filter((r) => r.status === 403);
    assert.equal(refused.length, 2, JSON.stringify(log));
    for (const r of refused) {
      assert.equal(r.url, resource);
      assert.ok(r.challenge.includes('error="insufficient_scope"'), r.challenge);
      assert.ok(r.challenge.includes('scope="invoices:read invoices:write"'), r.challenge);
      assert.ok(r.challenge.includes('resource_metadata="'), r.challenge);
    }
    assert.equal(tokenRequests(log).length, 2);

    // The read tool still works on the same connection.
    const listed = await client.callTool({ name: 'list_invoices', arguments: {} });
    assert.notEqual(listed.isError, true, JSON.stringify(listed));
  } finally {
    await client.close();
  }
});

test('MCP SDK: a client with both scopes creates an invoice and lists it', async () => {
  const created = await createClient(['invoices:read', 'invoices:write']);
  const { client, log } = await connect(created, 'client_secret_basic');
  try {
    const made = await client.callTool({
      name: 'create_invoice',
      arguments: { customer: 'ACME', amount_cents: 4200 },
    });
    assert.notEqual(made.isError, true, JSON.stringify(made));
    assert.equal(made.structuredContent.customer, 'ACME');
    assert.equal(made.structuredContent.amount_cents, 4200);
    assert.equal(made.structuredContent.created_by, created.client_id);
    assert.ok(!log.some((r) => r.status === 403), JSON.stringify(log));

    const listed = await client.callTool({ name: 'list_invoices', arguments: {} });
    assert.ok(
      listed.structuredContent.invoices.some((i) => i.id === made.structuredContent.id),
      JSON.stringify(listed),
    );

    // Bad arguments are the tool's error, not an HTTP failure.
    const bad = await client.callTool({ name: 'create_invoice', arguments: { customer: '', amount_cents: 1 } })
      .catch((e) => e);
    assert.ok(bad.isError === true || bad.code === -32602, JSON.stringify(bad));
  } finally {
    await client.close();
  }
});

test('a token for another resource is refused with 401 invalid_token', async () => {
  const elsewhere = 'https://elsewhere.example/mcp';
  const created = await createClient(['invoices:read'], [elsewhere]);
  const response = await fetch(`${mcp.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: created.client_id,
      client_secret: created.client_secret,
      scope: 'invoices:read',
      resource: elsewhere,
    }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { access_token: token } = await response.json();

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
  const challenge = refused.headers.get('www-authenticate');
  assert.ok(challenge.includes('error="invalid_token"'), challenge);
  assert.ok(challenge.includes('resource_metadata="'), challenge);

  // The SDK, handed that token, does not get through either.
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'm2m-auth interop', version: '0.0.0' });
  await assert.rejects(client.connect(transport), (e) => e.code === 401);
  await client.close();
});

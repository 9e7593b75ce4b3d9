"""The official Python MCP SDK (`mcp`) against examples/mcp_server.rs and a
real `m2m serve`: its ClientCredentialsOAuthProvider starts from a bare 401,
discovers the issuer through the server's Protected Resource Metadata, gets a
token for the server's resource (RFC 8707) with client_secret_basic or
client_secret_post, lists the tools and calls one. Unlike the TypeScript SDK's, its
client-credentials flow asks for the scope a challenge names, so a 403
insufficient_scope makes it step up.

Its PrivateKeyJWTOAuthProvider does the same with private_key_jwt (RFC 7523
§2.2), the assertion signed by the SDK's own SignedJWTParameters with an
ES256 key registered as the client's JWK Set; a key not registered gets no
token and so no tool call.

Environment (set by tests/interop/run.sh): M2M_MCP is a JSON object
{"issuer": "...", "admin_file": "...", "server": "http://ADDRESS"}.
"""

import asyncio
import json
import os
from urllib.parse import parse_qs

import httpx2
import jwt
import pytest
import requests
from mcp.client.auth.exceptions import OAuthTokenError
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

MCP = json.loads(os.environ["M2M_MCP"])
ISSUER = MCP["issuer"]
RESOURCE = MCP["server"] + "/mcp"


def admin_token():
    with open(MCP["admin_file"]) as f:
        creds = json.load(f)
    response = requests.post(
        f"{ISSUER}/oauth/token",
        auth=(creds["client_id"], creds["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "m2m:admin"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def create_client(scopes):
    response = requests.post(
        f"{ISSUER}/admin/clients",
        headers={"Authorization": f"Bearer {admin_token()}"},
        json={"name": "python mcp interop", "kind": "service", "scopes": scopes, "audiences": [RESOURCE]},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


async def session_run(created, method, log, action):
    provider = ClientCredentialsOAuthProvider(
        server_url=RESOURCE,
        storage=MemoryStorage(),
        client_id=created["client_id"],
        client_secret=created["client_secret"],
        token_endpoint_auth_method=method,
        issuer=ISSUER,
    )
    return await session_with(provider, log, action)


async def session_with(provider, log, action):
    """Connects through `provider`, recording every response in `log`, and
    runs `action` on the initialized session."""

    async def record(response):
        # Not reading the body: the GET stream of a session never ends.
        request = response.request
        log.append(
            {
                "url": str(request.url),
                "authorization": request.headers.get("authorization"),
                "body": request.content.decode(),
                "status": response.status_code,
                "challenge": response.headers.get("www-authenticate"),
            }
        )

    async with httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [record]}) as http:
        async with streamable_http_client(RESOURCE, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await action(session)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_mcp_sdk_client_credentials(method):
    created = create_client(["invoices:read"])
    log = []

    async def action(session):
        tools = await session.list_tools()
        listed = await session.call_tool("list_invoices", {})
        return tools, listed

    tools, listed = asyncio.run(session_run(created, method, log, action))
    assert sorted(t.name for t in tools.tools) == ["create_invoice", "list_invoices"]
    assert not listed.is_error, listed
    assert isinstance(listed.structured_content["invoices"], list)

    # A bare 401 first, naming the metadata; then discovery and one token
    # request for this resource.
    first = log[0]
    assert first["url"] == RESOURCE and first["status"] == 401 and first["authorization"] is None
    metadata_url = MCP["server"] + "/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in first["challenge"]
    urls = [r["url"] for r in log]
    assert metadata_url in urls
    tokens = [r for r in log if r["url"] == f"{ISSUER}/oauth/token"]
    assert len(tokens) == 1 and tokens[0]["status"] == 200, tokens
    form = parse_qs(tokens[0]["body"])
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["invoices:read"]  # the 401's scope=
    assert form["resource"] == [RESOURCE]
    if method == "client_secret_basic":
        assert (tokens[0]["authorization"] or "").startswith("Basic ")
        assert "client_secret" not in form
    else:
        assert tokens[0]["authorization"] is None
        assert form["client_secret"] == [created["client_secret"]]


def token_scopes(log):
    return [parse_qs(r["body"]).get("scope", [None])[0] for r in log if r["url"] == f"{ISSUER}/oauth/token"]


def test_mcp_sdk_read_only_client_is_refused_create_invoice():
    created = create_client(["invoices:read"])
    log = []

    async def action(session):
        return await session.call_tool("create_invoice", {"customer": "ACME", "amount_cents": 1})

    # The SDK steps up: it asks the issuer for the scopes the 403 names, and
    # the issuer refuses a scope the client was never given.
    with pytest.raises(BaseExceptionGroup) as raised:
        asyncio.run(session_run(created, "client_secret_basic", log, action))
    (error,) = raised.value.exceptions
    assert isinstance(error, OAuthTokenError) and "invalid_scope" in str(error), repr(error)
    refused = [r for r in log if r["status"] == 403]
    assert len(refused) == 1, log
    assert refused[0]["url"] == RESOURCE
    assert 'error="insufficient_scope"' in refused[0]["challenge"]
    assert 'scope="invoices:read invoices:write"' in refused[0]["challenge"]
    assert token_scopes(log) == ["invoices:read", "invoices:read invoices:write"]


def test_mcp_sdk_steps_up_after_the_403():
    created = create_client(["invoices:read", "invoices:write"])
    log = []

    async def action(session):
        return await session.call_tool("create_invoice", {"customer": "ACME", "amount_cents": 4200})

    made = asyncio.run(session_run(created, "client_secret_post", log, action))
    assert not made.is_error, made
    assert made.structured_content["created_by"] == created["client_id"]
    # First the 401's scope, then, after the 403, the scopes it named.
    assert token_scopes(log) == ["invoices:read", "invoices:read invoices:write"]
    assert [r["status"] for r in log if r["status"] >= 400] == [401, 403]


# private_key_jwt: the SDK's PrivateKeyJWTOAuthProvider, signing its own
# assertions (SignedJWTParameters) with a P-256 key made here.


def p256_key():
    """A fresh P-256 private key as PKCS#8 PEM, and its public JWK."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, ECAlgorithm.to_jwk(private.public_key(), as_dict=True)


def create_key_client(scopes, public_jwk):
    response = requests.post(
        f"{ISSUER}/admin/clients",
        headers={"Authorization": f"Bearer {admin_token()}"},
        json={
            "name": "python mcp private_key_jwt",
            "kind": "service",
            "scopes": scopes,
            "audiences": [RESOURCE],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk]},
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert "client_secret" not in created, created
    return created


def key_provider(client_id, pem):
    # The SDK's SignedJWTParameters signs iss = sub = client_id, aud = the
    # authorization server's issuer identifier (from its metadata), exp =
    # iat + lifetime, a fresh jti; no kid (the client has one key).
    params = SignedJWTParameters(
        issuer=client_id, subject=client_id, signing_key=pem, signing_algorithm="ES256", lifetime_seconds=120
    )
    return PrivateKeyJWTOAuthProvider(
        server_url=RESOURCE,
        storage=MemoryStorage(),
        client_id=client_id,
        assertion_provider=params.create_assertion_provider(),
        issuer=ISSUER,
    )


def test_mcp_sdk_private_key_jwt():
    pem, public = p256_key()
    created = create_key_client(["invoices:read"], public)
    log = []

    async def action(session):
        tools = await session.list_tools()
        listed = await session.call_tool("list_invoices", {})
        return tools, listed

    tools, listed = asyncio.run(session_with(key_provider(created["client_id"], pem), log, action))
    assert sorted(t.name for t in tools.tools) == ["create_invoice", "list_invoices"]
    assert not listed.is_error, listed
    assert isinstance(listed.structured_content["invoices"], list)

    # From a bare 401, through discovery, to one token request
    # authenticated by the assertion alone.
    first = log[0]
    assert first["url"] == RESOURCE and first["status"] == 401 and first["authorization"] is None
    tokens = [r for r in log if r["url"] == f"{ISSUER}/oauth/token"]
    assert len(tokens) == 1 and tokens[0]["status"] == 200, tokens
    form = parse_qs(tokens[0]["body"])
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert form["scope"] == ["invoices:read"]
    assert form["resource"] == [RESOURCE]
    assert tokens[0]["authorization"] is None and "client_secret" not in form
    header = jwt.get_unverified_header(form["client_assertion"][0])
    assert header["alg"] == "ES256" and "kid" not in header, header
    claims = jwt.decode(
        form["client_assertion"][0], public_key_of(public), algorithms=["ES256"], audience=ISSUER
    )
    assert claims["iss"] == claims["sub"] == created["client_id"]
    assert claims["jti"]

    # The token is the client's, for the MCP server's resource.
    granted = [r for r in log if r["url"] == RESOURCE and r["authorization"]]
    assert granted and all(r["status"] < 400 for r in granted), granted


def public_key_of(jwk):
    from jwt.algorithms import ECAlgorithm

    return ECAlgorithm.from_jwk(json.dumps(jwk))


def test_mcp_sdk_private_key_jwt_with_an_unregistered_key_is_refused():
    _, public = p256_key()
    created = create_key_client(["invoices:read"], public)
    stranger, _ = p256_key()
    log = []
    called = []

    async def action(session):
        called.append(True)
        return await session.call_tool("list_invoices", {})

    with pytest.raises(BaseExceptionGroup) as raised:
        asyncio.run(session_with(key_provider(created["client_id"], stranger), log, action))
    (error,) = raised.value.exceptions
    assert isinstance(error, OAuthTokenError) and "invalid_client" in str(error), repr(error)
    assert not called
    tokens = [r for r in log if r["url"] == f"{ISSUER}/oauth/token"]
    assert [r["status"] for r in tokens] == [401], tokens
    # Nothing reached the MCP server with a token.
    assert not [r for r in log if r["url"] == RESOURCE and r["authorization"]], log

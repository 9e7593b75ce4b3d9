"""Independent Python clients against a real `m2m serve`.

authlib runs the client-credentials grant (client_secret_basic and
client_secret_post) and, for a user-level client, the authorization-code
grant with PKCE and the refresh grant; PyJWT's PyJWKClient verifies the access
tokens against the issuer's jwks_uri; requests calls a route of the guarded
example app.

Environment (set by tests/interop/run.sh):
  M2M_ENDPOINT    the issuer (ES256), e.g. http://127.0.0.1:18080
  M2M_ADMIN_FILE  its bootstrap admin credentials
  M2M_API         the guarded example app, e.g. http://127.0.0.1:18090
  M2M_API_AUDIENCE the audience the example app expects
"""

import base64
import json
import os
import time
from urllib.parse import parse_qs, unquote

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

ENDPOINT = os.environ["M2M_ENDPOINT"]
API = os.environ["M2M_API"]
API_AUDIENCE = os.environ["M2M_API_AUDIENCE"]


def metadata():
    response = requests.get(f"{ENDPOINT}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    return response.json()


def admin_token():
    with open(os.environ["M2M_ADMIN_FILE"]) as f:
        creds = json.load(f)
    session = OAuth2Session(creds["client_id"], creds["client_secret"], scope="m2m:admin")
    token = session.fetch_token(metadata()["token_endpoint"], grant_type="client_credentials")
    return token["access_token"]


def create_client(scopes, audiences=None, kind="service"):
    body = {"name": "python interop", "kind": kind, "scopes": scopes}
    if kind == "service":
        body["audiences"] = audiences or [API_AUDIENCE]
    else:
        body["org_id"] = "org_py"
    response = requests.post(
        f"{ENDPOINT}/admin/clients",
        json=body,
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["client_id"].startswith("m2m_")
    assert created["client_secret"].startswith("m2ms_")
    return created


def test_metadata_is_rfc8414():
    meta = metadata()
    assert meta["issuer"] == ENDPOINT
    for key in ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert meta[key].startswith(ENDPOINT + "/"), key
    assert "client_credentials" in meta["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )


def record_requests(session):
    """The requests `session` sends from now on, as prepared for the wire."""
    sent = []
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.request))
    return sent


def form_of(request):
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return parse_qs(body, keep_blank_values=True)


def assert_client_authentication(request, method, client):
    """The token request authenticated the client with `method`, and only with it."""
    form = form_of(request)
    assert form["grant_type"] == ["client_credentials"], form
    if method == "client_secret_basic":
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        assert scheme == "Basic", request.headers
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        assert (unquote(user), unquote(password)) == (client["client_id"], client["client_secret"])
        assert "client_secret" not in form, form
    elif method == "client_secret_post":
        assert "Authorization" not in request.headers, request.headers
        assert form["client_id"] == [client["client_id"]], form
        assert form["client_secret"] == [client["client_secret"]], form
    else:
        raise AssertionError(f"unknown method {method}")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_and_pyjwt_verification(method):
    client = create_client(["invoices:read", "invoices:write"])
    session = OAuth2Session(
        client["client_id"],
        client["client_secret"],
        token_endpoint_auth_method=method,
        scope="invoices:read",
    )
    sent = record_requests(session)
    token_endpoint = metadata()["token_endpoint"]
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    # What authlib actually sent: one token request, authenticated the way asked.
    assert [r.url for r in sent] == [token_endpoint], [r.url for r in sent]
    assert sent[0].method == "POST"
    assert_client_authentication(sent[0], method, client)
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "invoices:read"
    assert 0 < token["expires_in"] <= 3600

    access = token["access_token"]
    header = jwt.get_unverified_header(access)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    jwks = jwt.PyJWKClient(metadata()["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(access)
    assert key.key_id == header["kid"]
    claims = jwt.decode(
        access,
        key.key,
        algorithms=["ES256"],
        audience=API_AUDIENCE,
        issuer=ENDPOINT,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    assert claims["client_id"] == client["client_id"]
    assert claims["sub"] == client["client_id"]
    assert claims["scope"] == "invoices:read"
    assert claims["scopes"] == ["invoices:read"]
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 3600

    # The wrong audience is refused by PyJWT too.
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(access, key.key, algorithms=["ES256"], audience="https://elsewhere", issuer=ENDPOINT)


def test_wrong_secret_is_invalid_client():
    client = create_client(["invoices:read"])
    response = requests.post(
        metadata()["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], "m2ms_wrong"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"


def token_for(scopes):
    client = create_client(["invoices:read", "invoices:write", "reports:read"])
    session = OAuth2Session(client["client_id"], client["client_secret"], scope=" ".join(scopes))
    return session.fetch_token(metadata()["token_endpoint"], grant_type="client_credentials")["access_token"]


def test_guarded_route_accepts_the_right_scope():
    token = token_for(["invoices:read"])
    response = requests.get(f"{API}/invoices", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text


def test_guarded_route_refuses_a_missing_scope():
    # GET /invoices needs invoices:read or invoices:write; this token has neither.
    token = token_for(["reports:read"])
    response = requests.get(f"{API}/invoices", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="invoices:read invoices:write"' in challenge
    assert response.json()["error"] == "insufficient_scope"
    # POST needs invoices:write (all-of): a read token is refused with that scope named.
    token = token_for(["invoices:read"])
    response = requests.post(
        f"{API}/invoices",
        json={"id": 0, "customer": "acme", "amount_cents": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 403
    assert 'scope="invoices:write"' in response.headers["WWW-Authenticate"]


def test_guarded_route_refuses_a_tampered_token():
    token = token_for(["invoices:read"])
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "invoices:read invoices:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = requests.get(
        f"{API}/invoices", headers={"Authorization": f"Bearer {head}.{forged}.{signature}"}, timeout=10
    )
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.json()["error"] == "invalid_token"


def test_guarded_route_without_a_token():
    response = requests.get(f"{API}/invoices", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert "error=" not in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "unauthorized"


def test_authlib_authorization_code_with_pkce_and_refresh():
    """A user-level client, with the server's development consent (user from login_hint)."""
    redirect_uri = "http://127.0.0.1:1/callback"  # never reached: the redirect is read, not followed
    response = requests.post(
        f"{ENDPOINT}/admin/clients",
        json={
            "name": "python assistant",
            "kind": "user",
            "org_id": "org_py",
            "scopes": ["notes:read", "notes:write"],
            "redirect_uris": [redirect_uri],
        },
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    client = response.json()
    meta = metadata()
    assert "authorization_code" in meta["grant_types_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]

    session = OAuth2Session(
        client["client_id"],
        client["client_secret"],
        scope="notes:read",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, login_hint="alice"
    )
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    location = consent.headers["Location"]
    assert location.startswith(redirect_uri)
    assert f"state={state}" in location

    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "notes:read"
    assert token["refresh_token"].startswith("m2mr_")
    jwks = jwt.PyJWKClient(meta["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(token["access_token"], key.key, algorithms=["ES256"], audience=ENDPOINT, issuer=ENDPOINT)
    assert claims["uid"] == "alice" and claims["sub"] == "alice"
    assert claims["oid"] == "org_py"
    assert claims["client_id"] == client["client_id"]

    # Refresh rotates the refresh token; the old one is then refused (reuse detection).
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    reuse = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"


# private_key_jwt (RFC 7523 §2.2): authlib's PrivateKeyJWT client
# authentication, and PyJWT-minted assertions for what must be refused.


def create_key_client(public_jwk):
    response = requests.post(
        f"{ENDPOINT}/admin/clients",
        json={
            "name": "python private_key_jwt",
            "kind": "service",
            "scopes": ["invoices:read"],
            "audiences": [API_AUDIENCE],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public_jwk]},
        },
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert "client_secret" not in created, created
    return created


def p256_key(kid):
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
    return key, key.as_dict(private=False)


def test_authlib_private_key_jwt():
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    class FiveMinutePrivateKeyJWT(PrivateKeyJWT):
        """authlib's PrivateKeyJWT signs `exp = iat + 3600` by default, past
        the issuer's five-minute cap on assertions; this asks for two minutes
        (fresh claims each time, so each assertion has its own jti)."""

        def sign(self, auth, token_endpoint):
            self.claims = {"exp": int(time.time()) + 120}
            return super().sign(auth, token_endpoint)

    key, public = p256_key("py-es256")
    client = create_key_client(public)
    token_endpoint = metadata()["token_endpoint"]
    assert "private_key_jwt" in metadata()["token_endpoint_auth_methods_supported"]

    session = OAuth2Session(client["client_id"], key, token_endpoint_auth_method="private_key_jwt", scope="invoices:read")
    session.register_client_auth_method(FiveMinutePrivateKeyJWT(token_endpoint, alg="ES256", headers={"kid": "py-es256"}))
    sent = record_requests(session)
    for _ in range(2):
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        claims = jwt.decode(
            token["access_token"],
            jwt.PyJWKClient(metadata()["jwks_uri"]).get_signing_key_from_jwt(token["access_token"]).key,
            algorithms=["ES256"],
            audience=API_AUDIENCE,
            issuer=ENDPOINT,
        )
        assert claims["client_id"] == client["client_id"]
    for request in sent:
        form = form_of(request)
        assert "Authorization" not in request.headers
        assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
        assert "client_secret" not in form
    first, second = (jwt.decode(form_of(r)["client_assertion"][0], options={"verify_signature": False}) for r in sent)
    assert first["jti"] != second["jti"]

    # authlib's default lifetime (one hour) is refused: too long-lived.
    default = OAuth2Session(client["client_id"], key, token_endpoint_auth_method="private_key_jwt")
    default.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256", headers={"kid": "py-es256"}))
    with pytest.raises(Exception) as refused:
        default.fetch_token(token_endpoint, grant_type="client_credentials")
    assert "invalid_client" in str(refused.value)


def hs256(claims, secret, kid):
    """A JWT signed with HMAC-SHA-256 under `secret`: what an attacker who
    knows a client's public key sends, hoping it is taken as the HMAC key."""
    import hashlib
    import hmac

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_pyjwt_assertions_that_must_be_refused():
    key, public = p256_key("py-neg")
    client = create_key_client(public)
    token_endpoint = metadata()["token_endpoint"]
    pem = key.as_pem(private=True)
    now = int(time.time())

    def claims(**changes):
        base = {"iss": client["client_id"], "sub": client["client_id"], "aud": token_endpoint,
                "iat": now, "exp": now + 60, "jti": base64.urlsafe_b64encode(os.urandom(16)).decode()}
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def send(assertion):
        return requests.post(
            token_endpoint,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            timeout=10,
        )

    good = jwt.encode(claims(), pem, algorithm="ES256", headers={"kid": "py-neg"})
    assert send(good).status_code == 200
    refused = {
        "replayed": good,
        "wrong aud": jwt.encode(claims(aud="https://elsewhere.example"), pem, algorithm="ES256", headers={"kid": "py-neg"}),
        "expired": jwt.encode(claims(iat=now - 600, exp=now - 300), pem, algorithm="ES256", headers={"kid": "py-neg"}),
        "too long-lived": jwt.encode(claims(exp=now + 3600), pem, algorithm="ES256", headers={"kid": "py-neg"}),
        "no exp": jwt.encode(claims(exp=None), pem, algorithm="ES256", headers={"kid": "py-neg"}),
        "no jti": jwt.encode(claims(jti=None), pem, algorithm="ES256", headers={"kid": "py-neg"}),
        "alg none": jwt.encode(claims(), None, algorithm="none", headers={"kid": "py-neg"}),
        # Key confusion: HS256 keyed with the registered public key (PyJWT
        # itself refuses to, so the token is put together by hand).
        "HS256 with the public key": hs256(claims(), json.dumps(public).encode(), "py-neg"),
        "unregistered key": jwt.encode(claims(), p256_key("py-neg")[0].as_pem(private=True), algorithm="ES256", headers={"kid": "py-neg"}),
    }
    for why, assertion in refused.items():
        response = send(assertion)
        assert response.status_code == 401, (why, response.text)
        assert response.json()["error"] == "invalid_client", why
        assert "access_token" not in response.json(), why


# RSA client keys: RS256 (RSASSA-PKCS1-v1_5) and PS256 (RSASSA-PSS), minted by
# PyJWT with keys from `cryptography`. The algorithm is the key's: a JWK
# declaring "alg": "PS256" verifies PS256 only; an RSA JWK without "alg" is RS256.


def rsa_key(kid, alg=None, bits=2048):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public["kid"] = kid
    if alg is not None:
        public["alg"] = alg
    return private, public


def send_assertion(assertion):
    return requests.post(
        metadata()["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )


def assertion_claims(client_id, aud=ENDPOINT):
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
            "jti": base64.urlsafe_b64encode(os.urandom(16)).decode()}


def assert_refused_assertion(response, why):
    assert response.status_code == 401, (why, response.text)
    assert response.json()["error"] == "invalid_client", why
    assert "access_token" not in response.json(), why


@pytest.mark.parametrize(
    "alg,declared",
    [("PS256", "PS256"), ("RS256", "RS256"), ("RS256", None)],
    ids=["PS256", "RS256", "RS256 without alg"],
)
def test_pyjwt_rsa_assertions_get_tokens(alg, declared):
    assert alg in metadata()["token_endpoint_auth_signing_alg_values_supported"]
    private, public = rsa_key(f"py-{alg.lower()}", declared)
    client = create_key_client(public)
    for kid in (public["kid"], None):  # with a kid, and without (the only key)
        headers = {"kid": kid} if kid else None
        response = send_assertion(jwt.encode(assertion_claims(client["client_id"]), private, algorithm=alg, headers=headers))
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        claims = jwt.decode(
            access,
            jwt.PyJWKClient(metadata()["jwks_uri"]).get_signing_key_from_jwt(access).key,
            algorithms=["ES256"],
            audience=API_AUDIENCE,
            issuer=ENDPOINT,
        )
        assert claims["client_id"] == client["client_id"]


def test_pyjwt_rsa_assertions_that_must_be_refused():
    private, public = rsa_key("py-pss", "PS256")
    pss = create_key_client(public)
    stranger, _ = rsa_key("py-pss", "PS256")
    refused = {
        # Another RSA key's PSS signature under the registered kid.
        "PS256 by an unregistered key": jwt.encode(assertion_claims(pss["client_id"]), stranger, algorithm="PS256", headers={"kid": "py-pss"}),
        # The registered key, but PKCS#1 v1.5: the key was declared PS256.
        "RS256 by a PS256 key": jwt.encode(assertion_claims(pss["client_id"]), private, algorithm="RS256", headers={"kid": "py-pss"}),
        # PSS with SHA-384 is not PS256.
        "PS384 by a PS256 key": jwt.encode(assertion_claims(pss["client_id"]), private, algorithm="PS384", headers={"kid": "py-pss"}),
    }
    pkcs1_private, pkcs1_public = rsa_key("py-pkcs1")
    pkcs1 = create_key_client(pkcs1_public)
    # An RSA key registered without "alg" is RS256 only.
    refused["PS256 by a key registered without alg"] = jwt.encode(
        assertion_claims(pkcs1["client_id"]), pkcs1_private, algorithm="PS256", headers={"kid": "py-pkcs1"})
    _, ec_public = p256_key("py-ec")
    ec = create_key_client(ec_public)
    # An EC client: PS256 signed with some RSA key is never taken.
    refused["PS256 for an EC key"] = jwt.encode(assertion_claims(ec["client_id"]), private, algorithm="PS256", headers={"kid": "py-ec"})
    for why, assertion in refused.items():
        assert_refused_assertion(send_assertion(assertion), why)
    # The good ones still pass after all that (nothing was burnt or locked).
    good = jwt.encode(assertion_claims(pss["client_id"]), private, algorithm="PS256", headers={"kid": "py-pss"})
    assert send_assertion(good).status_code == 200


@pytest.mark.parametrize("why", ["PS256 on an EC key", "RSA under 2048 bits"])
def test_rsa_and_ps256_keys_that_cannot_be_registered(why):
    if why == "PS256 on an EC key":
        _, public = p256_key("py-ec-pss")
        public["alg"] = "PS256"
    else:
        _, public = rsa_key("py-small", "PS256", bits=1024)
    response = requests.post(
        f"{ENDPOINT}/admin/clients",
        json={"name": "python bad key", "kind": "service", "scopes": ["invoices:read"],
              "audiences": [API_AUDIENCE], "token_endpoint_auth_method": "private_key_jwt",
              "jwks": {"keys": [public]}},
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 422, (why, response.text)
    assert response.json()["error"] == "validation_failed", why


def test_token_exchange_act_checked_with_pyjwt():
    """RFC 8693: an agent exchanges an org's token; PyJWT verifies the result
    against the JWKS and finds the agent in `act`, the org as the subject."""
    subject_client = create_client(["invoices:read"], kind="org")
    agent = requests.post(
        f"{ENDPOINT}/admin/clients",
        json={
            "name": "python agent",
            "kind": "service",
            "scopes": ["invoices:read"],
            "audiences": [API_AUDIENCE],
            "token_exchange": {"subjects": ["org:org_py"]},
        },
        headers={"Authorization": f"Bearer {admin_token()}"},
        timeout=10,
    )
    assert agent.status_code == 201, agent.text
    agent = agent.json()
    token_endpoint = metadata()["token_endpoint"]
    subject = requests.post(
        token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(subject_client["client_id"], subject_client["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    response = requests.post(
        token_endpoint,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": subject,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
        auth=(agent["client_id"], agent["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert "refresh_token" not in body
    signing_key = jwt.PyJWKClient(metadata()["jwks_uri"]).get_signing_key_from_jwt(
        body["access_token"]
    )
    claims = jwt.decode(
        body["access_token"],
        signing_key.key,
        algorithms=["ES256"],
        audience=API_AUDIENCE,
        issuer=ENDPOINT,
        options={"require": ["exp", "iat", "jti", "sub"]},
    )
    assert claims["sub"] == subject_client["client_id"]
    assert claims["oid"] == "org_py"
    assert claims["client_id"] == agent["client_id"]
    assert claims["act"] == {"sub": agent["client_id"], "client_id": agent["client_id"]}
    subject_claims = jwt.decode(subject, options={"verify_signature": False})
    assert claims["exp"] <= subject_claims["exp"]

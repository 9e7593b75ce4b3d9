//! Records for the sections to store. Text fields carry what a careless
//! backend would mangle: non-ASCII, quotes, JSON with floats and nulls.

use m2m_core::{
    AccessTokenClaims, Algorithm, Audience, ClientId, ClientKind, KeySchedule, OrgId, PublicJwk,
    ScopeSet, SecretHash, TokenTtl, UserId,
};
use m2m_issuer::store::{
    AuditRecord, AuthCodeRecord, ClientRecord, GrantRecord, RefreshTokenRecord, SecretRecord,
    StoredKey, TokenEndpointAuthMethod,
};

/// The suite's "now": seconds since the epoch.
pub(crate) const T0: u64 = 1_700_000_000;

/// The client of every code, grant and refresh token.
pub(crate) const USER_CLIENT: &str = "m2m_user";

#[track_caller]
pub(crate) fn scopes(text: &str) -> ScopeSet {
    ScopeSet::parse(text).unwrap_or_else(|e| panic!("fixture scopes {text:?}: {e}"))
}

pub(crate) fn client(id: &str, kind: ClientKind, org: Option<&str>) -> ClientRecord {
    ClientRecord {
        client_id: ClientId::new(id),
        name: format!("client {id} – ünïcode \"quoted\""),
        kind,
        org_id: org.map(OrgId::new),
        user_id: None,
        scopes: scopes("invoices:read invoices:write"),
        audiences: vec![
            "https://b.example.com".to_owned(),
            "https://a.example.com".to_owned(),
        ],
        token_ttl: TokenTtl::new(900).unwrap_or_else(|e| panic!("fixture ttl: {e}")),
        redirect_uris: vec![],
        // Not the default, so that a store that drops it fails the round trip.
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        client_keys: None,
        dpop_bound_access_tokens: false,
        token_exchange: None,
        quota: None,
        metadata: serde_json::json!({"team": "billing", "n": [1, 2.5, null], "deep": {"ok": true}}),
        enabled: true,
        created_at: T0,
        updated_at: T0,
    }
}

pub(crate) fn secret(client_id: &str, secret_id: &str, byte: u8, created_at: u64) -> SecretRecord {
    SecretRecord {
        secret_id: secret_id.to_owned(),
        client_id: ClientId::new(client_id),
        hash: SecretHash::from_bytes([byte; 32]),
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

pub(crate) fn key(kid: &str, signs_from: u64) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: Algorithm::ES256,
        encrypted_private_key: kid.bytes().chain([0, 1, 2, 255]).collect(),
        public_jwk: PublicJwk {
            kty: "EC".to_owned(),
            key_use: Some("sig".to_owned()),
            alg: Some("ES256".to_owned()),
            kid: Some(kid.to_owned()),
            crv: Some("P-256".to_owned()),
            x: Some(format!("x-{kid}")),
            y: Some(format!("y-{kid}")),
            n: None,
            e: None,
        },
        schedule: KeySchedule {
            created_at: signs_from,
            signs_from,
            signs_until: None,
            published_until: None,
        },
    }
}

pub(crate) fn kids(keys: &[StoredKey]) -> Vec<String> {
    let mut kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
    kids.sort();
    kids
}

pub(crate) fn sorted_keys(mut keys: Vec<StoredKey>) -> Vec<StoredKey> {
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    keys
}

/// The claims of an access token of `client` issued at `iat`.
pub(crate) fn claims(jti: &str, client: &str, iat: u64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://issuer.example.com".to_owned(),
        sub: client.to_owned(),
        client_id: ClientId::new(client),
        aud: Audience::One("https://api.example.com".to_owned()),
        exp: iat + 900,
        nbf: Some(iat),
        iat,
        jti: jti.to_owned(),
        scope: scopes("invoices:read"),
        oid: None,
        uid: None,
        cnf: None,
        act: None,
        may_act: None,
    }
}

pub(crate) fn auth_code(hash: u8, grant_id: &str) -> AuthCodeRecord {
    AuthCodeRecord {
        code_hash: vec![hash; 32],
        client_id: ClientId::new(USER_CLIENT),
        grant_id: grant_id.to_owned(),
        redirect_uri: "https://app.example.com/callback?x=1&y=\"2\"".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        user_id: UserId::new("user_1"),
        org_id: OrgId::new("org_1"),
        scopes: scopes("invoices:read invoices:write"),
        resources: vec![
            "https://mcp.example.com/mcp".to_owned(),
            "urn:example:\"quoted\"".to_owned(),
        ],
        created_at: T0,
        expires_at: T0 + 60,
    }
}

pub(crate) fn grant(grant_id: &str, user: &str, created_at: u64) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id.to_owned(),
        client_id: ClientId::new(USER_CLIENT),
        user_id: UserId::new(user),
        org_id: OrgId::new("org_1"),
        scopes: scopes("invoices:read invoices:write"),
        resources: vec!["https://mcp.example.com/mcp".to_owned()],
        created_at,
        revoked_at: None,
    }
}

/// A refresh token issued at `at` with an access token `jti` that expires
/// at `at + 900`.
pub(crate) fn refresh(hash: u8, grant_id: &str, jti: &str, at: u64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: vec![hash; 32],
        grant_id: grant_id.to_owned(),
        client_id: ClientId::new(USER_CLIENT),
        scopes: scopes("invoices:read"),
        access_jti: jti.to_owned(),
        access_exp: at + 900,
        created_at: at,
        expires_at: at + 86_400,
        used_at: None,
        dpop_jkt: None,
    }
}

pub(crate) fn event(kind: &str, client: Option<&str>, at: u64) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at,
        kind: kind.to_owned(),
        client_id: client.map(ClientId::new),
        actor: Some(ClientId::new("m2m_admin")),
        detail: serde_json::json!({"reason": "test", "fields": ["name"], "n": 1.5}),
    }
}

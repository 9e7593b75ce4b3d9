//! The `authorization_code` and `refresh_token` grants of `POST /oauth/token`,
//! for user-level clients (RFC 6749 §4.1.3 and §6, RFC 7636 §4.6).
//!
//! - A code is exchanged once. Presenting it again answers `invalid_grant`
//!   and revokes the grant that its first exchange created (RFC 6749
//!   §4.1.2): its refresh tokens stop working and its access tokens enter
//!   the revocation feed.
//! - Refresh tokens are opaque (`m2mr_` + 256 random bits), stored as their
//!   SHA-256, and rotated on every use. A used refresh token presented again
//!   is a reuse: `invalid_grant`, and the whole family is revoked.
//! - `scope` at refresh may only narrow the grant's scopes.

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::{AccessTokenClaims, Audience, ClientKind, ScopeSet};
use serde::Serialize;

use super::Form;
use super::authorize::sha256;
use crate::error::{OAuthCode, OAuthError, no_store};
use crate::issuer::Inner;
use crate::store::{ClientRecord, ConsumeCode, GrantRecord, RefreshTokenRecord, RotateRefresh};

/// Lifetime of a refresh token, in seconds (30 days); each rotation starts a
/// new one.
pub(crate) const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;
/// Prefix of refresh tokens, so secret scanners can find leaked ones.
const REFRESH_PREFIX: &str = "m2mr_";
/// Longest code, verifier or refresh token read.
const MAX_OPAQUE_LEN: usize = 256;

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a ScopeSet,
    refresh_token: String,
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(OAuthCode::InvalidGrant, description)
}

fn check_user_client(inner: &Inner, client: &ClientRecord) -> Result<(), OAuthError> {
    if inner.consent.is_none() {
        return Err(OAuthError::new(
            OAuthCode::UnsupportedGrantType,
            "user-level clients are not enabled on this issuer",
        ));
    }
    if client.kind != ClientKind::User {
        return Err(OAuthError::new(
            OAuthCode::UnauthorizedClient,
            "only clients of kind user may use this grant",
        ));
    }
    Ok(())
}

fn required<'a>(form: &'a Form, name: &'static str) -> Result<&'a str, OAuthError> {
    let value = form
        .get(name)
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))?;
    if value.len() > MAX_OPAQUE_LEN {
        return Err(OAuthError::invalid_request(format!("{name} is too long")));
    }
    Ok(value)
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Compares without stopping at the first difference (both sides here are
/// 43-character challenges; their length is public).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Revokes a grant after a reused code or refresh token, and records why.
async fn revoke_family(
    inner: &Inner,
    client: &ClientRecord,
    grant_id: &str,
    now: u64,
    reason: &'static str,
) -> Result<(), OAuthError> {
    let revocation = crate::store::GrantRevocation {
        client_id: &client.client_id,
        grant_id,
        at: now,
        live_after: now.saturating_sub(inner.leeway),
        create_revoked: None,
    };
    if let Some(revoked) = inner.store.revoke_grant(&revocation).await? {
        inner.announce_revoked(revoked);
    }
    inner.audit.record(
        now,
        "grant.revoked",
        Some(&client.client_id),
        None,
        serde_json::json!({ "grant_id": grant_id, "reason": reason }),
    );
    Ok(())
}

/// A signed access token for a user of a grant, and a new refresh token.
struct Issued {
    access_token: String,
    claims: AccessTokenClaims,
    refresh_token: String,
    refresh: RefreshTokenRecord,
}

fn issue_tokens(
    inner: &Inner,
    client: &ClientRecord,
    grant: &GrantRecord,
    scope: ScopeSet,
    now: u64,
) -> Result<Issued, OAuthError> {
    let allowed = if client.audiences.is_empty() {
        vec![inner.default_audience.clone()]
    } else {
        client.audiences.clone()
    };
    let ttl = client.token_ttl.seconds();
    let claims = AccessTokenClaims {
        iss: inner.issuer_url.clone(),
        sub: grant.user_id.to_string(),
        client_id: client.client_id.clone(),
        aud: Audience::from_list(allowed),
        exp: now + ttl,
        nbf: Some(now),
        iat: now,
        jti: m2m_core::random_id("").map_err(|_| OAuthError::server_error())?,
        scope,
        oid: Some(grant.org_id.clone()),
        uid: Some(grant.user_id.clone()),
    };
    let snapshot = inner.keys.snapshot();
    let key = snapshot.signing_key(now).ok_or_else(|| {
        tracing::error!("no signing key is current");
        OAuthError::server_error()
    })?;
    let access_token = m2m_core::sign(key, &claims).map_err(|error| {
        tracing::error!(%error, "signing failed");
        OAuthError::server_error()
    })?;
    drop(snapshot);
    let bytes: [u8; 32] = m2m_core::random_bytes().map_err(|_| OAuthError::server_error())?;
    let refresh_token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let refresh = RefreshTokenRecord {
        token_hash: sha256(refresh_token.as_bytes()),
        grant_id: grant.grant_id.clone(),
        client_id: client.client_id.clone(),
        scopes: grant.scopes.clone(),
        access_jti: claims.jti.clone(),
        access_exp: claims.exp,
        created_at: now,
        expires_at: now + REFRESH_TTL_SECS,
        used_at: None,
    };
    Ok(Issued {
        access_token,
        claims,
        refresh_token,
        refresh,
    })
}

fn respond(
    inner: &Inner,
    client: &ClientRecord,
    grant: &GrantRecord,
    issued: Issued,
    now: u64,
) -> Response {
    inner.audit.record(
        now,
        "token.issued",
        Some(&client.client_id),
        None,
        serde_json::json!({
            "jti": issued.claims.jti,
            "grant_id": grant.grant_id,
            "uid": grant.user_id.as_str(),
            "scope": issued.claims.scope.to_string(),
            "exp": issued.claims.exp,
        }),
    );
    let mut response = Json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: client.token_ttl.seconds(),
        scope: &issued.claims.scope,
        refresh_token: issued.refresh_token,
    })
    .into_response();
    no_store(&mut response);
    response
}

/// `grant_type=authorization_code`.
pub(super) async fn authorization_code(
    inner: &Inner,
    client: &ClientRecord,
    form: &Form,
    now: u64,
) -> Result<Response, OAuthError> {
    check_user_client(inner, client)?;
    let code = required(form, "code")?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = required(form, "code_verifier")?;
    if !valid_verifier(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 unreserved characters (RFC 7636)",
        ));
    }
    let record = match inner
        .store
        .consume_auth_code(&sha256(code.as_bytes()), now)
        .await?
    {
        ConsumeCode::NotFound => return Err(invalid_grant("unknown authorization code")),
        ConsumeCode::AlreadyUsed(record) => {
            if record.client_id == client.client_id {
                revoke_family(inner, client, &record.grant_id, now, "code_reused").await?;
            }
            return Err(invalid_grant("the authorization code was already used"));
        }
        ConsumeCode::Consumed(record) => record,
    };
    if record.client_id != client.client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(invalid_grant("the authorization code has expired"));
    }
    if record.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    if !constant_time_eq(computed.as_bytes(), record.code_challenge.as_bytes()) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    // The client's allowed scopes may have shrunk since consent.
    if !record.scopes.is_subset(&client.scopes) {
        return Err(OAuthError::new(
            OAuthCode::InvalidScope,
            "the consented scope exceeds what this client may now be granted",
        ));
    }
    let grant = GrantRecord {
        grant_id: record.grant_id.clone(),
        client_id: client.client_id.clone(),
        user_id: record.user_id.clone(),
        org_id: record.org_id.clone(),
        scopes: record.scopes.clone(),
        created_at: now,
        revoked_at: None,
    };
    let issued = issue_tokens(inner, client, &grant, grant.scopes.clone(), now)?;
    inner.store.create_grant(&grant, &issued.refresh).await?;
    inner.audit.record(
        now,
        "grant.created",
        Some(&client.client_id),
        None,
        serde_json::json!({
            "grant_id": grant.grant_id,
            "user_id": grant.user_id.as_str(),
            "org_id": grant.org_id.as_str(),
            "scope": grant.scopes.to_string(),
        }),
    );
    Ok(respond(inner, client, &grant, issued, now))
}

/// `grant_type=refresh_token`.
pub(super) async fn refresh_token(
    inner: &Inner,
    client: &ClientRecord,
    form: &Form,
    now: u64,
) -> Result<Response, OAuthError> {
    check_user_client(inner, client)?;
    let token = required(form, "refresh_token")?;
    if !token.starts_with(REFRESH_PREFIX) {
        return Err(invalid_grant("unknown refresh token"));
    }
    let old_hash = sha256(token.as_bytes());
    let Some(old) = inner.store.get_refresh_token(&old_hash).await? else {
        return Err(invalid_grant("unknown refresh token"));
    };
    if old.client_id != client.client_id {
        return Err(invalid_grant("unknown refresh token"));
    }
    if old.used_at.is_some() {
        revoke_family(inner, client, &old.grant_id, now, "refresh_token_reused").await?;
        return Err(invalid_grant("the refresh token was already used"));
    }
    if old.expires_at <= now {
        return Err(invalid_grant("the refresh token has expired"));
    }
    let grant = match inner.store.get_grant(&old.grant_id).await? {
        Some(grant) if grant.revoked_at.is_none() => grant,
        _ => return Err(invalid_grant("the grant was revoked")),
    };
    let scope = super::token::select_scope(
        form.get("scope"),
        &grant.scopes,
        "a refresh may not widen the scope the user consented to",
    )?;
    if !scope.is_subset(&client.scopes) {
        return Err(OAuthError::new(
            OAuthCode::InvalidScope,
            "the scope exceeds what this client may now be granted",
        ));
    }
    let issued = issue_tokens(inner, client, &grant, scope, now)?;
    match inner
        .store
        .rotate_refresh_token(&old_hash, &issued.refresh, now)
        .await?
    {
        RotateRefresh::Rotated(_) => Ok(respond(inner, client, &grant, issued, now)),
        RotateRefresh::Reused(_) => {
            revoke_family(inner, client, &grant.grant_id, now, "refresh_token_reused").await?;
            Err(invalid_grant("the refresh token was already used"))
        }
        RotateRefresh::GrantRevoked => Err(invalid_grant("the grant was revoked")),
        RotateRefresh::NotFound => Err(invalid_grant("unknown refresh token")),
    }
}

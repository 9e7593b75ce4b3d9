//! `GET /oauth/authorize` (RFC 6749 §4.1, RFC 7636): the authorization
//! endpoint for user-level clients.
//!
//! Until the client and its redirect URI are known good, every error is a
//! JSON error page (400), never a redirect: an unregistered URI must not
//! receive anything. After that, errors go back to the client as RFC 6749
//! §4.1.2.1 redirects (`error`, `error_description`, `state`, `iss`).
//! PKCE with S256 is required; `plain` is refused.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use m2m_core::{ClientId, ClientKind, ScopeSet};
use ring::digest;

use crate::Issuer;
use crate::consent::{ConsentDecision, ConsentRequest};
use crate::error::{OAuthCode, OAuthError, no_store};
use crate::store::AuthCodeRecord;

/// Lifetime of an authorization code, in seconds.
pub(crate) const CODE_TTL_SECS: u64 = 60;
/// Longest query string read.
const MAX_QUERY_LEN: usize = 8 * 1024;
/// Longest `state` echoed back.
const MAX_STATE_LEN: usize = 1024;

pub(super) async fn authorize(State(issuer): State<Issuer>, request: Request) -> Response {
    match run(&issuer, request).await {
        Ok(response) | Err(response) => response,
    }
}

fn page(error: OAuthError) -> Response {
    let mut response = error.into_response();
    no_store(&mut response);
    response
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            no_store(&mut response);
            response
        }
        Err(_) => page(OAuthError::server_error()),
    }
}

/// `redirect_uri` with `params` added to its query.
fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    found(&format!("{redirect_uri}{separator}{query}"))
}

/// Whether `challenge` can be an S256 challenge: base64url of 32 bytes.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

async fn run(issuer: &Issuer, request: Request) -> Result<Response, Response> {
    let inner = &*issuer.inner;
    let Some(handler) = inner.consent.clone() else {
        return Err(page(OAuthError {
            status: Some(StatusCode::NOT_IMPLEMENTED),
            ..OAuthError::new(
                OAuthCode::InvalidRequest,
                "user-level clients are not enabled on this issuer (no consent handler)",
            )
        }));
    };
    let (parts, _body) = request.into_parts();
    let raw = parts.uri.query().unwrap_or_default();
    if raw.len() > MAX_QUERY_LEN {
        return Err(page(OAuthError::invalid_request("the query is too long")));
    }
    let query: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|_| {
        page(OAuthError::invalid_request(
            "the query is not valid URL encoding",
        ))
    })?;
    let query: Vec<(String, String)> = query.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    for (i, (name, _)) in query.iter().enumerate() {
        if query[..i].iter().any(|(n, _)| n == name) {
            return Err(page(OAuthError::invalid_request(format!(
                "parameter {} given more than once",
                name.chars().take(64).collect::<String>()
            ))));
        }
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    // 1. The client and the redirect URI: errors are pages, never redirects.
    let client_id = param("client_id")
        .filter(|id| m2m_core::validate_id(id).is_ok())
        .ok_or_else(|| {
            page(OAuthError::invalid_request(
                "client_id is missing or invalid",
            ))
        })?;
    let entry = inner
        .lookup(&ClientId::new(client_id))
        .await
        .map_err(|e| page(e.into()))?
        .filter(|e| e.client.enabled)
        .ok_or_else(|| page(OAuthError::invalid_request("unknown client_id")))?;
    let client = &*entry.client;
    if client.kind != ClientKind::User {
        return Err(page(OAuthError::new(
            OAuthCode::UnauthorizedClient,
            "only clients of kind user may use the authorization endpoint",
        )));
    }
    let redirect_uri = match param("redirect_uri") {
        Some(uri) => client
            .redirect_uris
            .iter()
            .find(|registered| registered.as_str() == uri),
        None if client.redirect_uris.len() == 1 => client.redirect_uris.first(),
        None => None,
    }
    .ok_or_else(|| {
        page(OAuthError::invalid_request(
            "redirect_uri is missing or not registered for this client",
        ))
    })?
    .clone();

    // 2. From here on, errors go back to the client.
    let state = param("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(page(OAuthError::invalid_request("state is too long")));
    }
    let issuer_url = inner.issuer_url.clone();
    let fail = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = &state {
            params.push(("state", state));
        }
        params.push(("iss", &issuer_url));
        redirect_to(&redirect_uri, &params)
    };
    if param("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let Some(challenge) = param("code_challenge") else {
        return Err(fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    };
    if param("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        ));
    }
    if !valid_challenge(challenge) {
        return Err(fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        ));
    }
    let scopes = match param("scope") {
        None => client.scopes.clone(),
        Some(text) => match ScopeSet::parse(text) {
            Ok(scopes) if scopes.is_empty() => client.scopes.clone(),
            Ok(scopes) if scopes.is_subset(&client.scopes) => scopes,
            _ => {
                return Err(fail(
                    "invalid_scope",
                    "the requested scope exceeds what this client may be granted",
                ));
            }
        },
    };

    // 3. The host decides.
    let consent = ConsentRequest {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        client_org_id: client.org_id.clone(),
        scopes: scopes.clone(),
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        headers: parts.headers.clone(),
        query: query.clone(),
    };
    let now = inner.now();
    let (user_id, org_id, granted) = match handler.decide(&consent).await {
        ConsentDecision::Redirect(login) => return Ok(found(&login)),
        ConsentDecision::Denied => {
            inner.audit.record(
                now,
                "consent.denied",
                Some(&client.client_id),
                None,
                serde_json::json!({}),
            );
            return Err(fail("access_denied", "the user did not consent"));
        }
        ConsentDecision::Granted {
            user_id,
            org_id,
            scopes: granted,
        } => (user_id, org_id, granted),
    };
    if granted.is_empty()
        || !granted.is_subset(&scopes)
        || client.org_id.as_ref().is_some_and(|o| o != &org_id)
        || m2m_core::validate_id(user_id.as_str()).is_err()
        || m2m_core::validate_id(org_id.as_str()).is_err()
    {
        tracing::error!(
            client_id = %client.client_id,
            "the consent handler granted scopes outside the request, an empty set, \
             another organization than the client's, or an invalid id"
        );
        return Err(fail("server_error", "consent could not be recorded"));
    }

    // 4. A single-use code, stored as its hash.
    let (code, grant_id) = match (m2m_core::random_bytes::<32>(), m2m_core::random_id("m2mg_")) {
        (Ok(bytes), Ok(grant_id)) => {
            use base64::Engine;
            let code = format!(
                "m2mc_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
            );
            (code, grant_id)
        }
        _ => return Err(fail("server_error", "the server could not make a code")),
    };
    let record = AuthCodeRecord {
        code_hash: sha256(code.as_bytes()),
        client_id: client.client_id.clone(),
        grant_id,
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge.to_owned(),
        user_id,
        org_id,
        scopes: granted,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    };
    if let Err(error) = inner.store.create_auth_code(&record).await {
        tracing::error!(%error, "could not store an authorization code");
        return Err(fail("server_error", "the server could not store the code"));
    }
    inner.audit.record(
        now,
        "consent.granted",
        Some(&client.client_id),
        None,
        serde_json::json!({
            "grant_id": record.grant_id,
            "user_id": record.user_id.as_str(),
            "org_id": record.org_id.as_str(),
            "scope": record.scopes.to_string(),
        }),
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &state {
        params.push(("state", state));
    }
    params.push(("iss", &issuer_url));
    Ok(redirect_to(&redirect_uri, &params))
}

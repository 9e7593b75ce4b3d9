//! `POST /oauth/token` (contract section 6; RFC 6749 §4.1.3, §4.4, §5, §6;
//! RFC 9449 §5 for DPoP). The rules live in `domain::token` and
//! `domain::dpop`; this reads the form and the `DPoP` headers and writes the
//! RFC 6749 §5.1 response (with `DPoP-Nonce` when nonces are on).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use m2m_core::ScopeSet;
use serde::Serialize;

use crate::Issuer;
use crate::domain::dpop::DpopRequest;
use crate::domain::error::GrantError;
use crate::domain::quota::QuotaStatus;
use crate::domain::token::TokenRequest;
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::ClientRequest;

/// The `DPoP` request header (RFC 9449 §4.1).
const DPOP: &str = "dpop";
/// The `DPoP-Nonce` response header (RFC 9449 §8).
const DPOP_NONCE: &str = "dpop-nonce";
/// The quota policies a token request counts against.
const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// What is left of each of those quotas.
const RATELIMIT: &str = "ratelimit";

/// The RFC 6749 §5.1 body. [`TokenResponse::to_json`] writes it; the
/// `Serialize` derive is the reference it is tested against.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a ScopeSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

pub(crate) async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    request: Result<ClientRequest, OAuthError>,
) -> Response {
    let now = issuer.now();
    // A request refused before the handler (form, credentials) gets the
    // nonce too: every token endpoint response carries one.
    let mut response = match request {
        Ok(request) => match answer(&issuer, &headers, &request, now).await {
            Ok(response) => response,
            Err(error) => error,
        },
        Err(error) => error.into_response(),
    };
    if let Some(nonce) = issuer.token_endpoint().dpop().nonce(now)
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
    response
}

async fn answer(
    issuer: &Issuer,
    headers: &HeaderMap,
    request: &ClientRequest,
    now: u64,
) -> Result<Response, Response> {
    let form = &request.form;
    let mut audiences: Vec<&str> = form.all("resource").collect();
    audiences.extend(form.get("audience"));
    let token_request = TokenRequest {
        grant_type: form
            .required("grant_type")
            .map_err(IntoResponse::into_response)?,
        scope: form.get("scope"),
        audiences,
        code: form.get("code"),
        redirect_uri: form.get("redirect_uri"),
        code_verifier: form.get("code_verifier"),
        refresh_token: form.get("refresh_token"),
        assertion: form.get("assertion"),
        subject_token: form.get("subject_token"),
        subject_token_type: form.get("subject_token_type"),
        actor_token: form.get("actor_token"),
        actor_token_type: form.get("actor_token_type"),
        requested_token_type: form.get("requested_token_type"),
    };
    let proofs: Vec<&[u8]> = headers.get_all(DPOP).iter().map(|v| v.as_bytes()).collect();
    let url = format!("{}/oauth/token", issuer.issuer_url());
    let dpop = DpopRequest {
        headers: &proofs,
        method: "POST",
        url: &url,
    };
    let issued = issuer
        .token_endpoint()
        .issue(
            &request.credentials,
            request.source,
            &token_request,
            &dpop,
            now,
        )
        .await
        .map_err(|e| {
            let quota = match &e {
                GrantError::QuotaExceeded(status) => Some(status.clone()),
                _ => None,
            };
            let mut response = oauth_error(e, request.basic).into_response();
            if let Some(status) = quota {
                rate_limit_headers(&mut response, &status);
            }
            response
        })?;
    let mut response = TokenResponse {
        access_token: &issued.access_token,
        token_type: if issued.dpop_bound { "DPoP" } else { "Bearer" },
        expires_in: issued.expires_in,
        scope: &issued.scope,
        refresh_token: issued.refresh_token.as_deref(),
        issued_token_type: issued.issued_token_type,
    }
    .into_response();
    no_store(&mut response);
    if let Some(status) = &issued.quota {
        rate_limit_headers(&mut response, status);
    }
    Ok(response)
}

impl TokenResponse<'_> {
    /// The body as JSON, the same bytes `serde_json` writes from the derive,
    /// written into one buffer of the right size: the access token (a JWS,
    /// base64url and dots) is checked for bytes to escape in one vectorized
    /// pass and copied, instead of going through the string escaper byte by
    /// byte, which was the larger part of this response's cost.
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.access_token.len() + self.refresh_token.map_or(0, str::len) + 192,
        );
        out.extend_from_slice(b"{\"access_token\":");
        json_string(&mut out, self.access_token);
        out.extend_from_slice(b",\"token_type\":");
        json_string(&mut out, self.token_type);
        out.extend_from_slice(b",\"expires_in\":");
        out.extend_from_slice(self.expires_in.to_string().as_bytes());
        out.extend_from_slice(b",\"scope\":");
        // A scope is a short string: serde_json escapes it as it always has.
        let _ = serde_json::to_writer(&mut out, self.scope);
        if let Some(refresh_token) = self.refresh_token {
            out.extend_from_slice(b",\"refresh_token\":");
            json_string(&mut out, refresh_token);
        }
        if let Some(issued_token_type) = self.issued_token_type {
            out.extend_from_slice(b",\"issued_token_type\":");
            json_string(&mut out, issued_token_type);
        }
        out.push(b'}');
        out
    }

    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(),
        )
            .into_response()
    }
}

/// `text` as a JSON string, the bytes `serde_json` writes: copied between
/// quotes when nothing in it needs escaping (no `"`, `\\` or control
/// character, which is all `serde_json` escapes), else through its escaper.
/// The check is one fold over the whole text with no early exit, which the
/// compiler turns into vector compares (a fifth of the escaper's
/// instructions on a token); the escaper looks each byte up in a table.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let escape = text.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escape {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers,
/// structured-field lists): each quota the request counted against as
/// `"client-hour";q=1000;w=3600` and `"client-hour";r=998;t=1834`, where `r`
/// is what this replica knows is left and `t` the seconds until the window
/// ends. Policy names are fixed strings, so no request text reaches them.
fn rate_limit_headers(response: &mut Response, status: &QuotaStatus) {
    if status.policies.is_empty() {
        return;
    }
    let policy = status
        .policies
        .iter()
        .map(|p| format!("\"{}\";q={};w={}", p.name, p.quota, p.window))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = status
        .policies
        .iter()
        .map(|p| format!("\"{}\";r={};t={}", p.name, p.remaining, p.reset))
        .collect::<Vec<_>>()
        .join(", ");
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, limit)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_serde(response: &TokenResponse<'_>) {
        let expected = serde_json::to_vec(response).expect("json");
        assert_eq!(
            String::from_utf8(response.to_json()).expect("utf-8"),
            String::from_utf8(expected).expect("utf-8")
        );
    }

    #[test]
    fn the_written_body_is_what_serde_json_writes() {
        let scope: ScopeSet = "invoices:read m2m:admin".parse().expect("scope");
        let empty = ScopeSet::default();
        same_as_serde(&TokenResponse {
            access_token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_",
            token_type: "Bearer",
            expires_in: 3600,
            scope: &scope,
            refresh_token: None,
            issued_token_type: None,
        });
        same_as_serde(&TokenResponse {
            access_token: "a.b.c",
            token_type: "DPoP",
            expires_in: 0,
            scope: &empty,
            refresh_token: Some("m2mr_abc-def"),
            issued_token_type: Some("urn:ietf:params:oauth:token-type:access_token"),
        });
        // Text that needs escaping goes through the escaper, at any place.
        let long = "x".repeat(100);
        for bad in ["\"", "\\", "\n", "\u{1}", "\u{1f}"] {
            for at in [0, 31, 32, 33, 99] {
                let token = format!("{}{bad}{}", &long[..at], &long[at..]);
                same_as_serde(&TokenResponse {
                    access_token: &token,
                    token_type: "Bearer",
                    expires_in: 1,
                    scope: &scope,
                    refresh_token: Some(&token),
                    issued_token_type: None,
                });
            }
        }
        same_as_serde(&TokenResponse {
            access_token: "not\"a\\jws\n\u{7f}é /",
            token_type: "Bearer",
            expires_in: u64::MAX,
            scope: &scope,
            refresh_token: Some("</script>\"\u{1}"),
            issued_token_type: None,
        });
    }
}

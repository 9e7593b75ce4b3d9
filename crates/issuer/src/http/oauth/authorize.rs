//! `GET /oauth/authorize` (RFC 6749 §4.1, RFC 7636): the authorization
//! endpoint for user-level clients. The rules live in `domain::grants`;
//! this reads the query and turns the outcome into a page or a redirect.
//!
//! Until the client and its redirect URI are known good, every error is a
//! JSON error page (400), never a redirect: an unregistered URI must not
//! receive anything. After that, errors go back to the client as RFC 6749
//! §4.1.2.1 redirects (`error`, `error_description`, `state`, and RFC 9207
//! `iss`), `access_denied` among them when the issuer has no consent
//! handler.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::Issuer;
use crate::domain::grants::{AuthorizeError, AuthorizeRequest, Authorized};
use crate::http::error::{OAuthError, no_store, oauth_error};
use crate::http::extract::truncate;

/// Longest query string read.
const MAX_QUERY_LEN: usize = 8 * 1024;

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            no_store(&mut response);
            response
        }
        Err(_) => OAuthError::server_error().into_response(),
    }
}

/// `redirect_uri` with `params` added to its query.
fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    found(&format!("{redirect_uri}{separator}{query}"))
}

/// The query's parameters: bounded, URL-decoded, empty values dropped, and
/// none given twice but `resource` (RFC 8707).
fn read_query(raw: Option<&str>) -> Result<Vec<(String, String)>, OAuthError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_LEN {
        return Err(OAuthError::invalid_request("the query is too long"));
    }
    let query: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| OAuthError::invalid_request("the query is not valid URL encoding"))?;
    let query: Vec<(String, String)> = query.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    for (i, (name, _)) in query.iter().enumerate() {
        if name != "resource" && query[..i].iter().any(|(n, _)| n == name) {
            return Err(OAuthError::invalid_request(format!(
                "parameter {} given more than once",
                truncate(name)
            )));
        }
    }
    Ok(query)
}

pub(crate) async fn authorize(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let grants = issuer.grants();
    let query = match read_query(raw.as_deref()) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    let request = AuthorizeRequest { query, headers };
    let issuer_url = issuer.issuer_url();
    match grants.authorize(&request, issuer.now()).await {
        Ok(Authorized::Login(url)) => found(&url),
        Ok(Authorized::Code {
            redirect_uri,
            code,
            state,
        }) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            params.push(("iss", issuer_url));
            redirect_to(&redirect_uri, &params)
        }
        Err(AuthorizeError::Page(error)) => oauth_error(error, false).into_response(),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            params.push(("iss", issuer_url));
            redirect_to(&redirect_uri, &params)
        }
    }
}

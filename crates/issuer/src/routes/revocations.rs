//! `GET /oauth/revocations[?since=CURSOR]`: the revocation feed guards poll
//! (contract section 6), as [`m2m_core::RevocationFeed`] JSON.
//!
//! No authentication: it lists ids, never tokens. The cursor is opaque
//! (base64url of the store's sequence number); a cursor that does not decode
//! is 400 `invalid_request`. A page holds at most 1,000 entries; poll again
//! with the returned cursor until a page comes back empty.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::RevocationFeed;

use crate::Issuer;
use crate::error::{OAuthError, no_store};

const PAGE: usize = 1000;

pub(crate) fn encode_seq(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_be_bytes())
}

pub(crate) fn decode_seq(cursor: &str) -> Option<u64> {
    if cursor.len() > 16 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub(super) async fn feed(State(issuer): State<Issuer>, request: Request) -> Response {
    match run(&issuer, request).await {
        Ok(feed) => {
            let mut response = Json(feed).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn run(issuer: &Issuer, request: Request) -> Result<RevocationFeed, OAuthError> {
    let query = request.uri().query().unwrap_or_default();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| OAuthError::invalid_request("the query string is not valid form encoding"))?;
    let mut since = None;
    for (name, value) in params {
        if name == "since" {
            if since.is_some() {
                return Err(OAuthError::invalid_request("since given more than once"));
            }
            since = Some(
                decode_seq(&value)
                    .ok_or_else(|| OAuthError::invalid_request("since is not a valid cursor"))?,
            );
        }
    }
    let after = since.unwrap_or(0);
    let page = issuer.inner.store.revocations_since(after, PAGE).await?;
    let last = page.entries.last().map_or(after, |e| e.seq);
    let mut feed = RevocationFeed {
        cursor: encode_seq(last),
        ..RevocationFeed::default()
    };
    for entry in page.entries {
        feed.push(entry.revocation);
    }
    Ok(feed)
}

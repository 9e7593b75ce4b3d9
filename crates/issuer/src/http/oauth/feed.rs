//! `GET /oauth/revocations[?since=CURSOR]`: the revocation feed guards poll
//! (contract section 6), as [`m2m_core::RevocationFeed`] JSON. No
//! authentication: it lists ids, never tokens. Cursors and paging are
//! `domain::feed`'s; a cursor the feed never issued is 400
//! `invalid_request`, and a guard then reads from the start.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use crate::Issuer;
use crate::http::error::{OAuthError, feed_error, no_store};

pub(crate) async fn feed(
    State(issuer): State<Issuer>,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthError> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).map_err(|_| {
            OAuthError::invalid_request("the query string is not valid form encoding")
        })?;
    let mut since = None;
    for (name, value) in &params {
        if name == "since" {
            if since.is_some() {
                return Err(OAuthError::invalid_request("since given more than once"));
            }
            since = Some(value.as_str());
        }
    }
    let page = issuer.feed().page(since).await.map_err(feed_error)?;
    let mut response = Json(page).into_response();
    no_store(&mut response);
    Ok(response)
}

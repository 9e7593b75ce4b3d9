//! `GET /admin/audit?client_id=&kind=&since=&until=&limit=&cursor=`:
//! events and token aggregates, newest first.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use m2m_core::ClientId;
use serde_json::json;

use super::extract::{AdminQuery, DEFAULT_LIMIT, parse_limit};
use super::views::{event_view, parse_rfc3339};
use crate::Issuer;
use crate::http::error::AdminError;
use crate::store::AuditFilter;

fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_be_bytes())
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    if cursor.len() > 16 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) async fn list(
    State(issuer): State<Issuer>,
    AdminQuery(query): AdminQuery,
) -> Result<Response, AdminError> {
    let mut filter = AuditFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut before = None;
    for (name, value) in query {
        match name.as_str() {
            "client_id" => {
                m2m_core::validate_id(&value)
                    .map_err(|e| AdminError::bad_request(format!("client_id: {e}")))?;
                filter.client_id = Some(ClientId::new(value));
            }
            "kind" => {
                if value.is_empty()
                    || value.len() > 64
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
                {
                    return Err(AdminError::bad_request(
                        "kind must be an event kind such as auth.failed or tokens.issued",
                    ));
                }
                filter.kind = Some(value);
            }
            "since" | "until" => {
                let at = parse_rfc3339(&value).ok_or_else(|| {
                    AdminError::bad_request(format!("{name} must be an RFC 3339 date-time"))
                })?;
                if name == "since" {
                    filter.since = Some(at);
                } else {
                    filter.until = Some(at);
                }
            }
            "limit" => limit = parse_limit(&value)?,
            "cursor" => {
                before = Some(
                    decode_cursor(&value)
                        .ok_or_else(|| AdminError::bad_request("cursor is not valid"))?,
                );
            }
            _ => {}
        }
    }
    let page = issuer
        .registry()
        .audit_events(&filter, before, limit)
        .await?;
    let items: Vec<serde_json::Value> = page.items.iter().map(event_view).collect();
    Ok(Json(json!({"items": items, "next_cursor": page.next.map(encode_cursor)})).into_response())
}

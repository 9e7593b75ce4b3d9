//! `GET /admin/keys`: the signing keys' rotation timeline (which key waits
//! to sign, which signs, which are retired but still published), with the
//! dates of each. Public data only: no private key, not even sealed.

use axum::Json;
use axum::extract::State;
use m2m_core::KeyState;
use serde::Serialize;

use super::views::rfc3339;
use crate::Issuer;
use crate::domain::keys::KeyStatus;
use crate::http::error::AdminError;

/// The response of `GET /admin/keys`.
#[derive(Debug, Serialize)]
pub(crate) struct KeyList {
    /// The keys of the ring, in the order they sign.
    items: Vec<KeyView>,
}

/// One signing key as the admin API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct KeyView {
    kid: String,
    alg: &'static str,
    /// `next` (published, not yet signing), `current` (signing) or
    /// `retired` (published so its tokens verify, no longer signing).
    state: &'static str,
    created_at: String,
    signs_from: String,
    /// Set once a successor is scheduled.
    signs_until: Option<String>,
    /// Set once a successor is scheduled.
    published_until: Option<String>,
}

fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Next => "next",
        KeyState::Current => "current",
        KeyState::Retired => "retired",
        KeyState::Dropped => "dropped",
    }
}

impl KeyView {
    fn new(key: KeyStatus) -> Self {
        KeyView {
            alg: key.alg.as_str(),
            state: state_name(key.state),
            created_at: rfc3339(key.schedule.created_at),
            signs_from: rfc3339(key.schedule.signs_from),
            signs_until: key.schedule.signs_until.map(rfc3339),
            published_until: key.schedule.published_until.map(rfc3339),
            kid: key.kid,
        }
    }
}

/// `GET /admin/keys`.
pub(crate) async fn list(State(issuer): State<Issuer>) -> Result<Json<KeyList>, AdminError> {
    let keys = issuer
        .keys()
        .timeline(issuer.now())
        .await
        .map_err(|e| AdminError::from(crate::domain::error::Internal(e)))?;
    Ok(Json(KeyList {
        items: keys.into_iter().map(KeyView::new).collect(),
    }))
}

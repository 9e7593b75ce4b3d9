//! DPoP (RFC 9449): a client's `dpop_bound_access_tokens` and the key a
//! refresh token is bound to are kept exactly.

use std::sync::Arc;

use m2m_core::ClientKind;
use m2m_issuer::store::{RefreshTokenRecord, RotateRefresh, Store};

use crate::check::ok;
use crate::fixtures::{T0, client, grant, refresh};

/// `dpop_bound_access_tokens` survives create, update and list; a refresh
/// token's `dpop_jkt` survives `create_grant` and `rotate_refresh_token`.
pub async fn dpop_fields_round_trip<S: Store>(store: Arc<S>) {
    let mut bound = client("m2m_dpop", ClientKind::Org, Some("org_1"));
    bound.dpop_bound_access_tokens = true;
    ok(store.create_client(&bound, None).await, "create_client");
    assert_eq!(
        ok(store.get_client(&bound.client_id).await, "get_client"),
        Some(bound.clone()),
        "get_client must return dpop_bound_access_tokens as created"
    );
    let mut unbound = bound.clone();
    unbound.dpop_bound_access_tokens = false;
    assert!(
        ok(store.update_client(&unbound, None).await, "update_client"),
        "update_client of an existing client"
    );
    assert_eq!(
        ok(store.get_client(&bound.client_id).await, "get_client"),
        Some(unbound),
        "update_client must clear dpop_bound_access_tokens"
    );

    let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".to_owned();
    let first = RefreshTokenRecord {
        dpop_jkt: Some(jkt.clone()),
        ..refresh(1, "grant_d", "jti-d1", T0)
    };
    ok(
        store
            .create_grant(&grant("grant_d", "user_1", T0), &first)
            .await,
        "create_grant",
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&first.token_hash).await,
            "get_refresh_token"
        ),
        Some(first.clone()),
        "get_refresh_token must return dpop_jkt as created"
    );
    let second = RefreshTokenRecord {
        dpop_jkt: Some(jkt),
        ..refresh(2, "grant_d", "jti-d2", T0 + 10)
    };
    assert_eq!(
        ok(
            store
                .rotate_refresh_token(&first.token_hash, &second, T0 + 10)
                .await,
            "rotate_refresh_token"
        ),
        RotateRefresh::Rotated(first),
        "rotating returns the old token with its dpop_jkt"
    );
    assert_eq!(
        ok(
            store.get_refresh_token(&second.token_hash).await,
            "get_refresh_token"
        ),
        Some(second),
        "the rotated-in token keeps its dpop_jkt"
    );
}

//! The admin API (contract section 7), behind [`auth`].
//!
//! Bodies are JSON of at most 64 KiB. Unparsable JSON, bad query
//! parameters (limit, cursor, kind) and a path id that cannot be an id
//! (checked as body ids are, before any store call: NUL or other control
//! bytes, spaces, non-ASCII, over 256 bytes) are 400; a wrong content type 415; JSON
//! that breaks a rule (unknown field, TTL out of range, bad scope, kind
//! rules, a token that would be too large) 422; an unknown client, secret,
//! grant, key, federated credential or organization quota override 404; a sixth live secret or a 21st
//! federated credential 409. Listings page with opaque
//! cursors (`next_cursor`, `null` on the last page); `limit` defaults to 50
//! and may be 1 to 200.

use axum::Router;
use axum::routing::{delete, get, post};

use crate::Issuer;

mod audit;
mod auth;
mod client_keys;
mod clients;
mod extract;
mod federated;
mod grants;
mod key_list;
mod keys;
mod org_quotas;
mod secrets;
mod views;

pub(crate) fn router(issuer: &Issuer) -> Router<Issuer> {
    let routes = Router::new()
        .route("/admin/clients", post(clients::create).get(clients::list))
        .route(
            "/admin/clients/{client_id}",
            get(clients::show)
                .patch(clients::update)
                .delete(clients::delete),
        )
        .route("/admin/clients/{client_id}/secrets", post(secrets::add))
        .route(
            "/admin/clients/{client_id}/secrets/{secret_id}",
            delete(secrets::remove),
        )
        .route("/admin/clients/{client_id}/jwks", post(client_keys::add))
        .route(
            "/admin/clients/{client_id}/jwks/{kid}",
            delete(client_keys::remove),
        )
        .route(
            "/admin/clients/{client_id}/federated-credentials",
            post(federated::add).get(federated::list),
        )
        .route(
            "/admin/clients/{client_id}/federated-credentials/{id}",
            delete(federated::remove),
        )
        .route("/admin/clients/{client_id}/grants", get(grants::list))
        .route(
            "/admin/clients/{client_id}/grants/{grant_id}",
            delete(grants::revoke),
        )
        .route("/admin/keys", get(key_list::list))
        .route("/admin/keys/rotate", post(keys::rotate))
        .route("/admin/keys/{kid}/revoke", post(keys::revoke))
        .route("/admin/audit", get(audit::list))
        .route(
            "/admin/orgs/{org_id}/quota",
            get(org_quotas::show)
                .put(org_quotas::put)
                .delete(org_quotas::clear),
        );
    auth::protect(routes, issuer)
}

//! `GET /.well-known/jwks.json`: the keys published now (next, current and
//! retired), with `Cache-Control: public, max-age=N`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::Issuer;

pub(crate) async fn jwks(State(issuer): State<Issuer>) -> Response {
    let mut response = Json(issuer.jwks()).into_response();
    let cache = format!("public, max-age={}", issuer.jwks_max_age());
    if let Ok(value) = HeaderValue::from_str(&cache) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

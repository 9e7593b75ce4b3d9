//! Policies of the host's own (`Guard::authorize`), on the fast path and
//! after a key re-fetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use m2m_core::ScopeRequirement;
use m2m_guard::{Auth, Guard, Policy, Rejection};

use crate::common::*;

/// Per-tool scopes, as an MCP server would have them: the tool is named in a
/// header, and needs the scope `tools:<name>`.
fn per_tool(
    asked: Arc<AtomicUsize>,
) -> impl Fn(Option<&Auth>, &Request<Body>) -> Result<(), Rejection> + Clone {
    move |auth: Option<&Auth>, request: &Request<Body>| {
        asked.fetch_add(1, Ordering::SeqCst);
        let auth = auth.ok_or(Rejection::MissingToken)?;
        let tool = request
            .headers()
            .get("mcp-tool")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        let needed = ScopeRequirement::all_of([format!("tools:{tool}")])
            .map_err(|_| Rejection::MalformedHeader)?;
        if needed.is_met_by(auth.scopes()) {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope(needed))
        }
    }
}

async fn call_tool(app: &Router, tool: &str, authorization: Option<&str>) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = Request::get("/mcp").header("mcp-tool", tool);
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn mcp_app(guard: &Guard, asked: &Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/mcp",
            get(|auth: Auth| async move { auth.client_id().to_string() }),
        )
        .route_layer(guard.authorize(per_tool(Arc::clone(asked))))
}

#[tokio::test]
async fn a_closure_decides_per_tool_after_the_token_is_verified() {
    let key = key();
    let guard = Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[&key]))
        .build()
        .await
        .unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let app = mcp_app(&guard, &asked);
    let bearer = format!("Bearer {}", token(&key, "tools:search"));

    let answer = call_tool(&app, "search", Some(&bearer)).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "m2m_client1"),
        "{answer:?}"
    );

    let answer = call_tool(&app, "delete", Some(&bearer)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.challenge().ends_with(r#"scope="tools:delete""#),
        "{}",
        answer.challenge()
    );
    assert_eq!(answer.json()["error"], "insufficient_scope");

    // No token: the policy is asked with None and refuses.
    let answer = call_tool(&app, "search", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge(), r#"Bearer realm="api""#);
    assert_eq!(asked.load(Ordering::SeqCst), 3);

    // A malformed header or a bad token is refused before the policy is asked.
    for value in ["Bearer a b", "Bearer x.y.z"] {
        let answer = call_tool(&app, "search", Some(value)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(answer.json()["error"], "invalid_token", "{value}");
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        3,
        "not asked about bad tokens"
    );
}

/// A policy as a type: only callers of one organization.
struct Org(&'static str);

impl<B> Policy<B> for Org {
    fn authorize(&self, auth: Option<&Auth>, _request: &Request<B>) -> Result<(), Rejection> {
        match auth {
            None => Err(Rejection::MissingToken),
            Some(auth) if auth.org_id().is_some_and(|o| o.as_str() == self.0) => Ok(()),
            Some(_) => Err(Rejection::InsufficientScope(
                ScopeRequirement::all_of(["org:member"]).unwrap(),
            )),
        }
    }
}

#[tokio::test]
async fn a_policy_type_is_applied_after_a_key_refetch_too() {
    let a = key();
    let b = key();
    let issuer = Issuer::start(&[&a]).await;
    let guard = builder(&issuer).build().await.unwrap();
    let app = Router::new()
        .route("/org", get(|auth: Auth| async move { auth.sub.clone() }))
        .route_layer(guard.authorize(Org("org_1")));
    assert_eq!(
        call(&app, "/org", &token(&a, "")).await.status,
        StatusCode::OK
    );
    let other_org = token_with(&a, |c| c.oid = Some("org_2".into()));
    assert_eq!(
        call(&app, "/org", &other_org).await.status,
        StatusCode::FORBIDDEN
    );

    // Under a key the guard learns only by re-fetching: the slow path ends
    // in the same policy.
    issuer.set_keys(&[&a, &b]);
    let other_org_new_key = token_with(&b, |c| c.oid = Some("org_2".into()));
    let answer = call(&app, "/org", &other_org_new_key).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    assert_eq!(issuer.fetches(), 2, "the unknown kid was re-fetched");
    assert_eq!(
        call(&app, "/org", &token(&b, "")).await.status,
        StatusCode::OK
    );
}

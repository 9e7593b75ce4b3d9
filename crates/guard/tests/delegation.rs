//! Delegated tokens (RFC 8693 §4.1 `act` chains): what the `Auth` extractor
//! says of the chain, routes that refuse delegation or cap its depth (on
//! the fast path, from the cache and after a key re-fetch), and hostile
//! `act` values, which are a clean 401 `invalid_token`.

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use m2m_core::{AccessTokenClaims, Actor, MAX_DELEGATION_DEPTH, SigningKey};
use m2m_guard::{Auth, Guard};
use proptest::prelude::*;

use crate::common::*;

/// A token for the user-level subject `m2m_user`, held by `chain[0]`
/// acting after `chain[1]`, ...; a direct token of `m2m_user` when empty.
fn delegated(key: &SigningKey, chain: &[&str]) -> String {
    token_with(key, |c| {
        c.sub = "m2m_user".into();
        c.uid = Some("usr_1".into());
        c.act = chain_of(chain);
        if let Some(actor) = chain.first() {
            c.client_id = (*actor).into();
        }
    })
}

fn chain_of(chain: &[&str]) -> Option<Actor> {
    chain.iter().rev().fold(None, |inner: Option<Actor>, sub| {
        let actor = Actor::client(*sub);
        Some(match inner {
            Some(inner) => actor.acting_after(inner),
            None => actor,
        })
    })
}

/// What a handler reads from the extractor, as JSON.
async fn chain(auth: Auth) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "sub": auth.sub,
        "client_id": auth.client_id().as_str(),
        "actor": auth.actor().map(|a| a.sub.clone()),
        "chain": auth.delegation_chain().map(|a| a.sub.clone()).collect::<Vec<_>>(),
        "depth": auth.delegation_depth(),
    }))
}

/// One route per limit: none, direct only, at most one actor.
fn delegation_app(guard: &Guard) -> Router {
    Router::new()
        .route("/any", get(chain))
        .route_layer(guard.require(["invoices:read"]))
        .merge(
            Router::new()
                .route("/direct", get(chain))
                .route_layer(guard.require(["invoices:read"]).direct_only()),
        )
        .merge(
            Router::new()
                .route("/one", get(chain))
                .route_layer(guard.require(["invoices:read"]).max_delegation_depth(1)),
        )
        .merge(
            Router::new()
                .route("/me", get(chain))
                .route_layer(guard.authenticate().max_delegation_depth(3).direct_only()),
        )
}

async fn static_guard(key: &SigningKey) -> Guard {
    Guard::builder(ISS, AUD)
        .jwk_set(jwk_set(&[key]))
        .build()
        .await
        .unwrap()
}

fn assert_refused(answer: &Answer, description: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="{description}""#
        ),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["error"], "insufficient_scope", "{answer:?}");
    assert_eq!(body["error_description"], description, "{answer:?}");
}

#[tokio::test]
async fn the_extractor_names_the_chain_outermost_first() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);

    let direct = call(&app, "/any", &delegated(&key, &[])).await;
    assert_eq!(direct.status, StatusCode::OK, "{direct:?}");
    assert_eq!(
        direct.json(),
        serde_json::json!({
            "sub": "m2m_user", "client_id": "m2m_client1",
            "actor": null, "chain": [], "depth": 0,
        })
    );

    let one = call(&app, "/any", &delegated(&key, &["m2m_agent"])).await;
    assert_eq!(
        one.json(),
        serde_json::json!({
            "sub": "m2m_user", "client_id": "m2m_agent",
            "actor": "m2m_agent", "chain": ["m2m_agent"], "depth": 1,
        })
    );

    let two = call(
        &app,
        "/any",
        &delegated(&key, &["m2m_worker", "m2m_planner"]),
    )
    .await;
    assert_eq!(
        two.json(),
        serde_json::json!({
            "sub": "m2m_user", "client_id": "m2m_worker",
            "actor": "m2m_worker", "chain": ["m2m_worker", "m2m_planner"], "depth": 2,
        })
    );
}

#[tokio::test]
async fn direct_only_refuses_every_delegated_token() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);

    assert_eq!(
        call(&app, "/direct", &delegated(&key, &[])).await.status,
        StatusCode::OK
    );
    for chain in [&["m2m_agent"][..], &["m2m_worker", "m2m_planner"]] {
        let answer = call(&app, "/direct", &delegated(&key, chain)).await;
        assert_refused(&answer, "delegated tokens are not accepted here");
    }
    // direct_only after a looser cap: the stricter holds.
    assert_eq!(
        call(&app, "/me", &delegated(&key, &[])).await.status,
        StatusCode::OK
    );
    let answer = call(&app, "/me", &delegated(&key, &["m2m_agent"])).await;
    assert_refused(&answer, "delegated tokens are not accepted here");
}

#[tokio::test]
async fn max_delegation_depth_one_accepts_one_actor_and_refuses_two() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);

    assert_eq!(
        call(&app, "/one", &delegated(&key, &[])).await.status,
        StatusCode::OK
    );
    let one = call(&app, "/one", &delegated(&key, &["m2m_agent"])).await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    assert_eq!(one.json()["depth"], 1);
    let two = call(
        &app,
        "/one",
        &delegated(&key, &["m2m_worker", "m2m_planner"]),
    )
    .await;
    assert_refused(&two, "delegation depth 2 exceeds 1");
}

#[tokio::test]
async fn scopes_are_still_required_of_a_delegated_token() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);
    let token = token_with(&key, |c| {
        c.scope = "reports:read".parse().unwrap();
        c.act = chain_of(&["m2m_agent"]);
    });
    let answer = call(&app, "/one", &token).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.challenge().contains(r#"scope="invoices:read""#),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_cached_token_meets_the_depth_check_on_every_request() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);
    let two = delegated(&key, &["m2m_worker", "m2m_planner"]);

    // Verified and cached by a route without a limit...
    assert_eq!(call(&app, "/any", &two).await.status, StatusCode::OK);
    assert_eq!(guard.cached_tokens(), 1);
    // ...it is refused by the limited routes all the same, every time.
    for _ in 0..3 {
        assert_refused(
            &call(&app, "/one", &two).await,
            "delegation depth 2 exceeds 1",
        );
        assert_refused(
            &call(&app, "/direct", &two).await,
            "delegated tokens are not accepted here",
        );
    }
    assert_eq!(guard.cached_tokens(), 1, "served from the cache");
    assert_eq!(call(&app, "/any", &two).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_depth_check_holds_after_a_key_refetch() {
    let old = key();
    let issuer = Issuer::start(&[&old]).await;
    let guard = builder(&issuer)
        .unknown_kid_cooldown(std::time::Duration::ZERO)
        .build()
        .await
        .unwrap();
    let app = delegation_app(&guard);

    // A key the guard has not seen yet: each request waits for a re-fetch,
    // then goes through the same checks.
    let new = key();
    issuer.set_keys(&[&old, &new]);
    let before = issuer.fetches();
    let answer = call(&app, "/direct", &delegated(&new, &["m2m_agent"])).await;
    assert!(issuer.fetches() > before, "the slow path ran");
    assert_refused(&answer, "delegated tokens are not accepted here");

    let newer = key();
    issuer.set_keys(&[&old, &new, &newer]);
    let answer = call(&app, "/one", &delegated(&newer, &["m2m_agent"])).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

#[tokio::test]
async fn a_policy_of_your_own_can_cap_the_depth_too() {
    let key = key();
    let guard = static_guard(&key).await;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    let policy = move |auth: Option<&Auth>, _: &http::Request<axum::body::Body>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        auth.map(|_| ()).ok_or(m2m_guard::Rejection::MissingToken)
    };
    let app: Router = Router::new()
        .route("/mcp", get(chain))
        .route_layer(guard.authorize(policy).direct_only());
    let answer = call(&app, "/mcp", &delegated(&key, &["m2m_agent"])).await;
    assert_refused(&answer, "delegated tokens are not accepted here");
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the policy is not asked about a token the route refuses for its chain"
    );
    assert_eq!(
        call(&app, "/mcp", &delegated(&key, &[])).await.status,
        StatusCode::OK
    );
}

/// Signs any JSON payload with `key` (its `kid` in the header), as an
/// attacker holding a signing key of a trusted issuer, or a confused
/// issuer, could: the claims never went through `AccessTokenClaims`.
fn sign_payload(key: &SigningKey, payload: &serde_json::Value) -> String {
    let mut header = serde_json::json!({"alg": key.algorithm().as_str(), "typ": "at+jwt"});
    header["kid"] = key.kid().into();
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
    let signature = key.sign(token.as_bytes()).unwrap();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// The claims of a valid token as JSON, with `act` replaced by `act`.
fn payload_with_act(act: serde_json::Value) -> serde_json::Value {
    let mut payload = serde_json::to_value(claims("invoices:read")).unwrap();
    payload["act"] = act;
    payload
}

/// `{"sub":"a","act":{"sub":"a","act":...}}`, `depth` levels deep.
fn nested_act(depth: usize) -> serde_json::Value {
    let mut value = serde_json::Value::Null;
    for _ in 0..depth {
        value = serde_json::json!({"sub": "m2m_a", "act": value});
    }
    value
}

async fn assert_invalid_token(app: &Router, token: &str) {
    for path in ["/any", "/direct", "/one"] {
        let answer = call(app, path, token).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {answer:?}"
        );
        assert_eq!(
            answer.json()["error"],
            "invalid_token",
            "{path}: {answer:?}"
        );
        assert!(
            answer.challenge().contains(r#"error="invalid_token""#),
            "{path}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_hostile_act_is_a_clean_invalid_token() {
    let key = key();
    let guard = static_guard(&key).await;
    let app = delegation_app(&guard);

    // The deepest chain the format allows is a token like any other...
    let deepest = sign_payload(&key, &payload_with_act(nested_act(MAX_DELEGATION_DEPTH)));
    let answer = call(&app, "/any", &deepest).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.json()["depth"], MAX_DELEGATION_DEPTH);
    assert_refused(
        &call(&app, "/one", &deepest).await,
        &format!("delegation depth {MAX_DELEGATION_DEPTH} exceeds 1"),
    );

    let hostile = [
        // One deeper than the format allows; far deeper (a stack-depth
        // attack on a recursive reader).
        payload_with_act(nested_act(MAX_DELEGATION_DEPTH + 1)),
        payload_with_act(nested_act(100)),
        payload_with_act(nested_act(1_000)),
        // Not an object.
        payload_with_act(serde_json::json!("m2m_agent")),
        payload_with_act(serde_json::json!(["m2m_agent"])),
        payload_with_act(serde_json::json!(42)),
        payload_with_act(serde_json::json!(true)),
        // An object without `sub`, with a `sub` of the wrong type, a nested
        // `act` that is not an object.
        payload_with_act(serde_json::json!({})),
        payload_with_act(serde_json::json!({"client_id": "m2m_agent"})),
        payload_with_act(serde_json::json!({"sub": 7})),
        payload_with_act(serde_json::json!({"sub": "m2m_a", "act": "m2m_b"})),
        payload_with_act(serde_json::json!({"sub": "m2m_a", "act": {"sub": null}})),
        // Huge: a 1 MiB `sub`, beyond the token size limit.
        payload_with_act(serde_json::json!({"sub": "a".repeat(1 << 20)})),
    ];
    for payload in &hostile {
        let token = sign_payload(&key, payload);
        assert_invalid_token(&app, &token).await;
    }
    assert_eq!(guard.cached_tokens(), 1, "only the valid token was cached");
}

#[test]
fn a_stack_deep_act_is_refused_by_the_claims_reader() {
    // Deep enough to overflow a naive recursive reader's stack: refused by
    // the parser's recursion limit, as an error.
    let mut text = String::new();
    text.push_str(r#"{"iss":"i","sub":"s","client_id":"m2m_x","aud":"a","exp":2,"iat":1,"jti":"j","scope":"x:y","act":"#);
    for _ in 0..100_000 {
        text.push_str(r#"{"sub":"a","act":"#);
    }
    text.push_str("null");
    text.push_str(&"}".repeat(100_001));
    assert!(serde_json::from_str::<AccessTokenClaims>(&text).is_err());
}

/// A structured `act` value, well-formed or not.
fn act_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_0-9]{0,12}".prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(16, 64, 4, |inner| {
        prop_oneof![
            // An actor-shaped object, with any of its fields any value.
            (
                prop_oneof![
                    "m2m_[a-z0-9]{1,8}".prop_map(serde_json::Value::from),
                    inner.clone()
                ],
                proptest::option::of(inner.clone()),
                proptest::option::of(inner.clone()),
            )
                .prop_map(|(sub, client_id, act)| {
                    let mut object = serde_json::json!({"sub": sub});
                    if let Some(client_id) = client_id {
                        object["client_id"] = client_id;
                    }
                    if let Some(act) = act {
                        object["act"] = act;
                    }
                    object
                }),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Depth of a well-formed chain, or `None` if `act` is not one m2m-core reads.
fn expected_depth(act: &serde_json::Value) -> Option<usize> {
    let parsed: AccessTokenClaims = serde_json::from_value(payload_with_act(act.clone())).ok()?;
    Some(parsed.delegation_depth())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the `act` value, the guard answers: 200 with the chain's
    /// depth when m2m-core reads it as a chain within the limit, 403 from a
    /// route that caps it lower, 401 `invalid_token` otherwise. Never a
    /// panic, never a 500.
    #[test]
    fn any_act_value_gets_a_clean_answer(act in act_value()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let key = key();
            let guard = static_guard(&key).await;
            let app = delegation_app(&guard);
            let token = sign_payload(&key, &payload_with_act(act.clone()));
            let any = call(&app, "/any", &token).await;
            let one = call(&app, "/one", &token).await;
            match expected_depth(&act) {
                Some(depth) => {
                    prop_assert_eq!(any.status, StatusCode::OK, "{:?}", any);
                    prop_assert_eq!(any.json()["depth"].as_u64(), Some(depth as u64));
                    let expected = if depth <= 1 { StatusCode::OK } else { StatusCode::FORBIDDEN };
                    prop_assert_eq!(one.status, expected, "{:?}", one);
                }
                None => {
                    for answer in [&any, &one] {
                        prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer);
                        prop_assert_eq!(&answer.json()["error"], "invalid_token");
                    }
                }
            }
            Ok(())
        })?;
    }
}

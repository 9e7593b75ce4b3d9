//! `GET /admin/keys`: the rotation timeline an operator reads before and
//! after a rotation or a revocation.

use m2m_core::RotationPolicy;
use serde_json::Value;

use crate::common::TestServer;

fn states(list: &Value) -> Vec<(String, String)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_timeline_follows_a_rotation_and_a_revocation() {
    let policy = RotationPolicy::default();
    let mut server = TestServer::start_with(|b| b.rotation_policy(policy)).await;

    let (status, list) = server
        .admin(reqwest::Method::GET, "/admin/keys", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let first = states(&list);
    assert_eq!(first.len(), 1, "{list}");
    assert_eq!(first[0].1, "current");
    let key = &list["items"][0];
    assert_eq!(key["alg"], "ES256");
    assert!(key["created_at"].as_str().unwrap().ends_with('Z'), "{key}");
    assert_eq!(key["signs_until"], Value::Null, "no successor yet: {key}");
    assert!(key.get("d").is_none() && key.get("encrypted_private_key").is_none());
    let old = first[0].0.clone();

    let (status, rotated) = server
        .admin(reqwest::Method::POST, "/admin/keys/rotate", None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["kid"].as_str().unwrap().to_owned();
    let (_, list) = server
        .admin(reqwest::Method::GET, "/admin/keys", None)
        .await;
    assert_eq!(
        states(&list),
        [
            (old.clone(), "current".into()),
            (new.clone(), "next".into())
        ],
        "in the order they sign: {list}"
    );
    assert_eq!(list["items"][0]["signs_until"], rotated["signs_from"]);
    assert_eq!(list["items"][1]["signs_from"], rotated["signs_from"]);

    server.advance(policy.prepublish_secs);
    let (_, list) = server
        .admin(reqwest::Method::GET, "/admin/keys", None)
        .await;
    assert_eq!(
        states(&list),
        [
            (old.clone(), "retired".into()),
            (new.clone(), "current".into())
        ],
        "{list}"
    );

    // A revoked key leaves the timeline at once.
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{old}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = server
        .admin(reqwest::Method::GET, "/admin/keys", None)
        .await;
    assert_eq!(states(&list), [(new, "current".into())], "{list}");
}

#[tokio::test]
async fn the_timeline_needs_an_admin_token() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/admin/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

//! Workload identity federation: the admin API of federated credentials
//! (contract section 12).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestServer;

const GH: &str = "https://token.actions.githubusercontent.com";

fn path(id: &str) -> String {
    format!("/admin/clients/{id}/federated-credentials")
}

#[tokio::test]
async fn federated_credentials_are_added_listed_removed_and_audited() {
    let mut server = TestServer::start().await;
    let (id, _) = server.org_client(&["a:b"]).await;
    let (status, created) = server
        .admin(
            Method::POST,
            &path(&id),
            Some(json!({
                "issuer": GH,
                "subject": "repo:acme/app:ref:refs/heads/*",
                "claims": {"repository": "acme/app", "/kubernetes.io/namespace": "ci"},
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let entry_id = created["id"].as_str().unwrap().to_owned();
    assert!(entry_id.starts_with("fc_"));
    assert_eq!(created["issuer"], GH);
    assert_eq!(created["client_id"], id.as_str());
    assert_eq!(
        created["audience"],
        server.issuer.issuer_url(),
        "the audience defaults to the issuer identifier"
    );
    assert_eq!(created["claims"]["repository"], "acme/app");
    assert!(created.get("jwks").is_none());

    let (status, listed) = server.admin(Method::GET, &path(&id), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"], json!([created]));

    let (status, _) = server
        .admin(Method::DELETE, &format!("{}/{entry_id}", path(&id)), None)
        .await;
    assert_eq!(status, 204);
    let (status, again) = server
        .admin(Method::DELETE, &format!("{}/{entry_id}", path(&id)), None)
        .await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(again["error"], "not_found");
    let (_, listed) = server.admin(Method::GET, &path(&id), None).await;
    assert_eq!(listed["items"], json!([]));

    let (_, audit) = server
        .admin(Method::GET, &format!("/admin/audit?client_id={id}"), None)
        .await;
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "federated_credential.deleted",
            "federated_credential.created",
            "client.created"
        ]
    );
}

#[tokio::test]
async fn federated_credential_errors_are_404_409_415_422_400() {
    let mut server = TestServer::start().await;
    let (id, _) = server.org_client(&["a:b"]).await;
    let good = json!({"issuer": GH, "subject": "repo:acme/app:*"});
    for (method, p) in [
        (Method::GET, path("m2m_nope")),
        (Method::POST, path("m2m_nope")),
        (Method::DELETE, format!("{}/fc_x", path("m2m_nope"))),
        (Method::DELETE, format!("{}/fc_x", path(&id))),
    ] {
        let body = (method == Method::POST).then(|| good.clone());
        let (status, error) = server.admin(method.clone(), &p, body).await;
        assert_eq!(status, 404, "{method} {p}: {error}");
    }
    for bad in [
        json!({"issuer": GH}),
        json!({"issuer": GH, "subject": "*"}),
        json!({"issuer": "not a url", "subject": "s"}),
        json!({"issuer": "https://x?q=1", "subject": "s"}),
        json!({"issuer": GH, "subject": "s", "claims": {"sub": "x"}}),
        json!({"issuer": GH, "subject": "s", "claims": {"repository": 5}}),
        json!({"issuer": GH, "subject": "s", "unknown": 1}),
        json!({"issuer": GH, "subject": "s", "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]}}),
        json!({"issuer": GH, "subject": "x".repeat(513)}),
    ] {
        let (status, error) = server
            .admin(Method::POST, &path(&id), Some(bad.clone()))
            .await;
        assert_eq!(status, 422, "{bad}: {error}");
    }
    let response = server
        .http
        .post(server.url(&path(&id)))
        .bearer_auth(server.admin_token().await)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = server
        .http
        .post(server.url(&path(&id)))
        .bearer_auth(server.admin_token().await)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    for i in 0..20 {
        let (status, body) = server
            .admin(
                Method::POST,
                &path(&id),
                Some(json!({"issuer": GH, "subject": format!("repo:acme/app{i}:*")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, error) = server.admin(Method::POST, &path(&id), Some(good)).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"], "federated_credential_limit_reached");

    // Deleting the client deletes its entries.
    let (status, _) = server
        .admin(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let left: Value = serde_json::to_value(
        server
            .issuer
            .store()
            .federated_credentials_of_issuer(GH, 100)
            .await
            .unwrap()
            .len(),
    )
    .unwrap();
    assert_eq!(left, 0);
}

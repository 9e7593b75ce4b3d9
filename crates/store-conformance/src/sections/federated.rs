//! Federated credentials (workload identity federation trust entries).

use std::collections::BTreeMap;
use std::sync::Arc;

use m2m_core::{ClientId, ClientKind, RevokedClient};
use m2m_issuer::store::{AddFederatedCredential, FederatedCredentialRecord, Store, StoreError};

use crate::check::{joined, ok};
use crate::fixtures::{T0, client};

fn entry(client_id: &str, id: &str, issuer: &str, at: u64) -> FederatedCredentialRecord {
    FederatedCredentialRecord {
        id: id.to_owned(),
        client_id: ClientId::new(client_id),
        issuer: issuer.to_owned(),
        subject: "repo:acme/app:ref:refs/heads/*".to_owned(),
        audience: "https://issuer.example.com".to_owned(),
        claims: BTreeMap::from([
            ("repository".to_owned(), "acme/app".to_owned()),
            ("ref".to_owned(), "refs/heads/main \"quoted\"".to_owned()),
        ]),
        jwks: None,
        created_at: at,
    }
}

fn ids(entries: &[FederatedCredentialRecord]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

/// `add_federated_credential` keeps every field (claims and an inline JWK
/// Set included), lists a client's entries oldest first, finds entries by
/// exact issuer across clients in client-id order, enforces `max`, refuses a
/// duplicate id of one client, refuses an unknown client; `delete_federated_credential`
/// removes one; `delete_client` removes all of a client's entries.
pub async fn federated_credentials<S: Store>(store: Arc<S>) {
    let gh = "https://token.actions.githubusercontent.com";
    let k8s = "https://kubernetes.default.svc.cluster.local";
    for id in ["m2m_fa", "m2m_fb"] {
        ok(
            store
                .create_client(&client(id, ClientKind::Service, None), None)
                .await,
            "create_client",
        );
    }
    let a1 = entry("m2m_fa", "fc_a1", gh, T0);
    let mut a2 = entry("m2m_fa", "fc_a2", k8s, T0);
    a2.subject = "system:serviceaccount:ns:sa".to_owned();
    a2.claims = BTreeMap::new();
    a2.jwks = Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1"}]}));
    let b1 = entry("m2m_fb", "fc_b1", gh, T0 - 5);
    for e in [&a1, &a2, &b1] {
        assert_eq!(
            ok(
                store.add_federated_credential(e, 3).await,
                "add_federated_credential"
            ),
            AddFederatedCredential::Added,
            "add_federated_credential under the limit must be Added"
        );
    }
    assert_eq!(
        ok(
            store
                .list_federated_credentials(&ClientId::new("m2m_fa"))
                .await,
            "list_federated_credentials"
        ),
        vec![a1.clone(), a2.clone()],
        "list_federated_credentials must return every field exactly, oldest first"
    );
    assert_eq!(
        ok(
            store.federated_credentials_of_issuer(gh, 10).await,
            "federated_credentials_of_issuer"
        ),
        vec![a1.clone(), b1.clone()],
        "federated_credentials_of_issuer must return the issuer's entries of every client, \
         by client id"
    );
    assert_eq!(
        ids(&ok(
            store.federated_credentials_of_issuer(gh, 1).await,
            "federated_credentials_of_issuer"
        )),
        vec!["fc_a1"],
        "federated_credentials_of_issuer must return at most `limit` entries"
    );
    assert!(
        ok(
            store
                .federated_credentials_of_issuer(&format!("{gh}/"), 10)
                .await,
            "federated_credentials_of_issuer"
        )
        .is_empty(),
        "the issuer must compare as an exact string (a trailing slash is another issuer)"
    );

    let dup = store
        .add_federated_credential(&entry("m2m_fb", "fc_b1", k8s, T0), 3)
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "add_federated_credential with an id the client has must be a Conflict, got {dup:?}"
    );
    ok(
        store
            .add_federated_credential(&entry("m2m_fa", "fc_a3", gh, T0 + 1), 3)
            .await,
        "add_federated_credential",
    );
    assert_eq!(
        ok(
            store
                .add_federated_credential(&entry("m2m_fa", "fc_a4", gh, T0 + 2), 3)
                .await,
            "add_federated_credential"
        ),
        AddFederatedCredential::LimitReached,
        "the entry beyond `max` must be LimitReached"
    );
    assert_eq!(
        ok(
            store
                .add_federated_credential(&entry("m2m_none", "fc_x", gh, T0), 3)
                .await,
            "add_federated_credential"
        ),
        AddFederatedCredential::NoSuchClient,
        "add_federated_credential to an unknown client must be NoSuchClient"
    );

    assert!(
        ok(
            store
                .delete_federated_credential(&ClientId::new("m2m_fa"), "fc_a3")
                .await,
            "delete_federated_credential"
        ),
        "deleting an existing entry must return true"
    );
    assert!(
        !ok(
            store
                .delete_federated_credential(&ClientId::new("m2m_fb"), "fc_a1")
                .await,
            "delete_federated_credential"
        ),
        "deleting another client's entry must return false and delete nothing"
    );
    assert_eq!(
        ids(&ok(
            store
                .list_federated_credentials(&ClientId::new("m2m_fa"))
                .await,
            "list_federated_credentials"
        )),
        vec!["fc_a1", "fc_a2"]
    );

    let revoked = RevokedClient {
        client_id: ClientId::new("m2m_fa"),
        revoked_at: T0 + 10,
        exp: T0 + 1000,
    };
    assert!(ok(
        store
            .delete_client(&ClientId::new("m2m_fa"), &revoked)
            .await,
        "delete_client"
    ));
    assert!(
        ok(
            store
                .list_federated_credentials(&ClientId::new("m2m_fa"))
                .await,
            "list_federated_credentials"
        )
        .is_empty(),
        "delete_client must delete the client's federated credentials"
    );
    assert_eq!(
        ids(&ok(
            store.federated_credentials_of_issuer(gh, 10).await,
            "federated_credentials_of_issuer"
        )),
        vec!["fc_b1"],
        "a deleted client's entries must not be found by issuer"
    );
    // A client created again with the same id starts with no entries.
    ok(
        store
            .create_client(&client("m2m_fa", ClientKind::Service, None), None)
            .await,
        "create_client",
    );
    assert!(
        ok(
            store
                .list_federated_credentials(&ClientId::new("m2m_fa"))
                .await,
            "list_federated_credentials"
        )
        .is_empty()
    );
}

/// Twenty concurrent adds with `max` 5 end with exactly 5 entries.
pub async fn federated_credentials_limit_under_concurrency<S: Store>(store: Arc<S>) {
    ok(
        store
            .create_client(&client("m2m_frace", ClientKind::Service, None), None)
            .await,
        "create_client",
    );
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .add_federated_credential(
                        &entry("m2m_frace", &format!("fc_{i}"), "https://i", T0 + i),
                        5,
                    )
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        match joined(task.await, "add_federated_credential") {
            Ok(AddFederatedCredential::Added) => added += 1,
            Ok(AddFederatedCredential::LimitReached) => {}
            other => panic!(
                "concurrent add_federated_credential must be Added or LimitReached, got {other:?}"
            ),
        }
    }
    let stored = ok(
        store
            .list_federated_credentials(&ClientId::new("m2m_frace"))
            .await,
        "list_federated_credentials",
    );
    assert_eq!(
        (added, stored.len()),
        (5, 5),
        "20 concurrent add_federated_credential with max 5 must add and keep exactly 5"
    );
}

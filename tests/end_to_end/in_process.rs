//! The happy path: issuer in process, guard over HTTP, machine client.

use crate::world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_client_calls_a_guarded_api() {
    let world = World::start(Settings::default()).await;
    let (id, secret) = world.create_client(&["reports:read"]).await;
    let tokens = world.token_source(&id, &secret);
    let token = tokens.token().await.expect("token");
    assert_eq!(token.scope(), Some("reports:read"));
    // The token source caches: the same token comes back.
    assert_eq!(
        tokens.token().await.expect("token").secret(),
        token.secret()
    );

    let response = world
        .http
        .get(format!("{}/reports", world.api_url))
        .header("authorization", token.authorization())
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("body"),
        id,
        "the handler sees the client's claims"
    );

    // A client without the scope gets 403 from the guard.
    let (other, other_secret) = world.create_client(&["billing:read"]).await;
    let denied = world
        .token_source(&other, &other_secret)
        .token()
        .await
        .expect("token");
    assert_eq!(world.call_api(denied.secret()).await, 403);
    // A wrong secret gets no token at all.
    let wrong = world.token_source(&id, &m2m_core::ClientSecret::from_received("m2ms_wrong"));
    match wrong.token().await {
        Err(m2m_client::Error::Refused {
            status: 401, error, ..
        }) => assert_eq!(error, "invalid_client"),
        other => panic!("expected invalid_client, got {other:?}"),
    }
    assert_eq!(world.served.load(std::sync::atomic::Ordering::Relaxed), 1);
}

//! The audit log's token issuance modes and retention, through the issuer.

use std::time::Duration;

use m2m_issuer::TokenAudit;
use m2m_issuer::store::{AuditFilter, TokenMinute};

use crate::common::TestServer;

async fn token_kinds(server: &TestServer, client: &str) -> Vec<(String, Option<TokenMinute>)> {
    server.issuer.flush_audit().await;
    let filter = AuditFilter {
        client_id: Some(m2m_core::ClientId::new(client)),
        ..AuditFilter::default()
    };
    let page = server.store.list_audit(&filter, None, 100).await.unwrap();
    page.items
        .iter()
        .filter(|e| e.kind.starts_with("token"))
        .map(|e| (e.kind.clone(), TokenMinute::from_record(e)))
        .collect()
}

#[tokio::test]
async fn per_token_mode_keeps_one_event_per_token_and_off_none() {
    let mut per = TestServer::start_with(|b| b.token_audit(TokenAudit::PerToken)).await;
    let (id, secret) = per.org_client(&["a:b"]).await;
    per.token(&id, &secret, &[]).await;
    per.token(&id, &secret, &[]).await;
    let kinds = token_kinds(&per, &id).await;
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.iter().all(|(k, _)| k == "token.issued"));

    let mut off = TestServer::start_with(|b| b.token_audit(TokenAudit::Off)).await;
    let (id, secret) = off.org_client(&["a:b"]).await;
    off.token(&id, &secret, &[]).await;
    assert!(token_kinds(&off, &id).await.is_empty());
}

#[tokio::test]
async fn two_replicas_merge_one_minute_and_a_new_minute_is_its_own() {
    let mut one = TestServer::start().await;
    let two = one.replica(|b| b).await;
    let (id, secret) = one.org_client(&["a:b"]).await;
    one.token(&id, &secret, &[]).await;
    two.token(&id, &secret, &[]).await;
    one.token(&id, &secret, &[]).await;
    two.issuer.flush_audit().await;
    let kinds = token_kinds(&one, &id).await;
    assert_eq!(kinds.len(), 1, "one aggregate for the minute: {kinds:?}");
    assert_eq!(
        kinds[0].1.as_ref().unwrap().count,
        3,
        "both replicas' tokens count"
    );

    one.advance(60);
    one.token(&id, &secret, &[]).await;
    let kinds = token_kinds(&one, &id).await;
    assert_eq!(
        kinds.len(),
        2,
        "the next minute is another aggregate: {kinds:?}"
    );
    assert_eq!(kinds[0].1.as_ref().unwrap().count, 1);
}

#[tokio::test]
async fn purge_deletes_what_is_older_than_the_retention_and_keeps_the_rest() {
    let mut server =
        TestServer::start_with(|b| b.audit_retention(Some(Duration::from_secs(3600)))).await;
    let (id, secret) = server.org_client(&["a:b"]).await;
    server.token(&id, &secret, &[]).await;
    server.issuer.flush_audit().await;
    assert_eq!(
        server.issuer.purge_audit().await.unwrap(),
        0,
        "nothing is old yet"
    );
    server.advance(3600 + 120);
    server.token(&id, &secret, &[]).await;
    server.issuer.flush_audit().await;
    let purged = server.issuer.purge_audit().await.unwrap();
    assert!(
        purged >= 2,
        "the old aggregate and client.created go, got {purged}"
    );
    let kinds = token_kinds(&server, &id).await;
    assert_eq!(kinds.len(), 1, "the new minute stays: {kinds:?}");
}

//! A store that wraps MemoryStore and waits before chosen operations, so a
//! test can force the interleaving of two requests that race, and records
//! the writes a test must count (`touch_secret`).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use m2m_core::{
    AccessTokenClaims, ClientId, Revocation, RevokedClient, RevokedKey, RevokedToken, UserId,
};
use m2m_issuer::store::*;

/// MemoryStore, with `create_grant` delayed and `touch_secret` recorded.
#[derive(Debug, Default)]
pub(crate) struct SlowStore {
    pub(crate) inner: MemoryStore,
    pub(crate) create_grant_delay: Duration,
    /// Every `touch_secret` call: (secret id, time written).
    pub(crate) touches: Mutex<Vec<(String, u64)>>,
}

impl SlowStore {
    /// The times `last_used_at` of `secret_id` was written, in call order.
    pub(crate) fn touches_of(&self, secret_id: &str) -> Vec<u64> {
        self.touches
            .lock()
            .expect("touches")
            .iter()
            .filter(|(id, _)| id == secret_id)
            .map(|(_, at)| *at)
            .collect()
    }
}

#[async_trait]
impl Store for SlowStore {
    async fn record_exchanged_token(
        &self,
        record: &ExchangedTokenRecord,
        parent: &AccessTokenClaims,
    ) -> StoreResult<bool> {
        self.inner.record_exchanged_token(record, parent).await
    }

    async fn revoke_exchanged(
        &self,
        from: ExchangedFrom<'_>,
        live_after: u64,
        at: u64,
    ) -> StoreResult<Vec<RevokedToken>> {
        self.inner.revoke_exchanged(from, live_after, at).await
    }

    async fn purge_exchanged_tokens(&self, before: u64) -> StoreResult<u64> {
        self.inner.purge_exchanged_tokens(before).await
    }

    async fn create_client(
        &self,
        client: &ClientRecord,
        secret: Option<&SecretRecord>,
    ) -> StoreResult<()> {
        self.inner.create_client(client, secret).await
    }

    async fn get_client(&self, client_id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        self.inner.get_client(client_id).await
    }

    async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>> {
        self.inner.list_clients(filter, after, limit).await
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        revocation: Option<&RevokedClient>,
    ) -> StoreResult<bool> {
        self.inner.update_client(client, revocation).await
    }

    async fn delete_client(
        &self,
        client_id: &ClientId,
        revocation: &RevokedClient,
    ) -> StoreResult<bool> {
        self.inner.delete_client(client_id, revocation).await
    }

    async fn list_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<SecretRecord>> {
        self.inner.list_secrets(client_id).await
    }

    async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret> {
        self.inner.add_secret(secret, max_live, now).await
    }

    async fn delete_secret(&self, client_id: &ClientId, secret_id: &str) -> StoreResult<bool> {
        self.inner.delete_secret(client_id, secret_id).await
    }

    async fn touch_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: u64,
    ) -> StoreResult<()> {
        self.touches
            .lock()
            .expect("touches")
            .push((secret_id.to_owned(), at));
        self.inner.touch_secret(client_id, secret_id, at).await
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.inner.list_keys().await
    }

    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
        revoked: Option<&RevokedKey>,
    ) -> StoreResult<bool> {
        self.inner.save_key_ring(keys, expected_kids, revoked).await
    }

    async fn revoke_token(
        &self,
        token: &RevokedToken,
        client_id: &ClientId,
        at: u64,
    ) -> StoreResult<bool> {
        self.inner.revoke_token(token, client_id, at).await
    }

    async fn is_revoked(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> StoreResult<bool> {
        self.inner.is_revoked(claims, kid).await
    }

    async fn revocations_since(&self, after: u64, limit: usize) -> StoreResult<RevocationPage> {
        self.inner.revocations_since(after, limit).await
    }

    async fn revocation_at(&self, seq: u64) -> StoreResult<Option<Revocation>> {
        self.inner.revocation_at(seq).await
    }

    async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        self.inner.purge_revocations(before).await
    }

    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        self.inner.create_auth_code(code).await
    }

    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode> {
        self.inner.consume_auth_code(code_hash, now).await
    }

    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64> {
        self.inner.purge_auth_codes(before).await
    }

    async fn claim_assertion_id(
        &self,
        issuer: &str,
        jti: &str,
        exp: u64,
        now: u64,
    ) -> StoreResult<bool> {
        self.inner.claim_assertion_id(issuer, jti, exp, now).await
    }

    async fn purge_assertion_ids(&self, before: u64) -> StoreResult<u64> {
        self.inner.purge_assertion_ids(before).await
    }

    async fn get_org_quota(
        &self,
        org_id: &m2m_core::OrgId,
    ) -> StoreResult<Option<m2m_issuer::store::QuotaOverride>> {
        self.inner.get_org_quota(org_id).await
    }

    async fn put_org_quota(
        &self,
        org_id: &m2m_core::OrgId,
        quota: &m2m_issuer::store::QuotaOverride,
        now: u64,
    ) -> StoreResult<()> {
        self.inner.put_org_quota(org_id, quota, now).await
    }

    async fn delete_org_quota(&self, org_id: &m2m_core::OrgId) -> StoreResult<bool> {
        self.inner.delete_org_quota(org_id).await
    }

    async fn add_usage(
        &self,
        subject: &str,
        window_secs: u64,
        window_start: u64,
        amount: u64,
    ) -> StoreResult<u64> {
        self.inner
            .add_usage(subject, window_secs, window_start, amount)
            .await
    }

    async fn purge_usage(&self, before: u64) -> StoreResult<u64> {
        self.inner.purge_usage(before).await
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()> {
        tokio::time::sleep(self.create_grant_delay).await;
        self.inner.create_grant(grant, refresh).await
    }

    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        self.inner.get_grant(grant_id).await
    }

    async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>> {
        self.inner.list_grants(client_id, user_id).await
    }

    async fn list_federated_credentials(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        self.inner.list_federated_credentials(client_id).await
    }

    async fn federated_credentials_of_issuer(
        &self,
        issuer: &str,
        limit: usize,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        self.inner
            .federated_credentials_of_issuer(issuer, limit)
            .await
    }

    async fn add_federated_credential(
        &self,
        credential: &FederatedCredentialRecord,
        max: usize,
    ) -> StoreResult<AddFederatedCredential> {
        self.inner.add_federated_credential(credential, max).await
    }

    async fn delete_federated_credential(
        &self,
        client_id: &ClientId,
        id: &str,
    ) -> StoreResult<bool> {
        self.inner.delete_federated_credential(client_id, id).await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        self.inner.get_refresh_token(token_hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh> {
        self.inner.rotate_refresh_token(old_hash, new, now).await
    }

    async fn revoke_grant(
        &self,
        revocation: &GrantRevocation<'_>,
    ) -> StoreResult<Option<Vec<RevokedToken>>> {
        self.inner.revoke_grant(revocation).await
    }

    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()> {
        self.inner.append_audit(events).await
    }

    async fn record_token_minutes(&self, minutes: &[TokenMinute]) -> StoreResult<()> {
        self.inner.record_token_minutes(minutes).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>> {
        self.inner.list_audit(filter, before, limit).await
    }

    async fn purge_audit(&self, before: u64, limit: usize) -> StoreResult<u64> {
        self.inner.purge_audit(before, limit).await
    }
}

//! [`forward_store!`]: one `impl Store` that hands every call to another
//! value, so the public stores do not repeat thirty method bodies each.

/// Implements [`Store`](m2m_issuer::store::Store) for `$type` by calling the
/// method of the same name on `self.$inner()` (anything with those methods:
/// a [`Backend`](crate::backend::Backend), or a `&dyn Store`).
macro_rules! forward_store {
    ($type:ty, $inner:ident) => {
        #[async_trait::async_trait]
        impl m2m_issuer::store::Store for $type {
            async fn create_client(
                &self,
                client: &m2m_issuer::store::ClientRecord,
                secret: Option<&m2m_issuer::store::SecretRecord>,
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().create_client(client, secret).await
            }

            async fn get_client(
                &self,
                client_id: &m2m_core::ClientId,
            ) -> m2m_issuer::store::StoreResult<Option<m2m_issuer::store::ClientRecord>> {
                self.$inner().get_client(client_id).await
            }

            async fn list_clients(
                &self,
                filter: &m2m_issuer::store::ClientFilter,
                after: Option<&m2m_core::ClientId>,
                limit: usize,
            ) -> m2m_issuer::store::StoreResult<
                m2m_issuer::store::Page<m2m_issuer::store::ClientRecord, m2m_core::ClientId>,
            > {
                self.$inner().list_clients(filter, after, limit).await
            }

            async fn update_client(
                &self,
                client: &m2m_issuer::store::ClientRecord,
                revocation: Option<&m2m_core::RevokedClient>,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().update_client(client, revocation).await
            }

            async fn delete_client(
                &self,
                client_id: &m2m_core::ClientId,
                revocation: &m2m_core::RevokedClient,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().delete_client(client_id, revocation).await
            }

            async fn list_secrets(
                &self,
                client_id: &m2m_core::ClientId,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_issuer::store::SecretRecord>> {
                self.$inner().list_secrets(client_id).await
            }

            async fn add_secret(
                &self,
                secret: &m2m_issuer::store::SecretRecord,
                max_live: usize,
                now: u64,
            ) -> m2m_issuer::store::StoreResult<m2m_issuer::store::AddSecret> {
                self.$inner().add_secret(secret, max_live, now).await
            }

            async fn delete_secret(
                &self,
                client_id: &m2m_core::ClientId,
                secret_id: &str,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().delete_secret(client_id, secret_id).await
            }

            async fn touch_secret(
                &self,
                client_id: &m2m_core::ClientId,
                secret_id: &str,
                at: u64,
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().touch_secret(client_id, secret_id, at).await
            }

            async fn touch_secrets(
                &self,
                touches: &[m2m_issuer::store::SecretTouch],
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().touch_secrets(touches).await
            }

            async fn list_federated_credentials(
                &self,
                client_id: &m2m_core::ClientId,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_issuer::store::FederatedCredentialRecord>>
            {
                self.$inner().list_federated_credentials(client_id).await
            }

            async fn federated_credentials_of_issuer(
                &self,
                issuer: &str,
                limit: usize,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_issuer::store::FederatedCredentialRecord>>
            {
                self.$inner()
                    .federated_credentials_of_issuer(issuer, limit)
                    .await
            }

            async fn add_federated_credential(
                &self,
                credential: &m2m_issuer::store::FederatedCredentialRecord,
                max: usize,
            ) -> m2m_issuer::store::StoreResult<m2m_issuer::store::AddFederatedCredential> {
                self.$inner()
                    .add_federated_credential(credential, max)
                    .await
            }

            async fn delete_federated_credential(
                &self,
                client_id: &m2m_core::ClientId,
                id: &str,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner()
                    .delete_federated_credential(client_id, id)
                    .await
            }

            async fn list_keys(
                &self,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_issuer::store::StoredKey>> {
                self.$inner().list_keys().await
            }

            async fn save_key_ring(
                &self,
                keys: &[m2m_issuer::store::StoredKey],
                expected_kids: &[String],
                revoked: Option<&m2m_core::RevokedKey>,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner()
                    .save_key_ring(keys, expected_kids, revoked)
                    .await
            }

            async fn revoke_token(
                &self,
                token: &m2m_core::RevokedToken,
                client_id: &m2m_core::ClientId,
                at: u64,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().revoke_token(token, client_id, at).await
            }

            async fn is_revoked(
                &self,
                claims: &m2m_core::AccessTokenClaims,
                kid: Option<&str>,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().is_revoked(claims, kid).await
            }

            async fn revocations_since(
                &self,
                after: u64,
                limit: usize,
            ) -> m2m_issuer::store::StoreResult<m2m_issuer::store::RevocationPage> {
                self.$inner().revocations_since(after, limit).await
            }

            async fn revocation_at(
                &self,
                seq: u64,
            ) -> m2m_issuer::store::StoreResult<Option<m2m_core::Revocation>> {
                self.$inner().revocation_at(seq).await
            }

            async fn purge_revocations(&self, before: u64) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_revocations(before).await
            }

            async fn create_auth_code(
                &self,
                code: &m2m_issuer::store::AuthCodeRecord,
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().create_auth_code(code).await
            }

            async fn consume_auth_code(
                &self,
                code_hash: &[u8],
                now: u64,
            ) -> m2m_issuer::store::StoreResult<m2m_issuer::store::ConsumeCode> {
                self.$inner().consume_auth_code(code_hash, now).await
            }

            async fn purge_auth_codes(&self, before: u64) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_auth_codes(before).await
            }

            async fn add_usage(
                &self,
                subject: &str,
                window_secs: u64,
                window_start: u64,
                amount: u64,
            ) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner()
                    .add_usage(subject, window_secs, window_start, amount)
                    .await
            }

            async fn purge_usage(&self, before: u64) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_usage(before).await
            }

            async fn get_org_quota(
                &self,
                org_id: &m2m_core::OrgId,
            ) -> m2m_issuer::store::StoreResult<Option<m2m_issuer::store::QuotaOverride>> {
                self.$inner().get_org_quota(org_id).await
            }

            async fn put_org_quota(
                &self,
                org_id: &m2m_core::OrgId,
                quota: &m2m_issuer::store::QuotaOverride,
                now: u64,
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().put_org_quota(org_id, quota, now).await
            }

            async fn delete_org_quota(
                &self,
                org_id: &m2m_core::OrgId,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().delete_org_quota(org_id).await
            }

            async fn claim_assertion_id(
                &self,
                issuer: &str,
                jti: &str,
                exp: u64,
                now: u64,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner()
                    .claim_assertion_id(issuer, jti, exp, now)
                    .await
            }

            async fn record_exchanged_token(
                &self,
                record: &m2m_issuer::store::ExchangedTokenRecord,
                parent: &m2m_core::AccessTokenClaims,
            ) -> m2m_issuer::store::StoreResult<bool> {
                self.$inner().record_exchanged_token(record, parent).await
            }

            async fn revoke_exchanged(
                &self,
                from: m2m_issuer::store::ExchangedFrom<'_>,
                live_after: u64,
                at: u64,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_core::RevokedToken>> {
                self.$inner().revoke_exchanged(from, live_after, at).await
            }

            async fn purge_exchanged_tokens(
                &self,
                before: u64,
            ) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_exchanged_tokens(before).await
            }

            async fn purge_assertion_ids(
                &self,
                before: u64,
            ) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_assertion_ids(before).await
            }

            async fn create_grant(
                &self,
                grant: &m2m_issuer::store::GrantRecord,
                refresh: &m2m_issuer::store::RefreshTokenRecord,
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().create_grant(grant, refresh).await
            }

            async fn get_grant(
                &self,
                grant_id: &str,
            ) -> m2m_issuer::store::StoreResult<Option<m2m_issuer::store::GrantRecord>> {
                self.$inner().get_grant(grant_id).await
            }

            async fn list_grants(
                &self,
                client_id: &m2m_core::ClientId,
                user_id: Option<&m2m_core::UserId>,
            ) -> m2m_issuer::store::StoreResult<Vec<m2m_issuer::store::GrantRecord>> {
                self.$inner().list_grants(client_id, user_id).await
            }

            async fn get_refresh_token(
                &self,
                token_hash: &[u8],
            ) -> m2m_issuer::store::StoreResult<Option<m2m_issuer::store::RefreshTokenRecord>> {
                self.$inner().get_refresh_token(token_hash).await
            }

            async fn rotate_refresh_token(
                &self,
                old_hash: &[u8],
                new: &m2m_issuer::store::RefreshTokenRecord,
                now: u64,
            ) -> m2m_issuer::store::StoreResult<m2m_issuer::store::RotateRefresh> {
                self.$inner().rotate_refresh_token(old_hash, new, now).await
            }

            async fn revoke_grant(
                &self,
                revocation: &m2m_issuer::store::GrantRevocation<'_>,
            ) -> m2m_issuer::store::StoreResult<Option<Vec<m2m_core::RevokedToken>>> {
                self.$inner().revoke_grant(revocation).await
            }

            async fn append_audit(
                &self,
                events: &[m2m_issuer::store::AuditRecord],
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().append_audit(events).await
            }

            async fn record_token_minutes(
                &self,
                minutes: &[m2m_issuer::store::TokenMinute],
            ) -> m2m_issuer::store::StoreResult<()> {
                self.$inner().record_token_minutes(minutes).await
            }

            async fn list_audit(
                &self,
                filter: &m2m_issuer::store::AuditFilter,
                before: Option<u64>,
                limit: usize,
            ) -> m2m_issuer::store::StoreResult<
                m2m_issuer::store::Page<m2m_issuer::store::AuditRecord, u64>,
            > {
                self.$inner().list_audit(filter, before, limit).await
            }

            async fn purge_audit(
                &self,
                before: u64,
                limit: usize,
            ) -> m2m_issuer::store::StoreResult<u64> {
                self.$inner().purge_audit(before, limit).await
            }
        }
    };
}

pub(crate) use forward_store;

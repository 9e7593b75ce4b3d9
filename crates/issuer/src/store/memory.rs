//! [`MemoryStore`]: the [`Store`] kept in process memory.
//!
//! For tests, examples and single-process deployments that may lose their
//! clients on restart. Each client and its secrets live in one `DashMap`
//! entry, so the per-client invariants (at most `max_live` live secrets, a
//! client deleted with its secrets) hold under that entry's lock; the key
//! ring, the revocation log and the audit log each sit behind one mutex that
//! is never held across an `.await`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use m2m_core::{
    AccessTokenClaims, ClientId, OrgId, Revocation, RevokedClient, RevokedKey, RevokedToken, UserId,
};

use super::{
    AddFederatedCredential, AddSecret, AuditFilter, AuditRecord, AuthCodeRecord, ClientFilter,
    ClientRecord, ConsumeCode, FederatedCredentialRecord, GrantRecord, GrantRevocation,
    LoggedRevocation, Page, RefreshTokenRecord, RevocationPage, RotateRefresh, SecretRecord, Store,
    StoreError, StoreResult, StoredKey, TokenMinute,
};
use super::{ExchangedFrom, ExchangedTokenRecord, QuotaOverride};

struct ClientEntry {
    client: ClientRecord,
    secrets: Vec<SecretRecord>,
    federated: Vec<FederatedCredentialRecord>,
}

/// The log in sequence order; `head` is the last sequence number handed
/// out. `index` answers "is this token covered?" without a scan.
#[derive(Default)]
struct RevocationLog {
    head: u64,
    entries: Vec<LoggedRevocation>,
    index: RevocationIndex,
}

#[derive(Default)]
struct RevocationIndex {
    jtis: HashSet<String>,
    /// The latest `revoked_at` of each revoked client.
    clients: HashMap<ClientId, u64>,
    kids: HashSet<String>,
}

impl RevocationIndex {
    fn add(&mut self, revocation: &Revocation) {
        match revocation {
            Revocation::Token(token) => {
                self.jtis.insert(token.jti.clone());
            }
            Revocation::Client(client) => {
                let at = self.clients.entry(client.client_id.clone()).or_default();
                *at = (*at).max(client.revoked_at);
            }
            Revocation::Key(key) => {
                self.kids.insert(key.kid.clone());
            }
        }
    }

    fn covers(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> bool {
        self.jtis.contains(&claims.jti)
            || self
                .clients
                .get(&claims.client_id)
                .is_some_and(|at| claims.iat <= *at)
            || kid.is_some_and(|kid| self.kids.contains(kid))
    }
}

/// Codes, grants and refresh tokens of user-level clients, under one mutex
/// (taken before the revocation log's when both are needed).
#[derive(Default)]
struct Grants {
    /// Code hash to the code and when it was used.
    codes: HashMap<Vec<u8>, (AuthCodeRecord, Option<u64>)>,
    grants: HashMap<String, GrantRecord>,
    refresh: HashMap<Vec<u8>, RefreshTokenRecord>,
}

#[derive(Default)]
struct AuditLog {
    next_seq: u64,
    events: Vec<AuditRecord>,
}

/// A [`Store`] in process memory. Everything is lost when it is dropped.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use m2m_issuer::store::{MemoryStore, Store};
/// let store = MemoryStore::new();
/// assert!(store.list_keys().await.unwrap().is_empty());
/// # });
/// ```
#[derive(Default)]
pub struct MemoryStore {
    clients: DashMap<ClientId, ClientEntry>,
    keys: Mutex<Vec<StoredKey>>,
    revocations: Mutex<RevocationLog>,
    grants: Mutex<Grants>,
    audit: Mutex<AuditLog>,
    /// `(issuer, jti)` → until when it is refused.
    assertion_ids: DashMap<(String, String), u64>,
    /// Tokens minted by token exchange, by `jti`.
    exchanged: Mutex<HashMap<String, ExchangedTokenRecord>>,
    /// `(subject, window_secs, window_start)` → the count.
    usage: DashMap<(String, u64, u64), u64>,
    org_quotas: DashMap<OrgId, QuotaOverride>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

/// A poisoned mutex only means another thread panicked while holding it; the
/// data (plain vectors) is still consistent enough to keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RevocationLog {
    fn append(&mut self, revocation: Revocation) {
        self.index.add(&revocation);
        self.head += 1;
        self.entries.push(LoggedRevocation {
            seq: self.head,
            revocation,
        });
    }

    /// Appends a token revocation unless the token is in the log already.
    fn append_token(&mut self, token: &RevokedToken) -> bool {
        if self.index.jtis.contains(&token.jti) {
            return false;
        }
        self.append(Revocation::Token(token.clone()));
        true
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_client(
        &self,
        client: &ClientRecord,
        secret: Option<&SecretRecord>,
    ) -> StoreResult<()> {
        match self.clients.entry(client.client_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict(format!("client {}", client.client_id))),
            Entry::Vacant(slot) => {
                slot.insert(ClientEntry {
                    client: client.clone(),
                    secrets: secret.into_iter().cloned().collect(),
                    federated: Vec::new(),
                });
                Ok(())
            }
        }
    }

    async fn get_client(&self, client_id: &ClientId) -> StoreResult<Option<ClientRecord>> {
        Ok(self.clients.get(client_id).map(|e| e.client.clone()))
    }

    async fn list_clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> StoreResult<Page<ClientRecord, ClientId>> {
        let mut matching: Vec<ClientRecord> = self
            .clients
            .iter()
            .filter(|e| {
                let c = &e.client;
                after.is_none_or(|a| c.client_id.as_str() > a.as_str())
                    && filter
                        .org_id
                        .as_ref()
                        .is_none_or(|o| c.org_id.as_ref() == Some(o))
                    && filter.kind.is_none_or(|k| c.kind == k)
            })
            .map(|e| e.client.clone())
            .collect();
        matching.sort_by(|a, b| a.client_id.as_str().cmp(b.client_id.as_str()));
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next = if more {
            matching.last().map(|c| c.client_id.clone())
        } else {
            None
        };
        Ok(Page {
            items: matching,
            next,
        })
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        revocation: Option<&RevokedClient>,
    ) -> StoreResult<bool> {
        // Hold the entry while logging, so nobody sees the change without
        // its revocation.
        Ok(match self.clients.get_mut(&client.client_id) {
            Some(mut entry) => {
                if let Some(revocation) = revocation {
                    lock(&self.revocations).append(Revocation::Client(revocation.clone()));
                }
                entry.client = client.clone();
                true
            }
            None => false,
        })
    }

    async fn delete_client(
        &self,
        client_id: &ClientId,
        revocation: &RevokedClient,
    ) -> StoreResult<bool> {
        match self.clients.entry(client_id.clone()) {
            Entry::Vacant(_) => Ok(false),
            Entry::Occupied(slot) => {
                lock(&self.revocations).append(Revocation::Client(revocation.clone()));
                slot.remove();
                Ok(true)
            }
        }
    }

    async fn list_secrets(&self, client_id: &ClientId) -> StoreResult<Vec<SecretRecord>> {
        Ok(self
            .clients
            .get(client_id)
            .map(|e| e.secrets.clone())
            .unwrap_or_default())
    }

    async fn add_secret(
        &self,
        secret: &SecretRecord,
        max_live: usize,
        now: u64,
    ) -> StoreResult<AddSecret> {
        let Some(mut entry) = self.clients.get_mut(&secret.client_id) else {
            return Ok(AddSecret::NoSuchClient);
        };
        if entry
            .secrets
            .iter()
            .any(|s| s.secret_id == secret.secret_id)
        {
            return Err(StoreError::Conflict(format!("secret {}", secret.secret_id)));
        }
        if entry.secrets.iter().filter(|s| s.is_live(now)).count() >= max_live {
            return Ok(AddSecret::LimitReached);
        }
        entry.secrets.push(secret.clone());
        Ok(AddSecret::Added)
    }

    async fn delete_secret(&self, client_id: &ClientId, secret_id: &str) -> StoreResult<bool> {
        let Some(mut entry) = self.clients.get_mut(client_id) else {
            return Ok(false);
        };
        let before = entry.secrets.len();
        entry.secrets.retain(|s| s.secret_id != secret_id);
        Ok(entry.secrets.len() != before)
    }

    async fn touch_secret(
        &self,
        client_id: &ClientId,
        secret_id: &str,
        at: u64,
    ) -> StoreResult<()> {
        if let Some(mut entry) = self.clients.get_mut(client_id)
            && let Some(secret) = entry.secrets.iter_mut().find(|s| s.secret_id == secret_id)
        {
            secret.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn list_federated_credentials(
        &self,
        client_id: &ClientId,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        Ok(self
            .clients
            .get(client_id)
            .map(|e| e.federated.clone())
            .unwrap_or_default())
    }

    async fn federated_credentials_of_issuer(
        &self,
        issuer: &str,
        limit: usize,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        let mut found: Vec<(ClientId, Vec<FederatedCredentialRecord>)> = self
            .clients
            .iter()
            .map(|e| {
                let of_issuer = e
                    .federated
                    .iter()
                    .filter(|f| f.issuer == issuer)
                    .cloned()
                    .collect::<Vec<_>>();
                (e.key().clone(), of_issuer)
            })
            .filter(|(_, f)| !f.is_empty())
            .collect();
        found.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(found.into_iter().flat_map(|(_, f)| f).take(limit).collect())
    }

    async fn add_federated_credential(
        &self,
        credential: &FederatedCredentialRecord,
        max: usize,
    ) -> StoreResult<AddFederatedCredential> {
        let Some(mut entry) = self.clients.get_mut(&credential.client_id) else {
            return Ok(AddFederatedCredential::NoSuchClient);
        };
        if entry.federated.iter().any(|f| f.id == credential.id) {
            return Err(StoreError::Conflict(format!(
                "federated credential {}",
                credential.id
            )));
        }
        if entry.federated.len() >= max {
            return Ok(AddFederatedCredential::LimitReached);
        }
        entry.federated.push(credential.clone());
        Ok(AddFederatedCredential::Added)
    }

    async fn delete_federated_credential(
        &self,
        client_id: &ClientId,
        id: &str,
    ) -> StoreResult<bool> {
        let Some(mut entry) = self.clients.get_mut(client_id) else {
            return Ok(false);
        };
        let before = entry.federated.len();
        entry.federated.retain(|f| f.id != id);
        Ok(entry.federated.len() != before)
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(lock(&self.keys).clone())
    }

    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
        revoked: Option<&RevokedKey>,
    ) -> StoreResult<bool> {
        let mut stored = lock(&self.keys);
        let have: BTreeSet<&str> = stored.iter().map(|k| k.kid.as_str()).collect();
        let expected: BTreeSet<&str> = expected_kids.iter().map(String::as_str).collect();
        if have != expected || expected.len() != expected_kids.len() {
            return Ok(false);
        }
        if let Some(revoked) = revoked {
            lock(&self.revocations).append(Revocation::Key(revoked.clone()));
        }
        *stored = keys.to_vec();
        Ok(true)
    }

    async fn revoke_token(
        &self,
        token: &RevokedToken,
        _client_id: &ClientId,
        _at: u64,
    ) -> StoreResult<bool> {
        Ok(lock(&self.revocations).append_token(token))
    }

    async fn is_revoked(&self, claims: &AccessTokenClaims, kid: Option<&str>) -> StoreResult<bool> {
        Ok(lock(&self.revocations).index.covers(claims, kid))
    }

    async fn revocations_since(&self, after: u64, limit: usize) -> StoreResult<RevocationPage> {
        let log = lock(&self.revocations);
        let start = log.entries.partition_point(|e| e.seq <= after);
        Ok(RevocationPage {
            entries: log.entries[start..].iter().take(limit).cloned().collect(),
            head: log.head,
        })
    }

    async fn revocation_at(&self, seq: u64) -> StoreResult<Option<Revocation>> {
        let log = lock(&self.revocations);
        Ok(log
            .entries
            .binary_search_by_key(&seq, |e| e.seq)
            .ok()
            .map(|i| log.entries[i].revocation.clone()))
    }

    async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        let mut log = lock(&self.revocations);
        let count = log.entries.len();
        log.entries.retain(|e| e.revocation.exp() >= before);
        let purged = count - log.entries.len();
        if purged > 0 {
            let mut index = RevocationIndex::default();
            for entry in &log.entries {
                index.add(&entry.revocation);
            }
            log.index = index;
        }
        Ok(purged as u64)
    }

    async fn create_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()> {
        let mut state = lock(&self.grants);
        if state.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Conflict("authorization code".to_owned()));
        }
        state
            .codes
            .insert(code.code_hash.clone(), (code.clone(), None));
        Ok(())
    }

    async fn consume_auth_code(&self, code_hash: &[u8], now: u64) -> StoreResult<ConsumeCode> {
        let mut state = lock(&self.grants);
        Ok(match state.codes.get_mut(code_hash) {
            None => ConsumeCode::NotFound,
            Some((code, Some(_))) => ConsumeCode::AlreadyUsed(code.clone()),
            Some((code, used_at)) => {
                *used_at = Some(now);
                ConsumeCode::Consumed(code.clone())
            }
        })
    }

    async fn purge_auth_codes(&self, before: u64) -> StoreResult<u64> {
        let mut state = lock(&self.grants);
        let count = state.codes.len();
        state.codes.retain(|_, (code, _)| code.expires_at >= before);
        Ok((count - state.codes.len()) as u64)
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        refresh: &RefreshTokenRecord,
    ) -> StoreResult<()> {
        let mut state = lock(&self.grants);
        if state.grants.contains_key(&grant.grant_id) {
            return Err(StoreError::Conflict(format!("grant {}", grant.grant_id)));
        }
        if state.refresh.contains_key(&refresh.token_hash) {
            return Err(StoreError::Conflict("refresh token".to_owned()));
        }
        state.grants.insert(grant.grant_id.clone(), grant.clone());
        state
            .refresh
            .insert(refresh.token_hash.clone(), refresh.clone());
        Ok(())
    }

    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        Ok(lock(&self.grants).grants.get(grant_id).cloned())
    }

    async fn list_grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> StoreResult<Vec<GrantRecord>> {
        let state = lock(&self.grants);
        let mut found: Vec<GrantRecord> = state
            .grants
            .values()
            .filter(|g| &g.client_id == client_id && user_id.is_none_or(|u| &g.user_id == u))
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (a.created_at, a.grant_id.as_str()).cmp(&(b.created_at, b.grant_id.as_str()))
        });
        Ok(found)
    }

    async fn get_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        Ok(lock(&self.grants).refresh.get(token_hash).cloned())
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        now: u64,
    ) -> StoreResult<RotateRefresh> {
        let mut state = lock(&self.grants);
        let Some(old) = state.refresh.get(old_hash).cloned() else {
            return Ok(RotateRefresh::NotFound);
        };
        if old.grant_id != new.grant_id {
            return Err(StoreError::Conflict(
                "a rotated refresh token must stay in its grant".to_owned(),
            ));
        }
        if state
            .grants
            .get(&old.grant_id)
            .is_none_or(|g| g.revoked_at.is_some())
        {
            return Ok(RotateRefresh::GrantRevoked);
        }
        if old.used_at.is_some() {
            return Ok(RotateRefresh::Reused(old));
        }
        if state.refresh.contains_key(&new.token_hash) {
            return Err(StoreError::Conflict("refresh token".to_owned()));
        }
        if let Some(stored) = state.refresh.get_mut(old_hash) {
            stored.used_at = Some(now);
        }
        state.refresh.insert(new.token_hash.clone(), new.clone());
        Ok(RotateRefresh::Rotated(old))
    }

    async fn revoke_grant(
        &self,
        revocation: &GrantRevocation<'_>,
    ) -> StoreResult<Option<Vec<RevokedToken>>> {
        let mut state = lock(&self.grants);
        let grant_id = revocation.grant_id;
        match state.grants.get_mut(grant_id) {
            Some(grant) if &grant.client_id == revocation.client_id => {
                grant.revoked_at.get_or_insert(revocation.at);
            }
            Some(_) => return Ok(None),
            None => match revocation.create_revoked {
                Some(record) if record.grant_id == grant_id => {
                    let mut record = record.clone();
                    record.revoked_at = Some(revocation.at);
                    state.grants.insert(grant_id.to_owned(), record);
                    return Ok(Some(Vec::new()));
                }
                _ => return Ok(None),
            },
        }
        let mut family: Vec<&RefreshTokenRecord> = state
            .refresh
            .values()
            .filter(|t| t.grant_id == grant_id && t.access_exp >= revocation.live_after)
            .collect();
        family.sort_by(|a, b| {
            (a.created_at, a.access_jti.as_str()).cmp(&(b.created_at, b.access_jti.as_str()))
        });
        let mut log = lock(&self.revocations);
        let mut revoked = Vec::with_capacity(family.len());
        for token in family {
            let access = RevokedToken {
                jti: token.access_jti.clone(),
                exp: token.access_exp,
            };
            log.append_token(&access);
            revoked.push(access);
        }
        Ok(Some(revoked))
    }

    async fn add_usage(
        &self,
        subject: &str,
        window_secs: u64,
        window_start: u64,
        amount: u64,
    ) -> StoreResult<u64> {
        // The entry's shard lock makes the read and the write one step.
        let mut count = self
            .usage
            .entry((subject.to_owned(), window_secs, window_start))
            .or_insert(0);
        *count = count.saturating_add(amount);
        Ok(*count)
    }

    async fn get_org_quota(&self, org_id: &OrgId) -> StoreResult<Option<QuotaOverride>> {
        Ok(self.org_quotas.get(org_id).map(|q| *q))
    }

    async fn put_org_quota(
        &self,
        org_id: &OrgId,
        quota: &QuotaOverride,
        _now: u64,
    ) -> StoreResult<()> {
        self.org_quotas.insert(org_id.clone(), *quota);
        Ok(())
    }

    async fn delete_org_quota(&self, org_id: &OrgId) -> StoreResult<bool> {
        Ok(self.org_quotas.remove(org_id).is_some())
    }

    async fn purge_usage(&self, before: u64) -> StoreResult<u64> {
        let stale: Vec<_> = self
            .usage
            .iter()
            .filter(|e| e.key().2.saturating_add(e.key().1) < before)
            .map(|e| e.key().clone())
            .collect();
        let mut removed = 0;
        for key in stale {
            removed += u64::from(self.usage.remove(&key).is_some());
        }
        Ok(removed)
    }

    async fn claim_assertion_id(
        &self,
        issuer: &str,
        jti: &str,
        exp: u64,
        now: u64,
    ) -> StoreResult<bool> {
        // The entry's shard lock makes the check and the write one step.
        match self
            .assertion_ids
            .entry((issuer.to_owned(), jti.to_owned()))
        {
            Entry::Occupied(mut seen) if *seen.get() <= now => {
                seen.insert(exp);
                Ok(true)
            }
            Entry::Occupied(_) => Ok(false),
            Entry::Vacant(slot) => {
                slot.insert(exp);
                Ok(true)
            }
        }
    }

    async fn record_exchanged_token(
        &self,
        record: &ExchangedTokenRecord,
        parent: &AccessTokenClaims,
    ) -> StoreResult<bool> {
        // The exchanged map's lock, then the log's: one order everywhere.
        let mut exchanged = lock(&self.exchanged);
        if lock(&self.revocations)
            .index
            .covers(parent, Some(&record.parent_kid))
        {
            return Ok(false);
        }
        if exchanged.contains_key(&record.jti) {
            return Err(StoreError::Conflict(format!(
                "exchanged token {} exists",
                record.jti
            )));
        }
        exchanged.insert(record.jti.clone(), record.clone());
        Ok(true)
    }

    async fn revoke_exchanged(
        &self,
        from: ExchangedFrom<'_>,
        live_after: u64,
        _at: u64,
    ) -> StoreResult<Vec<RevokedToken>> {
        // The exchanged map's lock, then the log's: one order everywhere.
        let exchanged = lock(&self.exchanged);
        let mut frontier: Vec<&ExchangedTokenRecord> = exchanged
            .values()
            .filter(|e| match from {
                ExchangedFrom::Tokens(jtis) => jtis.contains(&e.parent_jti),
                ExchangedFrom::Client {
                    client_id,
                    issued_before,
                } => &e.parent_client_id == client_id && e.parent_iat <= issued_before,
                ExchangedFrom::Key(kid) => e.parent_kid == kid,
            })
            .collect();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut covered = Vec::new();
        while let Some(record) = frontier.pop() {
            if !seen.insert(record.jti.as_str()) {
                continue;
            }
            if record.exp >= live_after {
                covered.push(RevokedToken {
                    jti: record.jti.clone(),
                    exp: record.exp,
                });
            }
            frontier.extend(exchanged.values().filter(|e| e.parent_jti == record.jti));
        }
        let mut log = lock(&self.revocations);
        for token in &covered {
            log.append_token(token);
        }
        Ok(covered)
    }

    async fn purge_exchanged_tokens(&self, before: u64) -> StoreResult<u64> {
        let mut exchanged = lock(&self.exchanged);
        let count = exchanged.len();
        exchanged.retain(|_, e| e.exp >= before);
        Ok(count.saturating_sub(exchanged.len()) as u64)
    }

    async fn purge_assertion_ids(&self, before: u64) -> StoreResult<u64> {
        let count = self.assertion_ids.len();
        self.assertion_ids.retain(|_, exp| *exp >= before);
        Ok(count.saturating_sub(self.assertion_ids.len()) as u64)
    }

    async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()> {
        let mut log = lock(&self.audit);
        for event in events {
            log.next_seq += 1;
            let mut event = event.clone();
            event.seq = log.next_seq;
            log.events.push(event);
        }
        Ok(())
    }

    async fn record_token_minutes(&self, minutes: &[TokenMinute]) -> StoreResult<()> {
        let mut log = lock(&self.audit);
        for minute in minutes {
            let stored = log.events.iter_mut().find(|e| {
                e.kind == TokenMinute::KIND
                    && e.at == minute.minute
                    && e.client_id.as_ref() == Some(&minute.client_id)
            });
            match stored {
                Some(event) => {
                    let mut merged = TokenMinute::from_record(event).ok_or_else(|| {
                        StoreError::Corrupt(format!("audit event {} is no aggregate", event.seq))
                    })?;
                    merged.merge(minute);
                    event.detail = merged.to_record().detail;
                }
                None => {
                    log.next_seq += 1;
                    let mut event = minute.to_record();
                    event.seq = log.next_seq;
                    log.events.push(event);
                }
            }
        }
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditRecord, u64>> {
        let log = lock(&self.audit);
        let mut items: Vec<AuditRecord> = log
            .events
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.seq < b))
            .filter(|e| filter.matches(e))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn purge_audit(&self, before: u64, limit: usize) -> StoreResult<u64> {
        let mut log = lock(&self.audit);
        let mut left = limit;
        log.events.retain(|e| {
            if e.at < before && left > 0 {
                left -= 1;
                false
            } else {
                true
            }
        });
        Ok((limit - left) as u64)
    }
}

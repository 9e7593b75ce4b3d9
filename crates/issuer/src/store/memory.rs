//! [`MemoryStore`]: the [`Store`] kept in process memory.
//!
//! For tests, examples and single-process deployments that may lose their
//! clients on restart. Each client and its secrets live in one `DashMap`
//! entry, so the per-client invariants (at most `max_live` live secrets, a
//! client deleted with its secrets) hold under that entry's lock; the key
//! ring, the revocation log and the audit log each sit behind one mutex that
//! is never held across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use m2m_core::ClientId;

use super::{
    AddSecret, AuditEvent, ClientFilter, ClientRecord, Page, RevocationEntry, SecretRecord, Store,
    StoreError, StoreResult, StoredKey, TokenRevocation,
};

struct ClientEntry {
    client: ClientRecord,
    secrets: Vec<SecretRecord>,
}

#[derive(Default)]
struct RevocationLog {
    next_seq: u64,
    entries: Vec<(u64, RevocationEntry)>,
    tokens: HashMap<String, TokenRevocation>,
}

#[derive(Default)]
struct AuditLog {
    next_seq: u64,
    events: Vec<AuditEvent>,
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
    audit: Mutex<AuditLog>,
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
    fn append(&mut self, entry: RevocationEntry) {
        self.next_seq += 1;
        self.entries.push((self.next_seq, entry));
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_client(&self, client: &ClientRecord, secret: &SecretRecord) -> StoreResult<()> {
        match self.clients.entry(client.client_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict(format!("client {}", client.client_id))),
            Entry::Vacant(slot) => {
                slot.insert(ClientEntry {
                    client: client.clone(),
                    secrets: vec![secret.clone()],
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

    async fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        Ok(match self.clients.get_mut(&client.client_id) {
            Some(mut entry) => {
                entry.client = client.clone();
                true
            }
            None => false,
        })
    }

    async fn delete_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<bool> {
        // Hold the entry while logging, so nobody sees the client gone but
        // not yet revoked.
        match self.clients.entry(client_id.clone()) {
            Entry::Vacant(_) => Ok(false),
            Entry::Occupied(slot) => {
                lock(&self.revocations).append(RevocationEntry::Client {
                    client_id: client_id.clone(),
                    revoked_at,
                });
                slot.remove();
                Ok(true)
            }
        }
    }

    async fn revoke_client(&self, client_id: &ClientId, revoked_at: u64) -> StoreResult<()> {
        lock(&self.revocations).append(RevocationEntry::Client {
            client_id: client_id.clone(),
            revoked_at,
        });
        Ok(())
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

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        Ok(lock(&self.keys).clone())
    }

    async fn save_key_ring(
        &self,
        keys: &[StoredKey],
        expected_kids: &[String],
    ) -> StoreResult<bool> {
        let mut stored = lock(&self.keys);
        let have: BTreeSet<&str> = stored.iter().map(|k| k.kid.as_str()).collect();
        let expected: BTreeSet<&str> = expected_kids.iter().map(String::as_str).collect();
        if have != expected || expected.len() != expected_kids.len() {
            return Ok(false);
        }
        *stored = keys.to_vec();
        Ok(true)
    }

    async fn revoke_token(&self, revocation: &TokenRevocation) -> StoreResult<()> {
        let mut log = lock(&self.revocations);
        if log.tokens.contains_key(&revocation.jti) {
            return Ok(());
        }
        log.tokens
            .insert(revocation.jti.clone(), revocation.clone());
        log.append(RevocationEntry::Token {
            jti: revocation.jti.clone(),
            exp: revocation.exp,
        });
        Ok(())
    }

    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(lock(&self.revocations).tokens.contains_key(jti))
    }

    async fn revocations_since(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> StoreResult<(Vec<RevocationEntry>, Option<u64>)> {
        let log = lock(&self.revocations);
        let start = after.unwrap_or(0);
        let mut last = after;
        let entries = log
            .entries
            .iter()
            .filter(|(seq, _)| *seq > start)
            .take(limit)
            .map(|(seq, entry)| {
                last = Some(*seq);
                entry.clone()
            })
            .collect();
        Ok((entries, last))
    }

    async fn purge_revocations(&self, before: u64) -> StoreResult<u64> {
        let mut log = lock(&self.revocations);
        let dropped: Vec<String> = log
            .tokens
            .values()
            .filter(|t| t.exp < before)
            .map(|t| t.jti.clone())
            .collect();
        for jti in &dropped {
            log.tokens.remove(jti);
        }
        log.entries
            .retain(|(_, e)| !matches!(e, RevocationEntry::Token { exp, .. } if *exp < before));
        Ok(dropped.len() as u64)
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let mut log = lock(&self.audit);
        for event in events {
            log.next_seq += 1;
            let mut event = event.clone();
            event.seq = log.next_seq;
            log.events.push(event);
        }
        Ok(())
    }

    async fn list_audit(
        &self,
        client_id: Option<&ClientId>,
        before: Option<u64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEvent, u64>> {
        let log = lock(&self.audit);
        let mut items: Vec<AuditEvent> = log
            .events
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.seq < b))
            .filter(|e| client_id.is_none_or(|c| e.client_id.as_ref() == Some(c)))
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
}

//! The issuer's signing keys: loaded from the store, sealed before they are
//! saved, rotated by m2m-core's [`KeyRing`].
//!
//! Readers (the token endpoint, JWKS, admin auth) take a snapshot from an
//! `ArcSwap` without locking. Writers (start, rotation, refresh) build a new
//! snapshot and swap it in; rotations on one node are serialized by a mutex,
//! and across replicas by the store's compare-and-swap `save_key_ring`.
//!
//! Timeline of a rotation at time `t` (policy `prepublish`, `retain`):
//! the new key is published at `t` and signs from `t + prepublish`; the old
//! key signs until `t + prepublish` and stays published until
//! `t + prepublish + retain`, after which the next refresh prunes it.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use m2m_core::{
    Algorithm, JwkSet, KeyRing, KeySchedule, KeySet, RingEntry, RotationPolicy, SigningKey,
};
use tokio::sync::{Mutex, watch};

use crate::IssuerError;
use crate::keycrypt::KeyCrypt;
use crate::store::{Store, StoredKey};

/// One consistent view of the ring.
pub(crate) struct KeySnapshot {
    ring: KeyRing<Arc<SigningKey>>,
    /// The records as stored, for compare-and-swap and re-saving.
    stored: Vec<StoredKey>,
}

impl KeySnapshot {
    fn kids(&self) -> Vec<String> {
        self.stored.iter().map(|k| k.kid.clone()).collect()
    }

    /// The key that signs at `now`.
    pub(crate) fn signing_key(&self, now: u64) -> Option<&Arc<SigningKey>> {
        self.ring.signing_key(now)
    }

    /// The public keys published at `now`.
    pub(crate) fn jwks(&self, now: u64) -> JwkSet {
        JwkSet {
            keys: self
                .ring
                .published(now)
                .map(|k| k.public_jwk().clone())
                .collect(),
        }
    }

    /// The keys that verify tokens at `now` (the published ones).
    pub(crate) fn verifying_keys(&self, now: u64) -> KeySet {
        KeySet::from_keys(self.ring.published(now).map(|k| k.verifying_key()))
    }
}

pub(crate) struct KeyManager {
    snapshot: ArcSwap<KeySnapshot>,
    jwks_tx: watch::Sender<JwkSet>,
    write: Mutex<()>,
    alg: Algorithm,
    policy: RotationPolicy,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot.load();
        f.debug_struct("KeyManager")
            .field("kids", &snapshot.kids())
            .field("alg", &self.alg)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// What a rotation scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new key's id.
    pub kid: String,
    /// When it starts signing (seconds since the epoch).
    pub signs_from: u64,
    /// The new key's full schedule.
    pub schedule: KeySchedule,
}

async fn generate(alg: Algorithm) -> Result<SigningKey, IssuerError> {
    if alg == Algorithm::RS256 {
        // RSA key generation takes a while: keep it off the async workers.
        tokio::task::spawn_blocking(move || SigningKey::generate(alg))
            .await
            .map_err(|_| IssuerError::Config("key generation task failed".into()))?
            .map_err(IssuerError::from)
    } else {
        Ok(SigningKey::generate(alg)?)
    }
}

/// Builds a snapshot from stored records, reusing keys already opened.
fn open_all(
    stored: Vec<StoredKey>,
    crypt: &KeyCrypt,
    known: &HashMap<String, Arc<SigningKey>>,
) -> Result<KeySnapshot, IssuerError> {
    let mut entries = Vec::with_capacity(stored.len());
    for record in &stored {
        let key = match known.get(&record.kid) {
            Some(key) => Arc::clone(key),
            None => {
                let der = crypt
                    .open(&record.kid, &record.encrypted_private_key)
                    .map_err(|_| IssuerError::KeyDecryption {
                        kid: record.kid.clone(),
                    })?;
                let key = SigningKey::from_pkcs8_der(&der)?;
                if key.kid() != record.kid {
                    return Err(IssuerError::Store(crate::store::StoreError::Corrupt(
                        format!(
                            "stored key {} opens to a key with kid {}",
                            record.kid,
                            key.kid()
                        ),
                    )));
                }
                Arc::new(key)
            }
        };
        entries.push(RingEntry {
            key,
            schedule: record.schedule,
        });
    }
    Ok(KeySnapshot {
        ring: KeyRing::from_entries(entries),
        stored,
    })
}

fn known_keys(snapshot: &KeySnapshot) -> HashMap<String, Arc<SigningKey>> {
    snapshot
        .ring
        .entries()
        .iter()
        .map(|e| (e.key.kid().to_owned(), Arc::clone(&e.key)))
        .collect()
}

/// The stored records for `ring`, reusing sealed blobs of known keys.
fn to_stored(
    ring: &KeyRing<Arc<SigningKey>>,
    previous: &[StoredKey],
    crypt: &KeyCrypt,
) -> Result<Vec<StoredKey>, IssuerError> {
    ring.entries()
        .iter()
        .map(|entry| {
            let kid = entry.key.kid();
            let encrypted_private_key = match previous.iter().find(|k| k.kid == kid) {
                Some(old) => old.encrypted_private_key.clone(),
                None => crypt.seal(kid, entry.key.pkcs8_der())?,
            };
            Ok(StoredKey {
                kid: kid.to_owned(),
                alg: entry.key.algorithm(),
                encrypted_private_key,
                public_jwk: entry.key.public_jwk().clone(),
                schedule: entry.schedule,
            })
        })
        .collect()
}

const CAS_ATTEMPTS: usize = 5;

impl KeyManager {
    /// Loads the ring from the store; on an empty store, makes the first key.
    pub(crate) async fn start(
        store: &dyn Store,
        crypt: &KeyCrypt,
        alg: Algorithm,
        policy: RotationPolicy,
        now: u64,
    ) -> Result<Self, IssuerError> {
        let mut snapshot = open_all(store.list_keys().await?, crypt, &HashMap::new())?;
        for _ in 0..CAS_ATTEMPTS {
            if !snapshot.stored.is_empty() {
                break;
            }
            let mut ring = KeyRing::new();
            ring.insert_first(Arc::new(generate(alg).await?), now);
            let stored = to_stored(&ring, &[], crypt)?;
            if store.save_key_ring(&stored, &[], None).await? {
                snapshot = KeySnapshot { ring, stored };
            } else {
                // Another replica made the first key: use theirs.
                snapshot = open_all(store.list_keys().await?, crypt, &HashMap::new())?;
            }
        }
        if snapshot.ring.signing_key(now).is_none() && snapshot.stored.is_empty() {
            return Err(IssuerError::Config(
                "could not create the first signing key".into(),
            ));
        }
        let (jwks_tx, _) = watch::channel(snapshot.jwks(now));
        Ok(KeyManager {
            snapshot: ArcSwap::from_pointee(snapshot),
            jwks_tx,
            write: Mutex::new(()),
            alg,
            policy,
        })
    }

    pub(crate) fn snapshot(&self) -> arc_swap::Guard<Arc<KeySnapshot>> {
        self.snapshot.load()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<JwkSet> {
        self.jwks_tx.subscribe()
    }

    fn install(&self, snapshot: KeySnapshot, now: u64) {
        let jwks = snapshot.jwks(now);
        self.snapshot.store(Arc::new(snapshot));
        self.jwks_tx.send_if_modified(|current| {
            if *current == jwks {
                false
            } else {
                *current = jwks;
                true
            }
        });
    }

    /// Reloads the ring from the store (picks up other replicas' rotations)
    /// and republishes what is published at `now`.
    pub(crate) async fn refresh(
        &self,
        store: &dyn Store,
        crypt: &KeyCrypt,
        now: u64,
    ) -> Result<(), IssuerError> {
        let _write = self.write.lock().await;
        let known = known_keys(&self.snapshot.load());
        let snapshot = open_all(store.list_keys().await?, crypt, &known)?;
        if snapshot.stored.is_empty() {
            // Someone emptied the store; keep serving with what we hold.
            tracing::warn!("the store holds no signing keys; keeping the keys in memory");
            return Ok(());
        }
        self.install(snapshot, now);
        Ok(())
    }

    /// Schedules a new key (compare-and-swap against the store, retried on
    /// a concurrent change) and prunes dropped keys.
    pub(crate) async fn rotate(
        &self,
        store: &dyn Store,
        crypt: &KeyCrypt,
        now: u64,
    ) -> Result<Rotation, IssuerError> {
        let _write = self.write.lock().await;
        let key = Arc::new(generate(self.alg).await?);
        for _ in 0..CAS_ATTEMPTS {
            let known = known_keys(&self.snapshot.load());
            let current = open_all(store.list_keys().await?, crypt, &known)?;
            let expected = current.kids();
            let mut ring = current.ring;
            let schedule = ring.schedule_next(Arc::clone(&key), now, &self.policy);
            ring.prune(now);
            let stored = to_stored(&ring, &current.stored, crypt)?;
            if store.save_key_ring(&stored, &expected, None).await? {
                self.install(KeySnapshot { ring, stored }, now);
                tracing::info!(
                    kid = key.kid(),
                    signs_from = schedule.signs_from,
                    "signing key rotation scheduled"
                );
                return Ok(Rotation {
                    kid: key.kid().to_owned(),
                    signs_from: schedule.signs_from,
                    schedule,
                });
            }
        }
        Err(IssuerError::Config(
            "key ring kept changing under the rotation; try again".into(),
        ))
    }

    /// The periodic check: reload, rotate if due, prune dropped keys.
    pub(crate) async fn tick(
        &self,
        store: &dyn Store,
        crypt: &KeyCrypt,
        now: u64,
    ) -> Result<Option<Rotation>, IssuerError> {
        self.refresh(store, crypt, now).await?;
        let snapshot = self.snapshot.load_full();
        if snapshot.ring.rotation_due(now, &self.policy) {
            return self.rotate(store, crypt, now).await.map(Some);
        }
        let dropped = snapshot
            .ring
            .entries()
            .iter()
            .any(|e| e.schedule.state_at(now) == m2m_core::KeyState::Dropped);
        if dropped {
            let _write = self.write.lock().await;
            let current = self.snapshot.load_full();
            let expected = current.kids();
            let mut ring = KeyRing::from_entries(current.ring.entries().to_vec());
            ring.prune(now);
            let stored = to_stored(&ring, &current.stored, crypt)?;
            if store.save_key_ring(&stored, &expected, None).await? {
                self.install(KeySnapshot { ring, stored }, now);
            }
        }
        Ok(None)
    }
}

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
//! Rotating again before the new key signs supersedes it: the waiting key is
//! dropped unused and the newer one waits the full prepublication time.
//!
//! Revoking a key (an emergency: it leaked) takes it out of the ring at once,
//! in the same store transaction as its entry in the revocation log; if no
//! key signs afterwards, a new one is made that signs at once (no
//! prepublication: verifiers learn it through an unknown-kid re-fetch). Every
//! in-process guard sees the new key set before the call returns; other
//! replicas reload their ring when their revocation follower reads the
//! entry.
//!
//! Every change of the published set is pushed, synchronously, into the
//! [`InProcessKeys`] that this issuer's in-process guards share.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use m2m_core::{
    Algorithm, ClientId, JwkSet, KeyRing, KeySchedule, KeyState, Revocation, RevokedKey, RingEntry,
    RotationPolicy, SigningKey,
};
use m2m_guard::InProcessKeys;
use tokio::sync::{Mutex, watch};

use super::audit::{AuditEvent, AuditSink};
use super::keycrypt::KeyCrypt;
use super::revocation::RevocationState;
use crate::IssuerError;
use crate::store::{ExchangedFrom, Store, StoredKey};

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
}

pub(crate) struct KeyManager {
    store: Arc<dyn Store>,
    crypt: KeyCrypt,
    snapshot: ArcSwap<KeySnapshot>,
    jwks_tx: watch::Sender<JwkSet>,
    in_process: InProcessKeys,
    revocations: Arc<RevocationState>,
    audit: Arc<AuditSink>,
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

/// What revoking a key did ([`Issuer::revoke_key`](crate::Issuer::revoke_key)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRevocation {
    /// The revoked key.
    pub kid: String,
    /// The key made to sign at once because the revoked one was the only
    /// signer, if one was needed.
    pub replacement: Option<String>,
}

/// One signing key of the ring and where it is in its life
/// ([`KeyManager::timeline`]): what the admin API's `GET /admin/keys` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyStatus {
    /// The key id.
    pub(crate) kid: String,
    /// The algorithm it signs with.
    pub(crate) alg: Algorithm,
    /// Its state at the time asked.
    pub(crate) state: KeyState,
    /// When it was made, signs, stops signing and leaves the JWKS.
    pub(crate) schedule: KeySchedule,
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
    /// The key that was waiting to sign (pre-published by an earlier
    /// rotation) and never will now: the new key takes its place. `None`
    /// when no key was waiting.
    pub superseded: Option<String>,
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

/// What [`KeyManager::start`] needs besides the store.
pub(crate) struct KeySettings {
    pub(crate) crypt: KeyCrypt,
    pub(crate) alg: Algorithm,
    pub(crate) policy: RotationPolicy,
    pub(crate) revocations: Arc<RevocationState>,
    pub(crate) audit: Arc<AuditSink>,
}

impl KeyManager {
    /// Loads the ring from the store; on an empty store, makes the first key.
    pub(crate) async fn start(
        store: Arc<dyn Store>,
        settings: KeySettings,
        now: u64,
    ) -> Result<Self, IssuerError> {
        let KeySettings {
            crypt,
            alg,
            policy,
            revocations,
            audit,
        } = settings;
        let crypt = &crypt;
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
        let jwks = snapshot.jwks(now);
        let in_process = InProcessKeys::new();
        in_process.set_jwk_set(&jwks)?;
        let (jwks_tx, _) = watch::channel(jwks);
        Ok(KeyManager {
            crypt: crypt.clone(),
            store,
            snapshot: ArcSwap::from_pointee(snapshot),
            jwks_tx,
            in_process,
            revocations,
            audit,
            write: Mutex::new(()),
            alg,
            policy,
        })
    }

    /// The keys this issuer's in-process guards verify with.
    pub(crate) fn in_process(&self) -> &InProcessKeys {
        &self.in_process
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
        if let Err(error) = self.in_process.set_jwk_set(&jwks) {
            tracing::error!(%error, "in-process guards could not load this issuer's keys");
        }
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
    pub(crate) async fn refresh(&self, now: u64) -> Result<(), IssuerError> {
        let (store, crypt) = (&*self.store, &self.crypt);
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
    /// a concurrent change) and prunes dropped keys; `actor` is audited.
    pub(crate) async fn rotate(
        &self,
        actor: Option<&ClientId>,
        now: u64,
    ) -> Result<Rotation, IssuerError> {
        let rotation = self.rotate_locked(now).await?;
        if let Some(actor) = actor {
            self.audit.record(
                now,
                AuditEvent::KeysRotated {
                    actor: actor.clone(),
                    kid: rotation.kid.clone(),
                    signs_from: rotation.signs_from,
                },
            );
        }
        Ok(rotation)
    }

    async fn rotate_locked(&self, now: u64) -> Result<Rotation, IssuerError> {
        let (store, crypt) = (&*self.store, &self.crypt);
        let _write = self.write.lock().await;
        let key = Arc::new(generate(self.alg).await?);
        for _ in 0..CAS_ATTEMPTS {
            let known = known_keys(&self.snapshot.load());
            let current = open_all(store.list_keys().await?, crypt, &known)?;
            let expected = current.kids();
            let mut ring = current.ring;
            let superseded = ring
                .entries()
                .iter()
                .rev()
                .find(|e| e.schedule.state_at(now) == m2m_core::KeyState::Next)
                .map(|e| e.key.kid().to_owned());
            let schedule = ring.schedule_next(Arc::clone(&key), now, &self.policy);
            ring.prune(now);
            let stored = to_stored(&ring, &current.stored, crypt)?;
            if store.save_key_ring(&stored, &expected, None).await? {
                self.install(KeySnapshot { ring, stored }, now);
                tracing::info!(
                    kid = key.kid(),
                    signs_from = schedule.signs_from,
                    ?superseded,
                    "signing key rotation scheduled"
                );
                return Ok(Rotation {
                    kid: key.kid().to_owned(),
                    signs_from: schedule.signs_from,
                    schedule,
                    superseded,
                });
            }
        }
        Err(IssuerError::KeyRingBusy)
    }

    /// Revokes the key `kid` at `now` (see the module docs): out of the ring
    /// and into the revocation log in one store transaction, a replacement
    /// made if no key would sign, every in-process guard refusing its tokens
    /// and knowing the new key set before this returns, `actor` audited.
    pub(crate) async fn revoke(
        &self,
        actor: &ClientId,
        kid: &str,
        now: u64,
    ) -> Result<KeyRevocation, IssuerError> {
        let revoked = RevokedKey::new(kid, now);
        let (store, crypt) = (&*self.store, &self.crypt);
        let _write = self.write.lock().await;
        // Made before the loop so a retry does not make another.
        let mut spare: Option<Arc<SigningKey>> = None;
        for _ in 0..CAS_ATTEMPTS {
            let known = known_keys(&self.snapshot.load());
            let current = open_all(store.list_keys().await?, crypt, &known)?;
            let expected = current.kids();
            let mut ring = current.ring;
            if ring.remove(|key| key.kid() == kid).is_none() {
                return Err(IssuerError::UnknownKey(kid.to_owned()));
            }
            let mut replacement = None;
            if ring.signing_key(now).is_none() {
                let key = match &spare {
                    Some(key) => Arc::clone(key),
                    None => Arc::clone(spare.insert(Arc::new(generate(self.alg).await?))),
                };
                replacement = Some(key.kid().to_owned());
                ring.insert_now(key, now, &self.policy);
            }
            let stored = to_stored(&ring, &current.stored, crypt)?;
            if store
                .save_key_ring(&stored, &expected, Some(&revoked))
                .await?
            {
                self.install(KeySnapshot { ring, stored }, now);
                self.revocations.apply(&revoked.clone().into());
                // Tokens exchanged (RFC 8693) from the key's tokens were
                // signed by other keys: revoke them one by one, transitively.
                let exchanged = store
                    .revoke_exchanged(ExchangedFrom::Key(kid), 0, now)
                    .await?;
                self.audit.exchanged_revoked(&exchanged, now);
                for token in exchanged {
                    self.revocations.apply(&Revocation::Token(token));
                }
                tracing::warn!(kid, ?replacement, "signing key revoked");
                self.audit.record(
                    now,
                    AuditEvent::KeyRevoked {
                        actor: actor.clone(),
                        kid: kid.to_owned(),
                        replacement: replacement.clone(),
                    },
                );
                return Ok(KeyRevocation {
                    kid: kid.to_owned(),
                    replacement,
                });
            }
        }
        Err(IssuerError::KeyRingBusy)
    }

    /// The keys of the ring as stored (so another replica's rotation shows
    /// at once), in the order they sign, with their state at `now`. A revoked key has
    /// left the ring (its revocation is in the audit log and the feed); a
    /// dropped one that the next refresh has not pruned yet is left out.
    pub(crate) async fn timeline(&self, now: u64) -> Result<Vec<KeyStatus>, IssuerError> {
        let mut keys: Vec<KeyStatus> = self
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(|key| KeyStatus {
                state: key.schedule.state_at(now),
                kid: key.kid,
                alg: key.alg,
                schedule: key.schedule,
            })
            .filter(|key| key.state != KeyState::Dropped)
            .collect();
        keys.sort_by(|a, b| {
            let order = |k: &KeyStatus| (k.schedule.signs_from, k.schedule.created_at);
            order(a).cmp(&order(b)).then_with(|| a.kid.cmp(&b.kid))
        });
        Ok(keys)
    }

    /// The periodic check: reload, rotate if due, prune dropped keys.
    pub(crate) async fn tick(&self, now: u64) -> Result<Option<Rotation>, IssuerError> {
        self.refresh(now).await?;
        let (store, crypt) = (&*self.store, &self.crypt);
        let snapshot = self.snapshot.load_full();
        if snapshot.ring.rotation_due(now, &self.policy) {
            return self.rotate(None, now).await.map(Some);
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

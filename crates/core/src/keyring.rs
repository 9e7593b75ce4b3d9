//! Signing-key rotation as pure functions of time.
//!
//! A key moves through four states, each derived from its [`KeySchedule`] and
//! the current time, so an issuer can persist schedules, drive rotation from
//! any replica, and tests can fast-forward a clock:
//!
//! | state | published in the JWKS | signs |
//! |---|---|---|
//! | [`KeyState::Next`] | yes | not yet: verifiers fetch it first |
//! | [`KeyState::Current`] | yes | yes |
//! | [`KeyState::Retired`] | yes, until its tokens have expired | no |
//! | [`KeyState::Dropped`] | no | no |
//!
//! ```
//! use m2m_core::{KeyRing, KeyState, RotationPolicy};
//! let policy = RotationPolicy::default();
//! let mut ring = KeyRing::new();
//! ring.insert_first("k1", 0);
//! let next = ring.schedule_next("k2", 100, &policy);
//! assert_eq!(ring.signing_key(100), Some(&"k1"));           // a fresh key does not sign yet
//! assert_eq!(next.state_at(100), KeyState::Next);
//! let switch = 100 + policy.prepublish_secs;
//! assert_eq!(ring.signing_key(switch), Some(&"k2"));
//! assert_eq!(ring.published(switch).count(), 2);           // k1 still verifies its tokens
//! assert_eq!(ring.published(switch + policy.retain_secs).count(), 1);
//! ```

use serde::{Deserialize, Serialize};

/// When a key is published, signs, and is dropped. Times are seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchedule {
    /// When the key was made and first published.
    pub created_at: u64,
    /// From when it signs.
    pub signs_from: u64,
    /// Until when it signs; set once a successor is scheduled.
    pub signs_until: Option<u64>,
    /// Until when it is published; set once a successor is scheduled.
    pub published_until: Option<u64>,
}

impl KeySchedule {
    /// The key's state at `now`.
    pub fn state_at(&self, now: u64) -> KeyState {
        if self.published_until.is_some_and(|t| now >= t) {
            KeyState::Dropped
        } else if now < self.signs_from {
            KeyState::Next
        } else if self.signs_until.is_some_and(|t| now >= t) {
            KeyState::Retired
        } else {
            KeyState::Current
        }
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Published and signing.
    Current,
    /// Published so its tokens still verify; no longer signing.
    Retired,
    /// Gone from the JWKS.
    Dropped,
}

/// How keys rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a new key is published before it signs. Keep it at least the
    /// JWKS max-age, so every verifier has the key before the first token.
    pub prepublish_secs: u64,
    /// How long a key signs before the next rotation is due.
    pub rotate_every_secs: u64,
    /// How long a key stays published after it stops signing: at least the
    /// longest token lifetime plus the verifiers' leeway.
    pub retain_secs: u64,
}

impl Default for RotationPolicy {
    /// Prepublish one hour, rotate every 30 days, retain one day and a minute
    /// (the longest token lifetime plus the default leeway).
    fn default() -> Self {
        RotationPolicy {
            prepublish_secs: 3_600,
            rotate_every_secs: 30 * 86_400,
            retain_secs: 86_400 + 60,
        }
    }
}

/// One key in a ring and its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingEntry<K> {
    /// The key (a signing key in an issuer; any value in tests).
    pub key: K,
    /// Its schedule.
    pub schedule: KeySchedule,
}

/// A set of keys with schedules: which one signs and which are published at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing<K> {
    entries: Vec<RingEntry<K>>,
}

impl<K> Default for KeyRing<K> {
    fn default() -> Self {
        KeyRing {
            entries: Vec::new(),
        }
    }
}

impl<K> KeyRing<K> {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ring of keys with known schedules (as loaded from a store).
    pub fn from_entries(entries: impl IntoIterator<Item = RingEntry<K>>) -> Self {
        KeyRing {
            entries: entries.into_iter().collect(),
        }
    }

    /// Adds the very first key, which signs at once (nothing can verify
    /// anything yet, so there is nobody to prepublish to).
    pub fn insert_first(&mut self, key: K, now: u64) -> KeySchedule {
        let schedule = KeySchedule {
            created_at: now,
            signs_from: now,
            signs_until: None,
            published_until: None,
        };
        self.entries.push(RingEntry { key, schedule });
        schedule
    }

    /// Schedules `key` to sign after the prepublication time. The key signing
    /// now keeps signing until `key` starts, and is dropped `retain_secs`
    /// later. A key still waiting to sign is superseded: it never signs, and
    /// is dropped at once. Returns the new key's schedule.
    pub fn schedule_next(&mut self, key: K, now: u64, policy: &RotationPolicy) -> KeySchedule {
        let start = now.saturating_add(policy.prepublish_secs);
        for entry in &mut self.entries {
            let schedule = &mut entry.schedule;
            if schedule.signs_from > now {
                schedule.signs_until = Some(schedule.signs_from);
                schedule.published_until = Some(now);
            } else if schedule.signs_until.is_none_or(|until| until > now) {
                schedule.signs_until = Some(start);
                schedule.published_until = Some(start.saturating_add(policy.retain_secs));
            }
        }
        let schedule = KeySchedule {
            created_at: now,
            signs_from: start,
            signs_until: None,
            published_until: None,
        };
        self.entries.push(RingEntry { key, schedule });
        schedule
    }

    /// Takes out the first key that `is_it` picks (a compromised key being
    /// revoked): it stops signing and leaves the published set at once.
    /// Returns it, or `None` if no key matched. Afterwards there may be no
    /// signing key: see [`KeyRing::insert_now`].
    pub fn remove(&mut self, is_it: impl Fn(&K) -> bool) -> Option<RingEntry<K>> {
        let index = self.entries.iter().position(|e| is_it(&e.key))?;
        Some(self.entries.remove(index))
    }

    /// Adds `key` to sign at once, with no prepublication: for an emergency,
    /// after [`KeyRing::remove`] took out the only signing key. If a key is
    /// waiting to sign, `key` signs until that one starts and is retired on
    /// the usual schedule. Returns `key`'s schedule.
    ///
    /// ```
    /// use m2m_core::{KeyRing, RotationPolicy};
    /// let policy = RotationPolicy::default();
    /// let mut ring = KeyRing::new();
    /// ring.insert_first("leaked", 0);
    /// ring.remove(|k| *k == "leaked");
    /// assert_eq!(ring.signing_key(10), None);
    /// ring.insert_now("fresh", 10, &policy);
    /// assert_eq!(ring.signing_key(10), Some(&"fresh"));
    /// ```
    pub fn insert_now(&mut self, key: K, now: u64, policy: &RotationPolicy) -> KeySchedule {
        let waiting = self
            .entries
            .iter()
            .filter(|e| e.schedule.state_at(now) == KeyState::Next)
            .map(|e| e.schedule.signs_from)
            .min();
        let schedule = KeySchedule {
            created_at: now,
            signs_from: now,
            signs_until: waiting,
            published_until: waiting.map(|start| start.saturating_add(policy.retain_secs)),
        };
        self.entries.push(RingEntry { key, schedule });
        schedule
    }

    /// The key that signs at `now`: the current key that started last.
    pub fn signing_key(&self, now: u64) -> Option<&K> {
        self.entries
            .iter()
            .filter(|e| e.schedule.state_at(now) == KeyState::Current)
            .max_by_key(|e| e.schedule.signs_from)
            .map(|e| &e.key)
    }

    /// The keys published at `now`: next, current and retired.
    pub fn published(&self, now: u64) -> impl Iterator<Item = &K> {
        self.entries
            .iter()
            .filter(move |e| e.schedule.state_at(now) != KeyState::Dropped)
            .map(|e| &e.key)
    }

    /// Whether a rotation is due at `now`: no key is waiting to sign, and the
    /// signing key has signed for `rotate_every_secs` (or there is none).
    pub fn rotation_due(&self, now: u64, policy: &RotationPolicy) -> bool {
        if self
            .entries
            .iter()
            .any(|e| e.schedule.state_at(now) == KeyState::Next)
        {
            return false;
        }
        let newest_signer = self
            .entries
            .iter()
            .filter(|e| e.schedule.state_at(now) == KeyState::Current)
            .map(|e| e.schedule.signs_from)
            .max();
        newest_signer.is_none_or(|from| from.saturating_add(policy.rotate_every_secs) <= now)
    }

    /// Removes and returns the keys dropped at `now`.
    pub fn prune(&mut self, now: u64) -> Vec<RingEntry<K>> {
        let (dropped, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.schedule.state_at(now) == KeyState::Dropped);
        self.entries = kept;
        dropped
    }

    /// Every entry, whatever its state.
    pub fn entries(&self) -> &[RingEntry<K>] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RotationPolicy = RotationPolicy {
        prepublish_secs: 10,
        rotate_every_secs: 100,
        retain_secs: 50,
    };

    #[test]
    fn full_life_of_a_key() {
        let mut ring = KeyRing::new();
        let first = ring.insert_first('a', 0);
        assert_eq!(first.state_at(0), KeyState::Current);
        assert!(!ring.rotation_due(99, &P));
        assert!(ring.rotation_due(100, &P));

        ring.schedule_next('b', 100, &P);
        assert!(!ring.rotation_due(105, &P), "b is waiting to sign");
        assert_eq!(ring.signing_key(109), Some(&'a'));
        assert_eq!(ring.published(109).collect::<Vec<_>>(), vec![&'a', &'b']);
        assert_eq!(ring.signing_key(110), Some(&'b'));
        assert_eq!(ring.entries()[0].schedule.state_at(110), KeyState::Retired);
        assert_eq!(ring.published(159).count(), 2);
        assert_eq!(ring.published(160).collect::<Vec<_>>(), vec![&'b']);
        assert_eq!(ring.prune(160).len(), 1);
        assert_eq!(ring.entries().len(), 1);
        assert!(ring.rotation_due(210, &P));
    }

    #[test]
    fn an_emergency_key_signs_at_once_and_yields_to_a_waiting_one() {
        let mut ring = KeyRing::new();
        ring.insert_first('a', 0);
        ring.schedule_next('b', 100, &P);
        assert_eq!(ring.remove(|k| *k == 'a').map(|e| e.key), Some('a'));
        assert_eq!(ring.signing_key(105), None, "b does not sign yet");
        assert!(!ring.published(105).any(|k| *k == 'a'), "a left at once");
        ring.insert_now('c', 105, &P);
        assert_eq!(ring.signing_key(105), Some(&'c'));
        assert_eq!(ring.signing_key(110), Some(&'b'), "b starts on time");
        assert_eq!(ring.published(159).count(), 2, "c's tokens still verify");
        assert_eq!(ring.published(160).collect::<Vec<_>>(), vec![&'b']);
        assert!(ring.remove(|k| *k == 'z').is_none());
    }

    #[test]
    fn rotating_twice_supersedes_the_waiting_key() {
        let mut ring = KeyRing::new();
        ring.insert_first('a', 0);
        ring.schedule_next('b', 100, &P);
        ring.schedule_next('c', 105, &P);
        assert_eq!(ring.signing_key(105), Some(&'a'));
        assert_eq!(ring.published(105).collect::<Vec<_>>(), vec![&'a', &'c']);
        assert_eq!(ring.signing_key(115), Some(&'c'));
        // b never signs; a keeps signing until c starts, with no gap.
        assert_eq!(ring.signing_key(112), Some(&'a'));
        assert_eq!(ring.published(165).collect::<Vec<_>>(), vec![&'c']);
    }
}

//! Throttling of failed client authentication, per client id and per source
//! address, in memory; and [`RateLimit`], a limit on every request per
//! source address (dynamic client registration), in the same bounded windows.
//!
//! Only failures are counted and only failures are throttled: the caller
//! checks the credential first, and asks [`Throttle::failed`] what a failure
//! is answered with. A request with a valid credential never reaches the
//! throttle, so nobody can lock a client (or everyone behind one address)
//! out by sending bad secrets in its name.
//!
//! A fixed window opens at a key's first failure and lasts `window_secs`;
//! once a key has `limit` failures in its window, its further failures are
//! answered 429 `slow_down` with `Retry-After` until the window ends. A
//! throttled failure is not counted again and writes nothing, so a flood of
//! them costs a lookup each. With several replicas sharing a store
//! ([`Throttle::shared`], what the issuer builds), each failure is also
//! added to a count in the store (windows aligned to the clock), so the
//! limits hold for all replicas together: ten failures per client id is ten
//! in all, not ten per replica.
//!
//! Source addresses are keyed by [`address_key`]: IPv4 per address, IPv6 per
//! /64 (one customer's network, which can hold any number of addresses),
//! IPv4-mapped IPv6 as the IPv4 address.
//!
//! # Bounds
//!
//! Each map holds at most `max_entries` keys, and every operation is O(1):
//! a full map evicts one entry to make room, chosen without a sweep. Keys
//! sit in two lists in the order their window opened (or they reached the
//! limit): those still *counting* and those *throttled*. The victim is an
//! expired entry at the head of either list if there is one, else the
//! oldest counting entry (which forgets fewer than `limit` failures), and
//! only when every entry is throttled, the oldest throttled one (the next
//! to expire anyway). So a full map never fails open: to lift one
//! throttled key early, an attacker must first make every other tracked key
//! throttled too, `max_entries × limit` failures inside one window, which
//! the other map limits in turn (a throttled failure adds no key).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::Store;

/// Throttling limits for failed client authentication.
///
/// ```
/// use m2m_issuer::ThrottleConfig;
/// let config = ThrottleConfig { max_failures_per_client: 5, ..ThrottleConfig::default() };
/// assert_eq!(config.max_failures_per_address, 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failed authentications for one client id within the window before 429. Default 10.
    pub max_failures_per_client: u32,
    /// Failed authentications from one source address (IPv6: one /64)
    /// within the window before 429. Default 100.
    pub max_failures_per_address: u32,
    /// The window, in seconds. Default 60.
    pub window_secs: u64,
    /// Keys tracked per map (client ids, source addresses) at most (taken as
    /// at least one). Default 100,000 (a few MB per map). A full map makes
    /// room in O(1) and never fails open: it evicts an expired window, else
    /// the oldest key still below its limit, and only when every key is
    /// throttled the oldest throttled one (the next to expire anyway).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures_per_client: 10,
            max_failures_per_address: 100,
            window_secs: 60,
            max_entries: 100_000,
        }
    }
}

/// The key a source address counts under: IPv4 as is (IPv4-mapped IPv6
/// too), IPv6 with the low 64 bits cleared.
pub(crate) fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[derive(Debug)]
pub(crate) struct Throttle {
    by_client: Mutex<Windows<String>>,
    by_address: Mutex<Windows<IpAddr>>,
    /// The shared counts, when the throttle is shared by replicas.
    shared: Option<Shared>,
}

/// The failure counts every replica adds to (`Store::add_usage`, subjects
/// `fail:client:ID` and `fail:addr:ADDRESS`, windows aligned to the clock),
/// and the keys this replica saw over a shared limit, so their further
/// failures are answered from memory.
#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    limit_client: u32,
    limit_address: u32,
    window_secs: u64,
    blocked_clients: Mutex<Windows<String>>,
    blocked_addresses: Mutex<Windows<IpAddr>>,
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Throttle {
            by_client: Mutex::new(Windows::new(
                config.max_failures_per_client,
                config.window_secs,
                config.max_entries,
            )),
            by_address: Mutex::new(Windows::new(
                config.max_failures_per_address,
                config.window_secs,
                config.max_entries,
            )),
            shared: None,
        }
    }

    /// A throttle whose counts are also kept in `store`, so that the limits
    /// hold for all replicas together (see [`Throttle::failed_shared`]).
    pub(crate) fn shared(config: ThrottleConfig, store: Arc<dyn Store>) -> Self {
        let window = config.window_secs.max(1);
        Throttle {
            shared: Some(Shared {
                store,
                limit_client: config.max_failures_per_client,
                limit_address: config.max_failures_per_address,
                window_secs: window,
                blocked_clients: Mutex::new(Windows::new(1, window, config.max_entries)),
                blocked_addresses: Mutex::new(Windows::new(1, window, config.max_entries)),
            }),
            ..Throttle::new(config)
        }
    }

    /// [`Throttle::failed`] across replicas: a key this replica knows is
    /// throttled (by its own count, or by a shared count it saw over the
    /// limit) is answered from memory; else the failure is counted here and
    /// added to the shared counts, and if either is past its limit the
    /// failure is answered with the seconds until that shared window ends
    /// (and the key remembered). One store write per key per failure that
    /// is not throttled; a throttled failure writes nothing. If the store
    /// fails, the replica's own count still holds (logged).
    pub(crate) async fn failed_shared(
        &self,
        client_id: &str,
        address: Option<IpAddr>,
        now: u64,
    ) -> Option<u64> {
        let Some(shared) = &self.shared else {
            return self.failed(client_id, address, now);
        };
        let address = address.map(address_key);
        {
            let clients = lock(&shared.blocked_clients);
            let addresses = lock(&shared.blocked_addresses);
            let client = clients.retry_after(client_id, now);
            let source = address.and_then(|a| addresses.retry_after(&a, now));
            if client.is_some() || source.is_some() {
                return client.max(source);
            }
        }
        if let Some(wait) = self.failed(client_id, address, now) {
            return Some(wait);
        }
        let secs = shared.window_secs;
        let start = now - now % secs;
        let wait = (start + secs).saturating_sub(now).max(1);
        let count = |subject: String| {
            let store = Arc::clone(&shared.store);
            async move {
                store
                    .add_usage(&subject, secs, start, 1)
                    .await
                    .inspect_err(|error| {
                        tracing::warn!(%error, "failure throttle: the shared count failed");
                    })
                    .unwrap_or(0)
            }
        };
        let mut throttled = false;
        if count(format!("fail:client:{client_id}")).await > u64::from(shared.limit_client) {
            lock(&shared.blocked_clients).record(client_id, now);
            throttled = true;
        }
        if let Some(address) = address
            && count(format!("fail:addr:{address}")).await > u64::from(shared.limit_address)
        {
            lock(&shared.blocked_addresses).record(&address, now);
            throttled = true;
        }
        throttled.then_some(wait)
    }

    /// A failed authentication for `client_id` from `address` at `now`: the
    /// seconds to wait if the client id or the address is throttled (the
    /// failure is then not counted), else `None` after counting it.
    pub(crate) fn failed(&self, client_id: &str, address: Option<IpAddr>, now: u64) -> Option<u64> {
        let address = address.map(address_key);
        let mut by_client = lock(&self.by_client);
        let mut by_address = lock(&self.by_address);
        let client = by_client.retry_after(client_id, now);
        let source = address.and_then(|a| by_address.retry_after(&a, now));
        if client.is_some() || source.is_some() {
            return client.max(source);
        }
        by_client.record(client_id, now);
        if let Some(address) = address {
            by_address.record(&address, now);
        }
        None
    }
}

/// Refused requests a [`RateLimit`] reports for audit per window at most,
/// over all addresses: one per address per window, and never more than this.
pub(crate) const MAX_AUDITED_REFUSALS: u32 = 100;

/// What [`RateLimit::admit`] says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted; go on.
    Admitted,
    /// Over the limit: retry after this many seconds. `audit` is true for the
    /// first refusal of the address in a window (and at most
    /// [`MAX_AUDITED_REFUSALS`] per window in all), so a flood of refused
    /// requests writes a bounded number of audit events.
    Refused { retry_after: u64, audit: bool },
}

/// A limit on requests (not only failures) per source address, keyed by
/// [`address_key`], in the same bounded fixed windows as [`Throttle`]. A
/// request with no known source address counts under one shared key.
#[derive(Debug)]
pub(crate) struct RateLimit {
    by_address: Mutex<Windows<Option<IpAddr>>>,
    /// Addresses whose refusal this window was reported (limit 1 each).
    reported: Mutex<Windows<Option<IpAddr>>>,
    /// Refusals reported this window, over all addresses.
    reported_total: Mutex<Windows<()>>,
}

impl RateLimit {
    /// At most `per_window` requests per address (taken as at least one) in
    /// each window of `window_secs`, tracking at most `max_entries` addresses.
    pub(crate) fn new(per_window: u32, window_secs: u64, max_entries: usize) -> Self {
        RateLimit {
            by_address: Mutex::new(Windows::new(per_window.max(1), window_secs, max_entries)),
            reported: Mutex::new(Windows::new(1, window_secs, max_entries)),
            reported_total: Mutex::new(Windows::new(MAX_AUDITED_REFUSALS, window_secs, 1)),
        }
    }

    /// Counts a request from `address` at `now`, unless it is over the limit.
    /// A refused request is not counted again.
    pub(crate) fn admit(&self, address: Option<IpAddr>, now: u64) -> Admission {
        let key = address.map(address_key);
        let mut by_address = lock(&self.by_address);
        let Some(retry_after) = by_address.retry_after(&key, now) else {
            by_address.record(&key, now);
            return Admission::Admitted;
        };
        drop(by_address);
        let mut reported = lock(&self.reported);
        let mut total = lock(&self.reported_total);
        let audit =
            reported.retry_after(&key, now).is_none() && total.retry_after(&(), now).is_none();
        if audit {
            reported.record(&key, now);
            total.record(&(), now);
        }
        Admission::Refused { retry_after, audit }
    }
}

/// The lock, even if a panic elsewhere poisoned it: the counts stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// No node: the end of a list.
const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Node<K> {
    key: K,
    start: u64,
    failures: u32,
    throttled: bool,
    prev: usize,
    next: usize,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// Fixed windows per key in at most `capacity` slots, in two intrusive
/// lists (counting, throttled) ordered by when a key entered them.
#[derive(Debug)]
struct Windows<K> {
    limit: u32,
    window: u64,
    capacity: usize,
    index: HashMap<K, usize>,
    nodes: Vec<Node<K>>,
    counting: List,
    throttled: List,
}

impl<K: Eq + Hash + Clone> Windows<K> {
    fn new(limit: u32, window: u64, capacity: usize) -> Self {
        Windows {
            limit,
            window,
            capacity: capacity.max(1),
            index: HashMap::new(),
            nodes: Vec::new(),
            counting: List::EMPTY,
            throttled: List::EMPTY,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.index.len()
    }

    fn expired(&self, node: usize, now: u64) -> bool {
        self.nodes[node].start.saturating_add(self.window) <= now
    }

    /// Seconds to wait if `key` is throttled at `now`.
    fn retry_after<Q>(&self, key: &Q, now: u64) -> Option<u64>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let node = &self.nodes[*self.index.get(key)?];
        let end = node.start.saturating_add(self.window);
        (node.failures >= self.limit && now < end).then(|| (end - now).max(1))
    }

    /// Counts one failure for `key` at `now`.
    fn record<Q>(&mut self, key: &Q, now: u64)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        let slot = match self.index.get(key) {
            Some(&slot) => {
                if self.expired(slot, now) {
                    self.unlink(slot);
                    let node = &mut self.nodes[slot];
                    node.start = now;
                    node.failures = 0;
                    node.throttled = false;
                    self.push_back(slot);
                }
                slot
            }
            None => self.insert(key.to_owned(), now),
        };
        let node = &mut self.nodes[slot];
        node.failures = node.failures.saturating_add(1);
        if node.failures >= self.limit && !node.throttled {
            self.unlink(slot);
            self.nodes[slot].throttled = true;
            self.push_back(slot);
        }
    }

    /// A slot for a new key with no failures yet, evicting one if full.
    fn insert(&mut self, key: K, now: u64) -> usize {
        let node = Node {
            key: key.clone(),
            start: now,
            failures: 0,
            throttled: false,
            prev: NIL,
            next: NIL,
        };
        let slot = if self.nodes.len() < self.capacity {
            self.nodes.push(node);
            self.nodes.len() - 1
        } else {
            let victim = self.victim(now);
            self.unlink(victim);
            let old = std::mem::replace(&mut self.nodes[victim], node);
            self.index.remove(&old.key);
            victim
        };
        self.index.insert(key, slot);
        self.push_back(slot);
        slot
    }

    /// The entry a full map gives up (see the module documentation).
    fn victim(&self, now: u64) -> usize {
        let (counting, throttled) = (self.counting.head, self.throttled.head);
        if throttled != NIL && self.expired(throttled, now) {
            throttled
        } else if counting != NIL {
            counting
        } else {
            throttled
        }
    }

    fn list_mut(&mut self, throttled: bool) -> &mut List {
        if throttled {
            &mut self.throttled
        } else {
            &mut self.counting
        }
    }

    fn unlink(&mut self, slot: usize) {
        let (prev, next, throttled) = {
            let node = &self.nodes[slot];
            (node.prev, node.next, node.throttled)
        };
        if prev == NIL {
            self.list_mut(throttled).head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.list_mut(throttled).tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[slot].prev = NIL;
        self.nodes[slot].next = NIL;
    }

    fn push_back(&mut self, slot: usize) {
        let throttled = self.nodes[slot].throttled;
        let tail = self.list_mut(throttled).tail;
        self.nodes[slot].prev = tail;
        self.nodes[slot].next = NIL;
        if tail == NIL {
            self.list_mut(throttled).head = slot;
        } else {
            self.nodes[tail].next = slot;
        }
        self.list_mut(throttled).tail = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(client: u32, address: u32, max_entries: usize) -> ThrottleConfig {
        ThrottleConfig {
            max_failures_per_client: client,
            max_failures_per_address: address,
            window_secs: 60,
            max_entries,
        }
    }

    #[test]
    fn failures_past_the_limit_wait_until_the_window_ends() {
        let throttle = Throttle::new(config(3, 5, 10));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..3 {
            assert_eq!(throttle.failed("c", Some(ip), 100 + i), None);
        }
        assert_eq!(throttle.failed("c", None, 110), Some(50));
        assert_eq!(throttle.failed("d", Some(ip), 111), None);
        assert_eq!(throttle.failed("e", Some(ip), 111), None, "the 5th");
        assert_eq!(throttle.failed("other", Some(ip), 111), Some(49));
        assert_eq!(throttle.failed("other", None, 111), None);
        assert_eq!(throttle.failed("c", Some(ip), 160), None, "window over");
        assert_eq!(throttle.failed("c", None, 161), None, "a new window: 2");
        assert_eq!(throttle.failed("c", None, 162), None, "3");
        assert_eq!(throttle.failed("c", None, 163), Some(57));
    }

    #[test]
    fn a_throttled_failure_is_not_counted() {
        let throttle = Throttle::new(config(1, 2, 10));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(throttle.failed("a", Some(ip), 0), None);
        // Throttled by client: the address does not count it.
        assert_eq!(throttle.failed("a", Some(ip), 1), Some(59));
        assert_eq!(throttle.failed("b", Some(ip), 1), None, "address at 2");
        assert_eq!(throttle.failed("c", Some(ip), 1), Some(59));
        // Throttled by address: client "c" was not counted.
        assert_eq!(throttle.failed("c", None, 2), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::");

        let throttle = Throttle::new(config(100, 2, 10));
        let a: IpAddr = "2001:db8:0:1::a".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1::b".parse().unwrap();
        let c: IpAddr = "2001:db8:0:2::a".parse().unwrap();
        assert_eq!(throttle.failed("x", Some(a), 0), None);
        assert_eq!(throttle.failed("y", Some(b), 0), None);
        assert_eq!(throttle.failed("z", Some(b), 0), Some(60), "same /64");
        assert_eq!(throttle.failed("z", Some(c), 0), None, "another /64");
    }

    #[test]
    fn a_full_map_evicts_counting_keys_before_throttled_ones() {
        let throttle = Throttle::new(config(2, 1_000, 4));
        throttle.failed("victim", None, 0);
        throttle.failed("victim", None, 0);
        assert_eq!(throttle.failed("victim", None, 1), Some(59));
        // A flood of new keys, each failing once: ten times the capacity.
        for i in 0..40 {
            assert_eq!(throttle.failed(&format!("k{i}"), None, 2), None);
            assert!(lock(&throttle.by_client).len() <= 4);
        }
        assert_eq!(
            throttle.failed("victim", None, 3),
            Some(57),
            "still throttled: counting keys went first"
        );
        // Only a map full of throttled keys gives up the oldest of them.
        for i in 0..3 {
            let key = format!("t{i}");
            throttle.failed(&key, None, 4);
            throttle.failed(&key, None, 4);
            assert_eq!(throttle.failed(&key, None, 4), Some(60));
        }
        assert_eq!(throttle.failed("victim", None, 5), Some(55));
        assert_eq!(throttle.failed("t3", None, 5), None, "evicts the victim");
        assert_eq!(
            throttle.failed("victim", None, 5),
            None,
            "evicted, as documented"
        );
        for i in 0..3 {
            assert_eq!(throttle.failed(&format!("t{i}"), None, 6), Some(58));
        }
    }

    #[test]
    fn a_full_map_evicts_expired_windows_first() {
        let throttle = Throttle::new(config(1, 1_000, 2));
        throttle.failed("old", None, 0);
        throttle.failed("live", None, 50);
        // "old" expired at 60: it goes, and "live" stays throttled.
        assert_eq!(throttle.failed("new", None, 61), None);
        assert_eq!(throttle.failed("live", None, 61), Some(49));
        assert_eq!(throttle.failed("new", None, 61), Some(60));
        assert_eq!(lock(&throttle.by_client).len(), 2);
    }

    #[test]
    fn the_rate_limit_counts_every_request_and_reports_one_refusal_per_window() {
        let limit = RateLimit::new(2, 60, 10);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:0:1::2".parse().unwrap();
        assert_eq!(limit.admit(Some(a), 0), Admission::Admitted);
        assert_eq!(limit.admit(Some(a), 1), Admission::Admitted);
        assert_eq!(
            limit.admit(Some(a), 2),
            Admission::Refused {
                retry_after: 58,
                audit: true
            }
        );
        assert_eq!(
            limit.admit(Some(a), 3),
            Admission::Refused {
                retry_after: 57,
                audit: false
            },
            "reported once per window"
        );
        assert_eq!(
            limit.admit(Some(b), 3),
            Admission::Admitted,
            "another source"
        );
        assert_eq!(limit.admit(Some(same_64), 3), Admission::Admitted);
        assert!(
            matches!(limit.admit(Some(b), 3), Admission::Refused { .. }),
            "same /64"
        );
        assert_eq!(
            limit.admit(None, 3),
            Admission::Admitted,
            "no address: one shared key"
        );
        assert_eq!(
            limit.admit(Some(a), 60),
            Admission::Admitted,
            "a new window"
        );
    }

    #[test]
    fn refusals_reported_are_capped_over_all_addresses() {
        let limit = RateLimit::new(1, 60, 1_000);
        let mut reported = 0;
        for i in 0..500u32 {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(limit.admit(Some(address), 0), Admission::Admitted);
            if let Admission::Refused { audit: true, .. } = limit.admit(Some(address), 0) {
                reported += 1;
            }
        }
        assert_eq!(reported, MAX_AUDITED_REFUSALS);
    }

    #[test]
    fn lists_stay_consistent_through_resets_and_evictions() {
        let mut windows: Windows<u32> = Windows::new(3, 10, 8);
        let mut now = 0;
        for round in 0..2_000u32 {
            let key = round.wrapping_mul(2_654_435_761) % 23;
            if windows.retry_after(&key, now).is_none() {
                windows.record(&key, now);
            }
            now += u64::from(round % 3 == 0);
            assert!(windows.len() <= 8);
            let mut seen = 0;
            for list in [windows.counting, windows.throttled] {
                let mut slot = list.head;
                let mut prev = NIL;
                while slot != NIL {
                    assert_eq!(windows.nodes[slot].prev, prev);
                    assert_eq!(windows.index[&windows.nodes[slot].key], slot);
                    prev = slot;
                    slot = windows.nodes[slot].next;
                    seen += 1;
                }
                assert_eq!(list.tail, prev);
            }
            assert_eq!(seen, windows.len());
        }
    }
}

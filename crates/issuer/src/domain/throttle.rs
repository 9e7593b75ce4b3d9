//! Throttling of failed client authentication, per client id and per source
//! address, in memory.
//!
//! A fixed window opens at a key's first failure and lasts `window_secs`;
//! once a key has `limit` failures in its window, every request for it is
//! answered 429 `slow_down` with `Retry-After` until the window ends. With
//! several replicas each counts on its own: the limits are per replica.
//!
//! The maps are bounded: past `max_entries` keys, expired windows are swept,
//! and if the map is still full new keys are not tracked (the issuer fails
//! open rather than growing without bound under a flood of distinct keys).

use std::hash::Hash;
use std::net::IpAddr;

use dashmap::DashMap;

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
    /// Failed authentications from one source address within the window before 429. Default 100.
    pub max_failures_per_address: u32,
    /// The window, in seconds. Default 60.
    pub window_secs: u64,
    /// Keys tracked per map at most. Default 100,000.
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

#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    failures: u32,
}

#[derive(Debug)]
pub(crate) struct Throttle {
    config: ThrottleConfig,
    by_client: DashMap<String, Window>,
    by_address: DashMap<IpAddr, Window>,
}

impl Throttle {
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            by_client: DashMap::new(),
            by_address: DashMap::new(),
        }
    }

    /// Seconds to wait if `client_id` or `address` is throttled at `now`.
    pub(crate) fn retry_after(
        &self,
        client_id: &str,
        address: Option<IpAddr>,
        now: u64,
    ) -> Option<u64> {
        let client = blocked(
            &self.by_client,
            client_id,
            self.config.max_failures_per_client,
            self.config.window_secs,
            now,
        );
        let address = address.and_then(|a| {
            blocked(
                &self.by_address,
                &a,
                self.config.max_failures_per_address,
                self.config.window_secs,
                now,
            )
        });
        client.max(address)
    }

    /// Counts one failed authentication.
    pub(crate) fn record_failure(&self, client_id: &str, address: Option<IpAddr>, now: u64) {
        record(&self.by_client, client_id.to_owned(), &self.config, now);
        if let Some(address) = address {
            record(&self.by_address, address, &self.config, now);
        }
    }
}

fn blocked<K, Q>(
    map: &DashMap<K, Window>,
    key: &Q,
    limit: u32,
    window: u64,
    now: u64,
) -> Option<u64>
where
    K: Eq + Hash + std::borrow::Borrow<Q>,
    Q: Eq + Hash + ?Sized,
{
    let entry = map.get(key)?;
    let end = entry.start.saturating_add(window);
    (entry.failures >= limit && now < end).then(|| (end - now).max(1))
}

fn record<K: Eq + Hash>(map: &DashMap<K, Window>, key: K, config: &ThrottleConfig, now: u64) {
    if map.len() >= config.max_entries && !map.contains_key(&key) {
        map.retain(|_, w| w.start.saturating_add(config.window_secs) > now);
        if map.len() >= config.max_entries {
            return;
        }
    }
    let mut entry = map.entry(key).or_insert(Window {
        start: now,
        failures: 0,
    });
    if entry.start.saturating_add(config.window_secs) <= now {
        *entry = Window {
            start: now,
            failures: 0,
        };
    }
    entry.failures = entry.failures.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let throttle = Throttle::new(ThrottleConfig {
            max_failures_per_client: 3,
            max_failures_per_address: 5,
            window_secs: 60,
            max_entries: 10,
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..3 {
            assert_eq!(throttle.retry_after("c", Some(ip), 100 + i), None);
            throttle.record_failure("c", Some(ip), 100 + i);
        }
        assert_eq!(throttle.retry_after("c", None, 110), Some(50));
        assert_eq!(throttle.retry_after("other", Some(ip), 110), None);
        throttle.record_failure("d", Some(ip), 111);
        throttle.record_failure("e", Some(ip), 111);
        assert_eq!(throttle.retry_after("other", Some(ip), 111), Some(49));
        assert_eq!(throttle.retry_after("other", None, 111), None);
        assert_eq!(
            throttle.retry_after("c", Some(ip), 160),
            None,
            "window over"
        );
        throttle.record_failure("c", None, 160);
        assert_eq!(throttle.retry_after("c", None, 161), None, "a new window");
    }

    #[test]
    fn stays_bounded() {
        let throttle = Throttle::new(ThrottleConfig {
            max_entries: 4,
            ..ThrottleConfig::default()
        });
        for i in 0..100 {
            throttle.record_failure(&format!("c{i}"), None, 0);
        }
        assert!(throttle.by_client.len() <= 4);
        for i in 0..100 {
            throttle.record_failure(&format!("n{i}"), None, 1000);
        }
        assert!(throttle.by_client.len() <= 4);
        assert!(
            throttle.by_client.contains_key("n0"),
            "expired windows swept"
        );
    }
}

//! [`Quotas`]: how many tokens a client, and the organization it belongs to
//! (`oid`: org-level and user-level clients), may get per minute, hour and
//! day, counted across every replica.
//!
//! The token endpoint calls [`Quotas::admit`] once, after the client is
//! authenticated and before the grant runs; the [`QuotaTicket`] it returns
//! gives its tokens back if the grant then fails (a failed request never
//! consumes quota) and is committed once a token is minted.
//!
//! # Windows and counters
//!
//! Windows are fixed and aligned to the issuer's clock (a minute starts at a
//! multiple of 60 seconds, an hour of 3,600, a day of 86,400, UTC), so every
//! replica agrees on them and a window rolls over without any reset. Counts
//! live in the store (`Store::add_usage`): one row per (subject, window).
//!
//! # Leases
//!
//! The token endpoint does not go to the store per token. A replica takes a
//! lease of `lease` tokens (default 10), or 1% of the limit when that is
//! more (so a quota far above the load costs almost no store writes), at
//! most the limit, with one atomic
//! addition to the shared counter, and serves tokens from it in memory; only
//! what the counter had left is granted (`limit - before`, at most the
//! lease), so the tokens issued by all replicas together never pass the
//! limit. What a lease costs instead is the other way round: a replica that
//! found the counter exhausted refuses while another may still hold up to
//! a lease of unspent tokens of the same window, so with `R` replicas
//! between `limit - R × max(lease, limit / 100)` and `limit` tokens are
//! issued in a window (tokens
//! leased by a replica that stops are lost for that window). A replica
//! serves at most one lease between store calls, so the store sees one
//! write per lease per replica and window.
//!
//! # Overrides
//!
//! A client's `quota` ([`QuotaOverride`], on its record) and an
//! organization's (the store's `org_quotas`) replace the default window by
//! window; a window they leave out keeps the default, and their `mode`
//! replaces the server's for their windows. A request is refused when a
//! window in `enforce` mode is exhausted. An organization's override is read
//! from the store at most once per refresh window (the client cache's) per
//! organization and replica, its absence too; a store failure there fails
//! the request closed like one in a lease.
//!
//! # Exceeded
//!
//! The first request past a window's quota (on any replica) records one
//! [`AuditEvent::QuotaExceeded`] and counts one exceeded window
//! ([`Quotas::exceeded_windows`]): the refilling call that finds the counter
//! exhausted first is unique in the store, because every such call adds the
//! same lease size. `enforce` answers 429 with the seconds until the window
//! ends; `log_only` issues the token anyway.

use m2m_core::{ClientId, OrgId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::audit::{AuditEvent, AuditSink};
use crate::domain::error::{GrantError, Missing, RegistryError};
pub use crate::store::QuotaMode;
use crate::store::{ClientRecord, QuotaOverride, Store};

/// The largest quota a window may have.
pub const MAX_QUOTA: u64 = 1_000_000_000;

/// The largest lease a replica may take at once.
pub const MAX_QUOTA_LEASE: u64 = 10_000;

/// A lease is at least this fraction of the limit (1 / 100), so a busy
/// replica far below a large quota goes to the store rarely.
const LEASE_SHARE: u64 = 100;

/// The tokens one lease takes: the configured lease, or 1% of the limit if
/// that is more; never more than the limit.
pub(crate) fn lease_size(lease: u64, limit: u64) -> u64 {
    lease.max(limit / LEASE_SHARE).min(limit).max(1)
}

/// Lease entries one replica keeps before it forgets ended windows.
const MAX_TRACKED: usize = 100_000;

/// Tokens per minute, hour and day; `None` is no limit for that window.
///
/// ```
/// use m2m_issuer::QuotaLimits;
/// let limits = QuotaLimits { per_hour: Some(1000), ..QuotaLimits::default() };
/// assert!(!limits.is_empty());
/// assert!(QuotaLimits::default().is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Tokens per clock minute.
    pub per_minute: Option<u64>,
    /// Tokens per clock hour.
    pub per_hour: Option<u64>,
    /// Tokens per UTC day.
    pub per_day: Option<u64>,
}

impl QuotaLimits {
    /// No window is limited.
    pub fn is_empty(&self) -> bool {
        self.per_minute.is_none() && self.per_hour.is_none() && self.per_day.is_none()
    }

    fn windows(&self) -> impl Iterator<Item = (Window, u64)> {
        [
            (Window::Minute, self.per_minute),
            (Window::Hour, self.per_hour),
            (Window::Day, self.per_day),
        ]
        .into_iter()
        .filter_map(|(window, limit)| limit.map(|limit| (window, limit)))
    }

    /// These limits with each window `quota` sets replacing this one's.
    fn overridden(&self, quota: &QuotaOverride) -> QuotaLimits {
        QuotaLimits {
            per_minute: quota.per_minute.or(self.per_minute),
            per_hour: quota.per_hour.or(self.per_hour),
            per_day: quota.per_day.or(self.per_day),
        }
    }

    /// Every set limit is between 1 and [`MAX_QUOTA`].
    fn check(&self, what: &str) -> Result<(), String> {
        for (window, limit) in self.windows() {
            if !(1..=MAX_QUOTA).contains(&limit) {
                return Err(format!(
                    "{what} per_{}: a quota must be between 1 and {MAX_QUOTA}",
                    window.name()
                ));
            }
        }
        Ok(())
    }
}

/// Token quotas: the default for every client and for every organization,
/// the mode, and the lease size.
///
/// ```
/// use m2m_issuer::{QuotaConfig, QuotaLimits};
/// let config = QuotaConfig {
///     client: QuotaLimits { per_minute: Some(600), ..QuotaLimits::default() },
///     ..QuotaConfig::default()
/// };
/// assert_eq!(config.lease, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// The quota of each client. Default: none.
    pub client: QuotaLimits,
    /// The quota of each organization: every client with that `oid` counts
    /// toward it. Default: none.
    pub org: QuotaLimits,
    /// Enforce or only log. Default enforce.
    pub mode: QuotaMode,
    /// Tokens a replica takes from the shared counter at once (1 to
    /// [`MAX_QUOTA_LEASE`]), or 1% of the limit when that is more. Default
    /// 10. With `R` replicas, a window issues between
    /// `limit - R × max(lease, limit / 100)` and `limit` tokens.
    pub lease: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            client: QuotaLimits::default(),
            org: QuotaLimits::default(),
            mode: QuotaMode::Enforce,
            lease: 10,
        }
    }
}

/// A client's quota override's error, if any: a limit outside 1 to
/// [`MAX_QUOTA`], the range the server's configuration accepts.
pub(crate) fn check_quota_override(quota: &QuotaOverride) -> Result<(), String> {
    QuotaLimits {
        per_minute: quota.per_minute,
        per_hour: quota.per_hour,
        per_day: quota.per_day,
    }
    .check("quota")
}

impl QuotaConfig {
    /// The configuration's error, if any: a limit or the lease out of range.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.client.check("client quota")?;
        self.org.check("org quota")?;
        if !(1..=MAX_QUOTA_LEASE).contains(&self.lease) {
            return Err(format!(
                "the quota lease must be between 1 and {MAX_QUOTA_LEASE}"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    fn secs(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

/// The policy name in the `RateLimit` headers.
fn policy_name(owner: &str, window: Window) -> &'static str {
    match (owner, window) {
        ("client", Window::Minute) => "client-minute",
        ("client", Window::Hour) => "client-hour",
        ("client", Window::Day) => "client-day",
        (_, Window::Minute) => "org-minute",
        (_, Window::Hour) => "org-hour",
        (_, Window::Day) => "org-day",
    }
}

/// One quota a request counts against.
#[derive(Debug)]
struct Spec {
    /// The counter's subject in the store (`quota:client:ID`, `quota:org:OID`),
    /// shared by its windows.
    subject: Arc<str>,
    /// `"client"` or `"org"`.
    owner: &'static str,
    window: Window,
    limit: u64,
    /// The mode of this quota: the override's, else the server's.
    mode: QuotaMode,
}

/// This replica's lease of one (subject, window).
#[derive(Debug, Clone, Copy)]
struct Lease {
    start: u64,
    /// Leased tokens not yet issued.
    local: u64,
    /// The shared count after this replica's last lease, at most the limit.
    counted: u64,
    /// The store had nothing left for this window.
    exhausted: bool,
}

impl Lease {
    fn fresh(start: u64) -> Self {
        Lease {
            start,
            local: 0,
            counted: 0,
            exhausted: false,
        }
    }
}

/// One policy's state, for the `RateLimit-Policy` and `RateLimit` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyState {
    /// `client-minute`, `org-day`, ...
    pub(crate) name: &'static str,
    pub(crate) quota: u64,
    pub(crate) window: u64,
    /// Tokens left as this replica knows it (other replicas' use shows at
    /// its next lease).
    pub(crate) remaining: u64,
    /// Seconds until the window ends.
    pub(crate) reset: u64,
}

/// The quotas a token request counted against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QuotaStatus {
    pub(crate) policies: Vec<PolicyState>,
    /// Refused: seconds until the exceeded windows end.
    pub(crate) retry_after: Option<u64>,
}

/// Tokens taken for one request: given back when dropped, unless committed.
#[derive(Debug)]
pub(crate) struct QuotaTicket {
    quotas: Option<Arc<Quotas>>,
    taken: Vec<(Arc<str>, u64, u64)>,
    status: QuotaStatus,
}

impl QuotaTicket {
    /// The token was minted: the quota stays spent.
    pub(crate) fn commit(mut self) -> Option<QuotaStatus> {
        self.taken.clear();
        self.quotas
            .is_some()
            .then(|| std::mem::take(&mut self.status))
    }
}

impl Drop for QuotaTicket {
    fn drop(&mut self) {
        if let (Some(quotas), false) = (&self.quotas, self.taken.is_empty()) {
            let mut leases = quotas.lock();
            for (subject, secs, start) in self.taken.drain(..) {
                if let Some(lease) = leases.get_mut(&(subject, secs))
                    && lease.start == start
                {
                    lease.local += 1;
                }
            }
        }
    }
}

/// Token quotas (see the module docs).
#[derive(Debug)]
pub(crate) struct Quotas {
    config: QuotaConfig,
    store: Arc<dyn Store>,
    audit: Arc<AuditSink>,
    leases: Mutex<HashMap<(Arc<str>, u64), Lease>>,
    exceeded: AtomicU64,
    /// Organizations' overrides as read from the store, and when (issuer
    /// clock): read again after `org_refresh` seconds.
    orgs: Mutex<HashMap<OrgId, (u64, Option<QuotaOverride>)>>,
    org_refresh: u64,
}

impl Quotas {
    /// `org_refresh`: seconds an organization's override is served from
    /// memory before it is read from the store again (the client cache's
    /// window).
    pub(crate) fn new(
        config: QuotaConfig,
        store: Arc<dyn Store>,
        audit: Arc<AuditSink>,
        org_refresh: u64,
    ) -> Self {
        Quotas {
            config,
            store,
            audit,
            leases: Mutex::new(HashMap::new()),
            exceeded: AtomicU64::new(0),
            orgs: Mutex::new(HashMap::new()),
            org_refresh,
        }
    }

    /// `org_id`'s override as of at most `org_refresh` seconds ago: one
    /// store read per organization and refresh window, not per token.
    async fn org_override(
        &self,
        org_id: &OrgId,
        now: u64,
    ) -> Result<Option<QuotaOverride>, GrantError> {
        {
            let orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((read_at, quota)) = orgs.get(org_id)
                && now < read_at.saturating_add(self.org_refresh)
            {
                return Ok(*quota);
            }
        }
        let quota = self.store.get_org_quota(org_id).await?;
        let mut orgs = self.orgs.lock().unwrap_or_else(|p| p.into_inner());
        if orgs.len() > MAX_TRACKED {
            orgs.clear();
        }
        orgs.insert(org_id.clone(), (now, quota));
        Ok(quota)
    }

    /// `org_id`'s override, read from the store (the admin API's view).
    pub(crate) async fn org_quota(&self, org_id: &OrgId) -> Result<QuotaOverride, RegistryError> {
        self.store
            .get_org_quota(org_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::OrgQuota))
    }

    /// Sets `org_id`'s override, checked like a client's; this replica uses
    /// it at once, the others within their refresh window.
    pub(crate) async fn set_org_quota(
        &self,
        actor: &ClientId,
        org_id: &OrgId,
        quota: QuotaOverride,
        now: u64,
    ) -> Result<QuotaOverride, RegistryError> {
        check_quota_override(&quota).map_err(RegistryError::invalid)?;
        self.store.put_org_quota(org_id, &quota, now).await?;
        self.forget_org(org_id);
        self.audit.record(
            now,
            AuditEvent::OrgQuotaSet {
                org_id: org_id.clone(),
                actor: actor.clone(),
                quota,
            },
        );
        Ok(quota)
    }

    /// Removes `org_id`'s override: the default applies again.
    pub(crate) async fn clear_org_quota(
        &self,
        actor: &ClientId,
        org_id: &OrgId,
        now: u64,
    ) -> Result<(), RegistryError> {
        if !self.store.delete_org_quota(org_id).await? {
            return Err(RegistryError::NotFound(Missing::OrgQuota));
        }
        self.forget_org(org_id);
        self.audit.record(
            now,
            AuditEvent::OrgQuotaCleared {
                org_id: org_id.clone(),
                actor: actor.clone(),
            },
        );
        Ok(())
    }

    fn forget_org(&self, org_id: &OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(org_id);
    }

    /// Windows this replica saw exceeded first, since it started.
    pub(crate) fn exceeded_windows(&self) -> u64 {
        self.exceeded.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Arc<str>, u64), Lease>> {
        self.leases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn specs(&self, client: &ClientRecord, org_quota: Option<&QuotaOverride>) -> Vec<Spec> {
        let mut specs = Vec::new();
        let subject: Arc<str> = format!("quota:client:{}", client.client_id.as_str()).into();
        let (limits, mode) = match &client.quota {
            Some(quota) => (
                self.config.client.overridden(quota),
                quota.mode.unwrap_or(self.config.mode),
            ),
            None => (self.config.client, self.config.mode),
        };
        for (window, limit) in limits.windows() {
            specs.push(Spec {
                subject: Arc::clone(&subject),
                owner: "client",
                window,
                limit,
                mode,
            });
        }
        if let Some(org) = &client.org_id {
            let (limits, mode) = match org_quota {
                Some(quota) => (
                    self.config.org.overridden(quota),
                    quota.mode.unwrap_or(self.config.mode),
                ),
                None => (self.config.org, self.config.mode),
            };
            let subject: Arc<str> = format!("quota:org:{}", org.as_str()).into();
            for (window, limit) in limits.windows() {
                specs.push(Spec {
                    subject: Arc::clone(&subject),
                    owner: "org",
                    window,
                    limit,
                    mode,
                });
            }
        }
        specs
    }

    /// Counts one token for `client` at `now` against its quotas and its
    /// organization's. `Err(GrantError::QuotaExceeded)` when a window is
    /// exceeded in `enforce` mode (the tokens taken from the other windows
    /// go back); a store failure is an internal error (the endpoint fails
    /// closed). Never waits on another request: a window with nothing leased
    /// takes a lease for this request itself.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        client: &ClientRecord,
        now: u64,
    ) -> Result<QuotaTicket, GrantError> {
        let org_quota = match &client.org_id {
            Some(org) => self.org_override(org, now).await?,
            None => None,
        };
        let specs = self.specs(client, org_quota.as_ref());
        if specs.is_empty() {
            return Ok(QuotaTicket {
                quotas: None,
                taken: Vec::new(),
                status: QuotaStatus::default(),
            });
        }
        let mut ticket = QuotaTicket {
            quotas: Some(Arc::clone(self)),
            taken: Vec::new(),
            status: QuotaStatus::default(),
        };
        let mut need = Vec::new();
        let mut exhausted = Vec::new();
        {
            let mut leases = self.lock();
            if leases.len() > MAX_TRACKED {
                leases.retain(|(_, secs), lease| lease.start + secs > now);
            }
            for (i, spec) in specs.iter().enumerate() {
                let secs = spec.window.secs();
                let start = now - now % secs;
                let lease = leases
                    .entry((Arc::clone(&spec.subject), secs))
                    .or_insert_with(|| Lease::fresh(start));
                if lease.start != start {
                    *lease = Lease::fresh(start);
                }
                if lease.local > 0 {
                    lease.local -= 1;
                    ticket.taken.push((Arc::clone(&spec.subject), secs, start));
                } else if lease.exhausted {
                    exhausted.push(i);
                } else {
                    need.push(i);
                }
            }
        }
        let enforced = |exhausted: &[usize]| {
            exhausted
                .iter()
                .any(|&i| specs[i].mode == QuotaMode::Enforce)
        };
        if !enforced(&exhausted) {
            for i in need {
                let spec = &specs[i];
                if self.refill(client, spec, now).await? {
                    let secs = spec.window.secs();
                    ticket
                        .taken
                        .push((Arc::clone(&spec.subject), secs, now - now % secs));
                } else {
                    exhausted.push(i);
                }
            }
        }
        let status = self.status(&specs, &exhausted, now);
        if enforced(&exhausted) {
            // Dropping the ticket gives back what the other windows lent.
            drop(ticket);
            return Err(GrantError::QuotaExceeded(status));
        }
        ticket.status = QuotaStatus {
            retry_after: None,
            ..status
        };
        Ok(ticket)
    }

    /// What is left of each quota, as this replica knows it, and the seconds
    /// until the `exhausted` ones end.
    fn status(&self, specs: &[Spec], exhausted: &[usize], now: u64) -> QuotaStatus {
        let leases = self.lock();
        let mut status = QuotaStatus::default();
        let mut retry_after = None;
        for (i, spec) in specs.iter().enumerate() {
            let secs = spec.window.secs();
            let start = now - now % secs;
            let (counted, local) = leases
                .get(&(Arc::clone(&spec.subject), secs))
                .filter(|lease| lease.start == start)
                .map_or((0, 0), |lease| (lease.counted, lease.local));
            let reset = (start + secs).saturating_sub(now).max(1);
            if exhausted.contains(&i) {
                retry_after = Some(retry_after.unwrap_or(0).max(reset));
            }
            status.policies.push(PolicyState {
                name: policy_name(spec.owner, spec.window),
                quota: spec.limit,
                window: secs,
                remaining: spec.limit - counted.min(spec.limit) + local,
                reset,
            });
        }
        status.retry_after = retry_after;
        status
    }

    /// Takes a lease of `spec`'s current window from the shared counter:
    /// `true` when it had room, one token of it being the caller's.
    async fn refill(
        &self,
        client: &ClientRecord,
        spec: &Spec,
        now: u64,
    ) -> Result<bool, GrantError> {
        let secs = spec.window.secs();
        let start = now - now % secs;
        let want = lease_size(self.config.lease, spec.limit);
        let count = self
            .store
            .add_usage(&spec.subject, secs, start, want)
            .await?;
        let before = count.saturating_sub(want);
        let granted = spec.limit.saturating_sub(before).min(want);
        // The first call to find nothing left: `before` is the count the
        // exhausting call left, below `limit + want`; every later one adds
        // `want` more.
        if granted == 0 && before < spec.limit + want {
            self.exceeded.fetch_add(1, Ordering::Relaxed);
            self.audit.record(
                now,
                AuditEvent::QuotaExceeded {
                    client_id: client.client_id.clone(),
                    subject: spec.owner,
                    org_id: (spec.owner == "org")
                        .then(|| client.org_id.clone())
                        .flatten(),
                    window: spec.window.name(),
                    limit: spec.limit,
                    window_start: start,
                    log_only: spec.mode == QuotaMode::LogOnly,
                },
            );
        }
        let mut leases = self.lock();
        let lease = leases
            .entry((Arc::clone(&spec.subject), secs))
            .or_insert_with(|| Lease::fresh(start));
        if lease.start == start {
            lease.local += granted.saturating_sub(1);
            lease.counted = lease.counted.max(count.min(spec.limit));
            if granted == 0 {
                lease.exhausted = true;
            }
        }
        Ok(granted > 0)
    }
}

//! [`Issuer`], its builder, and the state its handlers share.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use dashmap::DashMap;
use m2m_core::{
    Algorithm, ClientId, ClientKind, ClientSecret, JwkSet, RotationPolicy, ScopeSet, SecretHash,
    SecretHasher, TokenTtl,
};
use tokio::sync::{broadcast, watch};

use crate::audit::AuditSink;
use crate::clients;
use crate::consent::ConsentHandler;
use crate::error::IssuerError;
use crate::keycrypt::{self, KeyCrypt};
use crate::keys::{KeyManager, Rotation};
use crate::store::{ClientRecord, SecretRecord, Store, StoreResult};
use crate::throttle::{Throttle, ThrottleConfig};
use m2m_core::{Revocation, RevokedToken};

/// The scope that the admin API requires.
pub const ADMIN_SCOPE: &str = "m2m:admin";

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The authorization server. Cheap to clone (one `Arc`); every clone shares
/// the same keys, caches and background tasks.
///
/// Build it with [`Issuer::builder`], then mount [`Issuer::router`].
#[derive(Clone)]
pub struct Issuer {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer_url", &self.inner.issuer_url)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) issuer_url: String,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: SecretHasher,
    pub(crate) crypt: KeyCrypt,
    pub(crate) keys: KeyManager,
    clock: Clock,
    pub(crate) throttle: Throttle,
    pub(crate) audit: AuditSink,
    pub(crate) cache: ClientCache,
    pub(crate) revocations: broadcast::Sender<Revocation>,
    /// secret id → when this node last wrote its `last_used_at`.
    last_touch: DashMap<String, u64>,
    /// Checked against when the client is unknown, so timing does not tell.
    pub(crate) dummy_hash: SecretHash,
    pub(crate) jwks_max_age: u64,
    pub(crate) default_audience: String,
    pub(crate) leeway: u64,
    /// m2m-guard in front of the admin API, fed with this issuer's keys.
    pub(crate) admin_guard: m2m_guard::Guard,
    /// The host's consent hook; `None` turns user-level clients off.
    pub(crate) consent: Option<Arc<dyn ConsentHandler>>,
}

/// How often `last_used_at` is written per secret at most, in seconds.
pub const LAST_USED_GRANULARITY_SECS: u64 = 60;

impl Inner {
    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Records that a secret authenticated a request, at most once per
    /// [`LAST_USED_GRANULARITY_SECS`] per secret on this node, off the request path.
    pub(crate) fn touch(&self, client_id: &ClientId, secret_id: &str, now: u64) {
        let due = match self.last_touch.get(secret_id) {
            Some(last) => now.saturating_sub(*last) >= LAST_USED_GRANULARITY_SECS,
            None => true,
        };
        if !due {
            return;
        }
        if self.last_touch.len() > 100_000 {
            self.last_touch.clear();
        }
        self.last_touch.insert(secret_id.to_owned(), now);
        let store = Arc::clone(&self.store);
        let client_id = client_id.clone();
        let secret_id = secret_id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = store.touch_secret(&client_id, &secret_id, now).await {
                tracing::warn!(%error, "could not record a secret's last use");
            }
        });
    }

    /// Tells this node's in-process subscribers (`subscribe_revocations`)
    /// about revoked tokens; other replicas learn of them from the feed.
    pub(crate) fn announce_revoked(&self, revoked: Vec<RevokedToken>) {
        for token in revoked {
            let _ = self.revocations.send(Revocation::Token(token));
        }
    }

    /// The client and its secrets, from the short-lived cache or the store.
    pub(crate) async fn lookup(&self, client_id: &ClientId) -> StoreResult<Option<CachedClient>> {
        if let Some(hit) = self.cache.get(client_id) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let Some(client) = self.store.get_client(client_id).await? else {
            return Ok(None);
        };
        let secrets = self.store.list_secrets(client_id).await?;
        let entry = CachedClient {
            client: Arc::new(client),
            secrets: secrets.into(),
        };
        self.cache.put(client_id, entry.clone(), generation);
        Ok(Some(entry))
    }
}

/// A client and its secrets as one lookup sees them.
#[derive(Clone)]
pub(crate) struct CachedClient {
    pub(crate) client: Arc<ClientRecord>,
    pub(crate) secrets: Arc<[SecretRecord]>,
}

/// A short-lived cache of client lookups for the token endpoint. Every admin
/// change on this node invalidates it at once; other replicas see a change
/// after at most the cache's TTL.
pub(crate) struct ClientCache {
    ttl: Duration,
    map: DashMap<ClientId, (Instant, CachedClient)>,
    generation: AtomicU64,
}

const CACHE_MAX_ENTRIES: usize = 100_000;

impl ClientCache {
    fn new(ttl: Duration) -> Self {
        ClientCache {
            ttl,
            map: DashMap::new(),
            generation: AtomicU64::new(0),
        }
    }

    fn get(&self, client_id: &ClientId) -> Option<CachedClient> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.map.get(client_id)?;
        (entry.0.elapsed() < self.ttl).then(|| entry.1.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a lookup unless an invalidation happened since it started.
    fn put(&self, client_id: &ClientId, entry: CachedClient, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if self.map.len() >= CACHE_MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(client_id.clone(), (Instant::now(), entry));
        // An admin change raced with this lookup: the entry may be stale.
        if self.generation() != generation {
            self.map.remove(client_id);
        }
    }

    /// Forgets a client (after any admin change to it).
    pub(crate) fn invalidate(&self, client_id: &ClientId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.remove(client_id);
    }
}

/// Configures an [`Issuer`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use m2m_issuer::{Issuer, store::MemoryStore};
/// use m2m_core::Algorithm;
/// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new())
///     .algorithm(Algorithm::EdDSA)
///     .master_key([7; 32])
///     .build()
///     .await?;
/// assert_eq!(issuer.jwks().keys.len(), 1);
/// # Ok::<(), m2m_issuer::IssuerError>(())
/// # }).unwrap();
/// ```
#[must_use]
pub struct IssuerBuilder {
    issuer_url: String,
    store: Arc<dyn Store>,
    alg: Algorithm,
    policy: RotationPolicy,
    clock: Clock,
    throttle: ThrottleConfig,
    master_key: Option<zeroize::Zeroizing<[u8; 32]>>,
    jwks_max_age: u64,
    default_audience: Option<String>,
    client_cache_ttl: Duration,
    key_check_interval: Duration,
    audit_capacity: usize,
    leeway: u64,
    consent: Option<Arc<dyn ConsentHandler>>,
}

impl fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("issuer_url", &self.issuer_url)
            .field("alg", &self.alg)
            .field("policy", &self.policy)
            .field("throttle", &self.throttle)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("jwks_max_age", &self.jwks_max_age)
            .field("default_audience", &self.default_audience)
            .field("client_cache_ttl", &self.client_cache_ttl)
            .field("key_check_interval", &self.key_check_interval)
            .field("consent", &self.consent)
            .finish_non_exhaustive()
    }
}

impl IssuerBuilder {
    /// The signing algorithm of new keys: ES256 (default), EdDSA or RS256.
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// The key rotation policy (default: m2m-core's, which rotates every 30
    /// days). `prepublish_secs` must be at least the JWKS max-age.
    pub fn rotation_policy(mut self, policy: RotationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock, in seconds since the epoch (default: the system clock).
    /// Tests inject one to drive expiry and rotation.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Throttling of failed client authentication.
    pub fn throttle(mut self, config: ThrottleConfig) -> Self {
        self.throttle = config;
        self
    }

    /// The 32-byte master key from which the secret pepper and the
    /// key-encryption key are derived. Without one, a random key is made:
    /// fine in memory, but a persistent store then cannot be read by the
    /// next process (its keys fail to decrypt and its secrets fail to verify).
    pub fn master_key(mut self, key: [u8; 32]) -> Self {
        self.master_key = Some(zeroize::Zeroizing::new(key));
        self
    }

    /// `max-age` of the JWKS response, in seconds (default 300).
    pub fn jwks_max_age(mut self, seconds: u64) -> Self {
        self.jwks_max_age = seconds;
        self
    }

    /// The audience of tokens for clients that have none (default: the issuer URL).
    pub fn default_audience(mut self, audience: impl Into<String>) -> Self {
        self.default_audience = Some(audience.into());
        self
    }

    /// How long the token endpoint may reuse a client lookup (default 2 s;
    /// zero disables the cache). Changes made through this node's admin API
    /// invalidate it at once; changes through another replica are seen after
    /// at most this long.
    pub fn client_cache_ttl(mut self, ttl: Duration) -> Self {
        self.client_cache_ttl = ttl;
        self
    }

    /// How often the background task reloads keys from the store, rotates
    /// when due and purges expired revocations (default 60 s).
    pub fn key_check_interval(mut self, interval: Duration) -> Self {
        self.key_check_interval = interval;
        self
    }

    /// Capacity of the audit queue (default 65,536 events).
    pub fn audit_queue_capacity(mut self, events: usize) -> Self {
        self.audit_capacity = events;
        self
    }

    /// Clock leeway used when this issuer verifies tokens (admin API,
    /// introspection), in seconds (default 60).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The host's consent hook, which turns user-level clients on
    /// (`/oauth/authorize`, the `authorization_code` and `refresh_token`
    /// grants). See [`crate::consent`]; [`DevConsent`](crate::consent::DevConsent)
    /// is for development only.
    pub fn consent(mut self, handler: Arc<dyn ConsentHandler>) -> Self {
        self.consent = Some(handler);
        self
    }

    /// Checks the configuration, loads or creates the signing keys, and
    /// starts the background tasks on the current Tokio runtime.
    ///
    /// Fails with [`IssuerError::KeyDecryption`] if stored keys were sealed
    /// under another master key.
    pub async fn build(self) -> Result<Issuer, IssuerError> {
        let issuer_url = check_issuer_url(&self.issuer_url)?;
        if self.policy.prepublish_secs < self.jwks_max_age {
            return Err(IssuerError::Config(format!(
                "rotation prepublish time ({} s) must be at least the JWKS max-age ({} s)",
                self.policy.prepublish_secs, self.jwks_max_age
            )));
        }
        if self.policy.retain_secs < TokenTtl::MAX as u64 {
            return Err(IssuerError::Config(format!(
                "rotation retain time ({} s) must be at least the longest token lifetime ({} s)",
                self.policy.retain_secs,
                TokenTtl::MAX
            )));
        }
        if self.policy.rotate_every_secs == 0 {
            return Err(IssuerError::Config(
                "rotate_every_secs must be positive".into(),
            ));
        }
        if self.key_check_interval.is_zero() {
            return Err(IssuerError::Config(
                "key_check_interval must be positive".into(),
            ));
        }
        let master = match self.master_key {
            Some(key) => key,
            None => zeroize::Zeroizing::new(m2m_core::random_bytes()?),
        };
        let (pepper, crypt) = keycrypt::derive(&master);
        let hasher = SecretHasher::new(pepper.as_ref());
        let now = (self.clock)();
        let keys = KeyManager::start(&*self.store, &crypt, self.alg, self.policy, now).await?;
        let dummy_hash = hasher.hash("m2ms_dummy-secret-for-unknown-clients");
        let (revocations, _) = broadcast::channel(1024);
        let admin_guard = crate::admin_auth::admin_guard(
            &issuer_url,
            self.leeway,
            Arc::clone(&self.clock),
            keys.subscribe(),
            revocations.subscribe(),
        )
        .await?;
        let inner = Arc::new(Inner {
            default_audience: self.default_audience.unwrap_or_else(|| issuer_url.clone()),
            issuer_url,
            audit: AuditSink::start(Arc::clone(&self.store), self.audit_capacity),
            store: self.store,
            hasher,
            crypt,
            keys,
            clock: self.clock,
            throttle: Throttle::new(self.throttle),
            cache: ClientCache::new(self.client_cache_ttl),
            revocations,
            last_touch: DashMap::new(),
            dummy_hash,
            jwks_max_age: self.jwks_max_age,
            leeway: self.leeway,
            admin_guard,
            consent: self.consent,
        });
        tokio::spawn(background(Arc::downgrade(&inner), self.key_check_interval));
        Ok(Issuer { inner })
    }
}

fn check_issuer_url(url: &str) -> Result<String, IssuerError> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            IssuerError::Config("the issuer URL must start with https:// or http://".into())
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || url.contains(['?', '#']) || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IssuerError::Config(format!(
            "the issuer URL {url:?} must be an absolute URL with a host and no query or fragment"
        )));
    }
    Ok(url.to_owned())
}

/// The periodic key check; ends when the issuer is dropped.
async fn background(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let issuer = Issuer { inner };
        if let Err(error) = issuer.tick().await {
            tracing::error!(%error, "periodic key check failed");
        }
    }
}

impl Issuer {
    /// Starts configuring an issuer whose URL is `issuer_url` (where its
    /// router is mounted, e.g. `https://example.com/auth`) and that keeps its
    /// records in `store`.
    pub fn builder(issuer_url: impl Into<String>, store: impl Store) -> IssuerBuilder {
        Self::builder_with_shared_store(issuer_url, Arc::new(store))
    }

    /// Like [`Issuer::builder`], with a store the caller keeps a handle to.
    pub fn builder_with_shared_store(
        issuer_url: impl Into<String>,
        store: Arc<dyn Store>,
    ) -> IssuerBuilder {
        IssuerBuilder {
            issuer_url: issuer_url.into(),
            store,
            alg: Algorithm::ES256,
            policy: RotationPolicy::default(),
            clock: Arc::new(m2m_core::now_unix),
            throttle: ThrottleConfig::default(),
            master_key: None,
            jwks_max_age: 300,
            default_audience: None,
            client_cache_ttl: Duration::from_secs(2),
            key_check_interval: Duration::from_secs(60),
            audit_capacity: 65_536,
            leeway: m2m_core::DEFAULT_LEEWAY_SECS,
            consent: None,
        }
    }

    /// The issuer URL, exactly as in tokens' `iss` and the metadata.
    pub fn issuer_url(&self) -> &str {
        &self.inner.issuer_url
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time by the issuer's clock.
    pub fn now(&self) -> u64 {
        self.inner.now()
    }

    /// The axum Router of every endpoint (contract sections 6 and 7), with
    /// paths relative to where it is mounted.
    pub fn router(&self) -> Router {
        crate::routes::router(self.clone())
    }

    /// A Router to merge at the host's root: it serves the RFC 8414 §3
    /// metadata path for an issuer URL with a path
    /// (`/.well-known/oauth-authorization-server/auth` for `https://host/auth`).
    /// For an issuer URL without a path it serves
    /// `/.well-known/oauth-authorization-server`, the same as [`Issuer::router`].
    pub fn well_known_router(&self) -> Router {
        crate::routes::well_known_router(self.clone())
    }

    /// Creates the bootstrap admin client (kind `service`, audience the
    /// issuer URL, scope `m2m:admin`) if the store has no client at all.
    /// Returns its credentials, shown this once, or `None` if clients exist.
    pub async fn bootstrap_admin(&self) -> Result<Option<(ClientId, ClientSecret)>, IssuerError> {
        let inner = &self.inner;
        let existing = inner
            .store
            .list_clients(&Default::default(), None, 1)
            .await?;
        if !existing.items.is_empty() {
            return Ok(None);
        }
        let now = inner.now();
        let scopes =
            ScopeSet::parse(ADMIN_SCOPE).map_err(|e| IssuerError::Config(e.to_string()))?;
        let client = ClientRecord {
            client_id: ClientId::generate()?,
            name: "bootstrap admin".to_owned(),
            kind: ClientKind::Service,
            org_id: None,
            user_id: None,
            scopes,
            audiences: vec![inner.issuer_url.clone()],
            token_ttl: TokenTtl::default(),
            redirect_uris: vec![],
            metadata: serde_json::json!({}),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let (secret, record) = clients::new_secret(&inner.hasher, &client.client_id, now, None)?;
        inner.store.create_client(&client, &record).await?;
        inner.audit.record(
            now,
            "client.created",
            Some(&client.client_id),
            None,
            serde_json::json!({"bootstrap": true}),
        );
        tracing::info!(client_id = %client.client_id, "bootstrap admin client created");
        Ok(Some((client.client_id, secret)))
    }

    /// The JWK Set published now (what `/.well-known/jwks.json` serves).
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.snapshot().jwks(self.inner.now())
    }

    /// Follows the published JWK Set: a new value after every rotation,
    /// refresh or pruning that changes it. For an in-process guard.
    pub fn subscribe_jwks(&self) -> watch::Receiver<JwkSet> {
        self.inner.keys.subscribe()
    }

    /// Completes `builder` into an [`m2m_guard::Guard`] for the host's own
    /// routes, fed in process by this issuer: its JWK Set now and on every
    /// key-ring change, and this node's revocations as they happen (no HTTP,
    /// no polling). Give `builder` the issuer and audience it should expect,
    /// and no key source of its own.
    ///
    /// ```
    /// use m2m_guard::Guard;
    /// use m2m_issuer::{Issuer, store::MemoryStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new()).build().await?;
    /// let guard = issuer
    ///     .guard(Guard::builder(issuer.issuer_url(), "https://example.com/api"))
    ///     .await?;
    /// let api: axum::Router = axum::Router::new()
    ///     .route("/api/invoices", axum::routing::get(|| async { "[]" }))
    ///     .route_layer(guard.require(["invoices:read"]));
    /// # let _ = api;
    /// # Ok::<(), m2m_issuer::IssuerError>(())
    /// # }).unwrap();
    /// ```
    pub async fn guard(
        &self,
        builder: m2m_guard::GuardBuilder,
    ) -> Result<m2m_guard::Guard, IssuerError> {
        crate::admin_auth::fed_guard(builder, self.subscribe_jwks(), self.subscribe_revocations())
            .await
    }

    /// Revocations as this node makes them (token revoked, client deleted or
    /// disabled). Other replicas' revocations arrive only through the feed.
    pub fn subscribe_revocations(&self) -> broadcast::Receiver<Revocation> {
        self.inner.revocations.subscribe()
    }

    /// Starts a key rotation now (what `POST /admin/keys/rotate` does).
    pub async fn rotate_keys(&self) -> Result<Rotation, IssuerError> {
        let inner = &self.inner;
        inner
            .keys
            .rotate(&*inner.store, &inner.crypt, inner.now())
            .await
    }

    /// Reloads the keys from the store (picking up other replicas' rotations).
    pub async fn refresh_keys(&self) -> Result<(), IssuerError> {
        let inner = &self.inner;
        inner
            .keys
            .refresh(&*inner.store, &inner.crypt, inner.now())
            .await
    }

    /// What the background task does every `key_check_interval`: reload the
    /// keys, rotate if due, prune retired keys past their time, and purge
    /// revocations of expired tokens and expired authorization codes. Tests
    /// call it after moving the clock.
    pub async fn tick(&self) -> Result<Option<Rotation>, IssuerError> {
        let inner = &self.inner;
        let now = inner.now();
        let rotation = inner.keys.tick(&*inner.store, &inner.crypt, now).await?;
        inner
            .store
            .purge_revocations(now.saturating_sub(inner.leeway))
            .await?;
        // Codes live 60 s; an expired one is refused whether or not it is here.
        inner.store.purge_auth_codes(now).await?;
        Ok(rotation)
    }

    /// Waits until every audit event queued so far is in the store.
    pub async fn flush_audit(&self) {
        self.inner.audit.flush().await;
    }

    /// How many audit events were dropped because the queue was full.
    pub fn dropped_audit_events(&self) -> u64 {
        self.inner.audit.dropped()
    }
}

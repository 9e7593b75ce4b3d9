//! [`Issuer`]: the domain units wired together, the public operations a
//! host calls, and the background tasks (key check, revocation follower).

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use m2m_core::{Algorithm, ClientId, ClientSecret, JwkSet, RotationPolicy, SecretHasher, TokenTtl};
use m2m_guard::{Guard, GuardBuilder, Revocations};
use tokio::sync::watch;

use crate::Cidr;
use crate::consent::ConsentHandler;
use crate::domain::audit::{AuditSink, TokenAudit};
use crate::domain::cache::ClientCache;
use crate::domain::client_auth::ClientAuth;
use crate::domain::client_metadata::{ClientMetadataDocuments, ClientMetadataPolicy};
use crate::domain::dpop::DpopBinding;
use crate::domain::dynamic_registration::{DynamicRegistration, RegistrationPolicy};
use crate::domain::exchange::TokenExchange;
use crate::domain::federation::{Federation, FederationPolicy};
use crate::domain::feed::Feed;
use crate::domain::follower::{self, Follower};
use crate::domain::grants::{Grants, GrantsParts};
use crate::domain::keycrypt;
use crate::domain::keys::{KeyManager, KeyRevocation, KeySettings, Rotation};
use crate::domain::minter::Minter;
use crate::domain::own_tokens::{OwnTokens, OwnTokensParts};
use crate::domain::private_key_jwt::{AssertionSettings, ClientJwksPolicy, PrivateKeyJwt};
use crate::domain::quota::{QuotaConfig, Quotas};
use crate::domain::registry::{Registry, RegistryParts};
use crate::domain::revocation::RevocationState;
use crate::domain::throttle::{Throttle, ThrottleConfig};
use crate::domain::token::{TokenEndpoint, TokenEndpointParts};
use crate::error::IssuerError;
use crate::store::Store;

/// How long audit events are kept unless configured otherwise: 90 days.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// The scope that the admin API requires.
pub const ADMIN_SCOPE: &str = "m2m:admin";

/// The realm of the admin API's `WWW-Authenticate` challenges.
pub(crate) const ADMIN_REALM: &str = "m2m-admin";

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The authorization server. Cheap to clone (one `Arc`); every clone shares
/// the same keys, caches and background tasks.
///
/// Build it with [`Issuer::builder`], then mount [`Issuer::router`].
#[derive(Clone)]
pub struct Issuer {
    inner: Arc<Inner>,
}

struct Inner {
    issuer_url: String,
    store: Arc<dyn Store>,
    clock: Clock,
    jwks_max_age: u64,
    leeway: u64,
    keys: Arc<KeyManager>,
    revocations: Arc<RevocationState>,
    registry: Arc<Registry>,
    grants: Arc<Grants>,
    token_endpoint: TokenEndpoint,
    own_tokens: Arc<OwnTokens>,
    feed: Feed,
    follower: Arc<Follower>,
    audit: Arc<AuditSink>,
    audit_retention: Option<Duration>,
    admin_guard: Guard,
    trusted_proxies: Arc<[Cidr]>,
    scopes_supported: Option<Vec<String>>,
    registration: Option<DynamicRegistration>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer_url", &self.inner.issuer_url)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
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
    trusted_proxies: Vec<Cidr>,
    master_key: Option<zeroize::Zeroizing<[u8; 32]>>,
    jwks_max_age: u64,
    default_audience: Option<String>,
    client_cache_ttl: Duration,
    key_check_interval: Duration,
    revocation_poll_interval: Duration,
    audit_capacity: usize,
    token_audit: TokenAudit,
    audit_retention: Option<Duration>,
    leeway: u64,
    consent: Option<Arc<dyn ConsentHandler>>,
    scopes_supported: Option<Vec<String>>,
    registration: Option<RegistrationPolicy>,
    client_metadata: Option<ClientMetadataPolicy>,
    assertion_max_lifetime: u64,
    client_jwks: ClientJwksPolicy,
    federation: FederationPolicy,
    dpop_nonce: Option<(zeroize::Zeroizing<Vec<u8>>, u64)>,
    quotas: QuotaConfig,
}

impl fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("issuer_url", &self.issuer_url)
            .field("alg", &self.alg)
            .field("policy", &self.policy)
            .field("throttle", &self.throttle)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("jwks_max_age", &self.jwks_max_age)
            .field("default_audience", &self.default_audience)
            .field("client_cache_ttl", &self.client_cache_ttl)
            .field("key_check_interval", &self.key_check_interval)
            .field("revocation_poll_interval", &self.revocation_poll_interval)
            .field("token_audit", &self.token_audit)
            .field("audit_retention", &self.audit_retention)
            .field("consent", &self.consent)
            .field("scopes_supported", &self.scopes_supported)
            .field("registration", &self.registration)
            .field("client_metadata", &self.client_metadata)
            .field(
                "dpop_nonce_slot_secs",
                &self.dpop_nonce.as_ref().map(|(_, slot)| slot),
            )
            .finish_non_exhaustive()
    }
}

impl IssuerBuilder {
    /// The signing algorithm of new keys: ES256 (default), EdDSA or RS256
    /// (PS256 is verified only: an issuer built with it fails to make keys).
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

    /// Token quotas: the default per client and per organization, the mode
    /// and the lease size (default: no quota). Counted in the store, shared
    /// by every replica; see the issuer docs for the bound leases give.
    pub fn quotas(mut self, config: QuotaConfig) -> Self {
        self.quotas = config;
        self
    }

    /// Throttling of failed client authentication.
    pub fn throttle(mut self, config: ThrottleConfig) -> Self {
        self.throttle = config;
        self
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers name the
    /// source address that failed authentication is throttled (and audited)
    /// under; default none, so the TCP peer is the source. Trust only the
    /// proxies in front of this server, which must append the address they
    /// received the request from: a client's own headers are read only left
    /// of the hops such a proxy added, which the reading never reaches.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use m2m_issuer::{Cidr, Issuer, store::MemoryStore};
    /// let proxies: Vec<Cidr> = vec!["10.0.0.0/8".parse()?, "fd00::/8".parse()?];
    /// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new())
    ///     .trusted_proxies(proxies)
    ///     .build()
    ///     .await?;
    /// # let _ = issuer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = Cidr>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
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
    /// zero disables the cache). Changes made through this node invalidate
    /// it at once; another replica may mint from a cached record for up to
    /// this long after a change, which is why a client revocation covers
    /// tokens issued up to this long (rounded up to the second) after it.
    pub fn client_cache_ttl(mut self, ttl: Duration) -> Self {
        self.client_cache_ttl = ttl;
        self
    }

    /// How often the background task reloads keys from the store, rotates
    /// when due and purges expired revocations and codes (default 60 s).
    pub fn key_check_interval(mut self, interval: Duration) -> Self {
        self.key_check_interval = interval;
        self
    }

    /// How often this node reads new entries of the store's revocation log,
    /// made by other replicas, into its in-process guards (default 1 s).
    /// Revocations made on this node hold in process at once.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.revocation_poll_interval = interval;
        self
    }

    /// Capacity of the audit queue (default 65,536 events).
    pub fn audit_queue_capacity(mut self, events: usize) -> Self {
        self.audit_capacity = events;
        self
    }

    /// How token issuance is audited (default [`TokenAudit::Aggregate`]:
    /// one record per client and minute). Failures and admin changes are
    /// always one event each.
    pub fn token_audit(mut self, mode: TokenAudit) -> Self {
        self.token_audit = mode;
        self
    }

    /// How long audit events and aggregates are kept (default 90 days;
    /// `None` keeps them forever). A background task, every
    /// `key_check_interval`, deletes older ones in small batches.
    pub fn audit_retention(mut self, retention: Option<Duration>) -> Self {
        self.audit_retention = retention;
        self
    }

    /// Clock leeway used when this issuer verifies tokens (admin API,
    /// introspection), in seconds (default 60). Grant revocations cover
    /// access tokens until `exp` plus this leeway.
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

    /// The scopes the metadata lists as `scopes_supported` (RFC 8414),
    /// for clients that discover what to ask for (MCP clients do). Not
    /// listed unless set; listing a scope grants nobody anything.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use m2m_issuer::{Issuer, store::MemoryStore};
    /// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new())
    ///     .scopes_supported(["invoices:read", "invoices:write"])
    ///     .build()
    ///     .await?;
    /// # let _ = issuer;
    /// # Ok::<(), m2m_issuer::IssuerError>(())
    /// # }).unwrap();
    /// ```
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Turns on Dynamic Client Registration (RFC 7591) at
    /// `POST /oauth/register` under `policy` (off by default). Registered
    /// clients are user-level, so a [`consent`](Self::consent) handler is
    /// required: [`build`](Self::build) fails without one.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use m2m_issuer::{Issuer, RegistrationPolicy, consent::DevConsent, store::MemoryStore};
    /// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new())
    ///     .consent(Arc::new(DevConsent::new("dev_user", "org_mcp")))
    ///     .dynamic_registration(RegistrationPolicy::new("org_mcp").scopes(["invoices:read"]))
    ///     .build()
    ///     .await?;
    /// # let _ = issuer;
    /// # Ok::<(), m2m_issuer::IssuerError>(())
    /// # }).unwrap();
    /// ```
    pub fn dynamic_registration(mut self, policy: RegistrationPolicy) -> Self {
        self.registration = Some(policy);
        self
    }

    /// Turns on Client ID Metadata Documents under `policy`: a `client_id`
    /// that is an https URL is fetched (SSRF-safely), checked, and
    /// registered as a public user-level client on first use at
    /// `/oauth/authorize`. Needs a [`consent`](Self::consent) handler. See
    /// [`ClientMetadataPolicy`] and the issuer guide.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use m2m_issuer::{ClientMetadataPolicy, Issuer, consent::DevConsent, store::MemoryStore};
    /// let issuer = Issuer::builder("https://example.com/auth", MemoryStore::new())
    ///     .consent(Arc::new(DevConsent::new("dev_user", "org_1")))
    ///     .scopes_supported(["invoices:read"])
    ///     .client_metadata_documents(
    ///         ClientMetadataPolicy::new().audience("https://mcp.example.com/mcp"),
    ///     )
    ///     .build()
    ///     .await?;
    /// # let _ = issuer;
    /// # Ok::<(), m2m_issuer::IssuerError>(())
    /// # }).unwrap();
    /// ```
    pub fn client_metadata_documents(mut self, policy: ClientMetadataPolicy) -> Self {
        self.client_metadata = Some(policy);
        self
    }

    /// How far ahead a client assertion's `exp` may lie (`private_key_jwt`,
    /// RFC 7523), in seconds; default
    /// [`DEFAULT_MAX_ASSERTION_LIFETIME_SECS`](m2m_core::DEFAULT_MAX_ASSERTION_LIFETIME_SECS)
    /// (5 minutes). The leeway is added for a client whose clock is ahead.
    pub fn assertion_max_lifetime(mut self, seconds: u64) -> Self {
        self.assertion_max_lifetime = seconds;
        self
    }

    /// How `private_key_jwt` clients' `jwks_uri` are fetched (default:
    /// [`ClientJwksPolicy::new`], public https hosts only).
    pub fn client_jwks(mut self, policy: ClientJwksPolicy) -> Self {
        self.client_jwks = policy;
        self
    }

    /// How workload identity federation reaches external issuers (OIDC
    /// discovery and their JWKS: https only, public addresses only unless
    /// allowed) and how long their tokens may live; see [`FederationPolicy`].
    pub fn federation(mut self, policy: FederationPolicy) -> Self {
        self.federation = policy;
        self
    }

    /// Requires DPoP server nonces at the token endpoint (RFC 9449 §8; off
    /// by default): a proof without a current nonce is answered 400
    /// `use_dpop_nonce`, and every token endpoint response carries a fresh
    /// nonce in `DPoP-Nonce`. A nonce is the HMAC of a `slot_secs`-long time
    /// slot under `secret` (at least 32 random bytes), valid for its slot
    /// and the next: give every replica the same secret and they accept each
    /// other's nonces with no shared state.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use m2m_issuer::{Issuer, store::MemoryStore};
    /// let issuer = Issuer::builder("https://auth.example.com", MemoryStore::new())
    ///     .master_key([7; 32])
    ///     .dpop_nonce([9u8; 32], 300)
    ///     .build()
    ///     .await?;
    /// # let _ = issuer;
    /// # Ok::<(), m2m_issuer::IssuerError>(())
    /// # }).unwrap();
    /// ```
    pub fn dpop_nonce(mut self, secret: impl AsRef<[u8]>, slot_secs: u64) -> Self {
        self.dpop_nonce = Some((zeroize::Zeroizing::new(secret.as_ref().to_vec()), slot_secs));
        self
    }

    fn check(&self) -> Result<String, IssuerError> {
        if self.client_metadata.is_some() && self.consent.is_none() {
            return Err(IssuerError::Config(
                "client metadata documents need a consent handler: their clients are user-level"
                    .into(),
            ));
        }
        let issuer_url = check_issuer_url(&self.issuer_url)?;
        self.quotas.check().map_err(IssuerError::Config)?;
        if self.policy.prepublish_secs < self.jwks_max_age {
            return Err(IssuerError::Config(format!(
                "rotation prepublish time ({} s) must be at least the JWKS max-age ({} s)",
                self.policy.prepublish_secs, self.jwks_max_age
            )));
        }
        if self.policy.retain_secs < u64::from(TokenTtl::MAX) {
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
        for scope in self.scopes_supported.iter().flatten() {
            m2m_core::Scope::new(scope)
                .map_err(|e| IssuerError::Config(format!("scopes_supported: {scope:?}: {e}")))?;
        }
        if self.registration.is_some() && self.consent.is_none() {
            return Err(IssuerError::Config(
                "dynamic client registration creates user-level clients, which need a consent \
                 handler: set one with IssuerBuilder::consent"
                    .into(),
            ));
        }
        if let Some((secret, slot_secs)) = &self.dpop_nonce {
            if secret.len() < 32 {
                return Err(IssuerError::Config(
                    "the DPoP nonce secret must be at least 32 bytes".into(),
                ));
            }
            if *slot_secs == 0 {
                return Err(IssuerError::Config(
                    "the DPoP nonce slot must be at least 1 second".into(),
                ));
            }
        }
        if self.key_check_interval.is_zero() || self.revocation_poll_interval.is_zero() {
            return Err(IssuerError::Config(
                "key_check_interval and revocation_poll_interval must be positive".into(),
            ));
        }
        Ok(issuer_url)
    }

    /// Checks the configuration, loads or creates the signing keys, loads
    /// the revocation log, and starts the background tasks on the current
    /// Tokio runtime.
    ///
    /// Fails with [`IssuerError::KeyDecryption`] if stored keys were sealed
    /// under another master key.
    pub async fn build(self) -> Result<Issuer, IssuerError> {
        let issuer_url = self.check()?;
        let master = match self.master_key {
            Some(key) => key,
            None => zeroize::Zeroizing::new(m2m_core::random_bytes()?),
        };
        let (pepper, crypt) = keycrypt::derive(&master);
        let hasher = Arc::new(SecretHasher::new(pepper.as_ref()));
        let clock = self.clock;
        let now = clock();
        let store = self.store;

        let cache = Arc::new(ClientCache::new(self.client_cache_ttl));
        let org_refresh = cache.window_secs();
        let audit = Arc::new(AuditSink::start(
            Arc::clone(&store),
            self.audit_capacity,
            self.token_audit,
            Arc::clone(&clock),
        ));
        let revocations = Arc::new(RevocationState::new(Arc::clone(&cache)));
        let keys = Arc::new(
            KeyManager::start(
                Arc::clone(&store),
                KeySettings {
                    crypt,
                    alg: self.alg,
                    policy: self.policy,
                    revocations: Arc::clone(&revocations),
                    audit: Arc::clone(&audit),
                },
                now,
            )
            .await?,
        );
        let follower = Arc::new(Follower::new(
            Arc::clone(&store),
            Arc::clone(&revocations),
            Arc::clone(&keys),
            self.leeway,
        ));
        // Every revocation in the store holds before the first request.
        follower.catch_up(now).await.map_err(|e| e.0)?;

        let default_audience = self.default_audience.unwrap_or_else(|| issuer_url.clone());
        let minter = Arc::new(Minter::new(
            issuer_url.clone(),
            default_audience,
            Arc::clone(&keys),
        ));
        let registry = Arc::new(Registry::new(RegistryParts {
            store: Arc::clone(&store),
            cache: Arc::clone(&cache),
            audit: Arc::clone(&audit),
            revocations: Arc::clone(&revocations),
            minter: Arc::clone(&minter),
            hasher: Arc::clone(&hasher),
            issuer_url: issuer_url.clone(),
            leeway: self.leeway,
        }));
        let registration = self
            .registration
            .map(|policy| {
                DynamicRegistration::new(
                    policy,
                    self.scopes_supported.as_deref(),
                    Arc::clone(&registry),
                    Arc::clone(&audit),
                )
            })
            .transpose()?;
        let client_auth = Arc::new(ClientAuth::new(
            Arc::clone(&store),
            Arc::clone(&cache),
            hasher,
            Throttle::shared(self.throttle, Arc::clone(&store)),
            Arc::clone(&audit),
            PrivateKeyJwt::new(
                Arc::clone(&store),
                AssertionSettings {
                    issuer_url: issuer_url.clone(),
                    leeway: self.leeway,
                    max_lifetime: self.assertion_max_lifetime,
                },
                &self.client_jwks,
            )?,
            Arc::new(Federation::new(
                Arc::clone(&store),
                self.federation,
                self.leeway,
            )?),
        ));
        let documents = self
            .client_metadata
            .map(|policy| {
                ClientMetadataDocuments::new(
                    policy,
                    self.scopes_supported.as_deref(),
                    Arc::clone(&registry),
                )
                .map(Arc::new)
            })
            .transpose()?;
        let grants = Arc::new(Grants::new(GrantsParts {
            store: Arc::clone(&store),
            cache: Arc::clone(&cache),
            minter: Arc::clone(&minter),
            registry: Arc::clone(&registry),
            audit: Arc::clone(&audit),
            consent: self.consent,
            documents,
        }));
        let dpop = Arc::new(DpopBinding::new(
            Arc::clone(&store),
            self.dpop_nonce
                .as_ref()
                .map(|(secret, slot)| m2m_core::DpopNonces::new(secret, *slot)),
        ));
        let in_process = |builder: GuardBuilder| {
            builder
                .leeway(self.leeway)
                .clock(Arc::clone(&clock))
                .in_process(keys.in_process())
                .revocations(revocations.set())
                .build()
        };
        let verifier = in_process(Guard::builder(&issuer_url, &issuer_url).any_audience())
            .await
            .map_err(|e| IssuerError::Config(format!("in-process verifier: {e}")))?;
        let admin_guard = in_process(Guard::builder(&issuer_url, &issuer_url).realm(ADMIN_REALM))
            .await
            .map_err(|e| IssuerError::Config(format!("admin API guard: {e}")))?;
        let own_tokens = Arc::new(OwnTokens::new(OwnTokensParts {
            verifier,
            store: Arc::clone(&store),
            cache,
            client_auth: Arc::clone(&client_auth),
            registry: Arc::clone(&registry),
            grants: Arc::clone(&grants),
        }));
        let token_endpoint = TokenEndpoint::new(TokenEndpointParts {
            client_auth,
            minter: Arc::clone(&minter),
            grants: Arc::clone(&grants),
            audit: Arc::clone(&audit),
            dpop,
            exchange: TokenExchange::new(Arc::clone(&own_tokens), minter, Arc::clone(&store)),
            quotas: Arc::new(Quotas::new(
                self.quotas,
                Arc::clone(&store),
                Arc::clone(&audit),
                org_refresh,
            )),
        });
        let inner = Arc::new(Inner {
            feed: Feed::new(Arc::clone(&store)),
            issuer_url,
            store,
            clock: Arc::clone(&clock),
            jwks_max_age: self.jwks_max_age,
            leeway: self.leeway,
            keys,
            revocations,
            registry,
            grants,
            token_endpoint,
            own_tokens,
            follower: Arc::clone(&follower),
            audit,
            audit_retention: self.audit_retention,
            admin_guard,
            trusted_proxies: self.trusted_proxies.into(),
            scopes_supported: self.scopes_supported,
            registration,
        });
        tokio::spawn(key_check(Arc::downgrade(&inner), self.key_check_interval));
        if self.audit_retention.is_some() {
            tokio::spawn(audit_purge(Arc::downgrade(&inner), self.key_check_interval));
        }
        follower::spawn(
            Arc::downgrade(&follower),
            clock,
            self.revocation_poll_interval,
        );
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
async fn key_check(inner: Weak<Inner>, interval: Duration) {
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

/// The periodic audit purge; ends when the issuer is dropped.
async fn audit_purge(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let issuer = Issuer { inner };
        match issuer.purge_audit().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged audit events past retention"),
            Err(error) => tracing::error!(%error, "audit purge failed"),
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
            trusted_proxies: Vec::new(),
            master_key: None,
            jwks_max_age: 300,
            default_audience: None,
            client_cache_ttl: Duration::from_secs(2),
            key_check_interval: Duration::from_secs(60),
            revocation_poll_interval: Duration::from_secs(1),
            audit_capacity: 65_536,
            token_audit: TokenAudit::default(),
            audit_retention: Some(DEFAULT_AUDIT_RETENTION),
            leeway: m2m_core::DEFAULT_LEEWAY_SECS,
            consent: None,
            scopes_supported: None,
            registration: None,
            client_metadata: None,
            assertion_max_lifetime: m2m_core::DEFAULT_MAX_ASSERTION_LIFETIME_SECS,
            client_jwks: ClientJwksPolicy::default(),
            federation: FederationPolicy::default(),
            dpop_nonce: None,
            quotas: QuotaConfig::default(),
        }
    }

    /// The networks of the proxies whose forwarding headers are believed.
    pub(crate) fn trusted_proxies(&self) -> &[Cidr] {
        &self.inner.trusted_proxies
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
        (self.inner.clock)()
    }

    /// The axum Router of every endpoint (contract sections 6 and 7), with
    /// paths relative to where it is mounted.
    pub fn router(&self) -> Router {
        crate::http::router(self.clone())
    }

    /// A Router to merge at the host's root: it serves the RFC 8414 §3
    /// metadata path for an issuer URL with a path
    /// (`/.well-known/oauth-authorization-server/auth` for `https://host/auth`).
    /// For an issuer URL without a path it serves
    /// `/.well-known/oauth-authorization-server`, the same as [`Issuer::router`].
    pub fn well_known_router(&self) -> Router {
        crate::http::well_known_router(self.clone())
    }

    /// Creates the bootstrap admin client (kind `service`, audience the
    /// issuer URL, scope `m2m:admin`) if the store has no client at all.
    /// Returns its credentials, shown this once, or `None` if clients exist.
    pub async fn bootstrap_admin(&self) -> Result<Option<(ClientId, ClientSecret)>, IssuerError> {
        self.inner.registry.bootstrap_admin(self.now()).await
    }

    /// The JWK Set published now (what `/.well-known/jwks.json` serves).
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.snapshot().jwks(self.now())
    }

    /// Follows the published JWK Set: a new value after every rotation,
    /// revocation, refresh or pruning that changes it.
    pub fn subscribe_jwks(&self) -> watch::Receiver<JwkSet> {
        self.inner.keys.subscribe()
    }

    /// The revocations this node's in-process guards refuse: loaded from
    /// the store at start, updated at once by every revocation made on this
    /// node, and by other replicas' within the revocation poll interval.
    pub fn revocations(&self) -> &Revocations {
        self.inner.revocations.set()
    }

    /// Completes `builder` into an [`m2m_guard::Guard`] for the host's own
    /// routes, fed in process by this issuer: its keys and its revocations,
    /// shared with the issuer's own guards (no HTTP, no polling; a
    /// revocation made on this node is refused before the call that made it
    /// returns). Give `builder` the issuer and audience it should expect,
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
    pub async fn guard(&self, builder: GuardBuilder) -> Result<Guard, IssuerError> {
        builder
            .in_process(self.inner.keys.in_process())
            .revocations(self.inner.revocations.set())
            .build()
            .await
            .map_err(|e| IssuerError::Config(format!("in-process guard: {e}")))
    }

    /// Starts a key rotation now (what `POST /admin/keys/rotate` does).
    pub async fn rotate_keys(&self) -> Result<Rotation, IssuerError> {
        self.inner.keys.rotate(None, self.now()).await
    }

    /// Revokes a signing key at once (what `POST /admin/keys/{kid}/revoke`
    /// does, for an admin client `actor`): it stops signing and leaves the
    /// JWKS, a new key signs if it was the only signer, and every token it
    /// signed is refused by this node's in-process guards before this
    /// returns, by other replicas' within their revocation poll interval,
    /// and by remote guards once they refresh the JWKS or read the feed.
    pub async fn revoke_key(
        &self,
        actor: &ClientId,
        kid: &str,
    ) -> Result<KeyRevocation, IssuerError> {
        self.inner.keys.revoke(actor, kid, self.now()).await
    }

    /// Reloads the keys from the store (picking up other replicas' rotations).
    pub async fn refresh_keys(&self) -> Result<(), IssuerError> {
        self.inner.keys.refresh(self.now()).await
    }

    /// Reads new entries of the store's revocation log now (what the
    /// background follower does every poll interval). Returns how many.
    pub async fn follow_revocations(&self) -> Result<usize, IssuerError> {
        self.inner
            .follower
            .catch_up(self.now())
            .await
            .map_err(|e| e.0)
    }

    /// What the background task does every `key_check_interval`: reload the
    /// keys, rotate if due, prune retired keys past their time, and purge
    /// revocations whose tokens have all expired and expired authorization
    /// codes. Tests call it after moving the clock.
    pub async fn tick(&self) -> Result<Option<Rotation>, IssuerError> {
        let inner = &self.inner;
        let now = self.now();
        let rotation = inner.keys.tick(now).await?;
        let before = now.saturating_sub(inner.leeway);
        inner.store.purge_revocations(before).await?;
        inner.revocations.prune(before);
        // Codes live 60 s; an expired one is refused whether or not it is here.
        inner.store.purge_auth_codes(now).await?;
        // A claimed assertion id is kept until its assertion's exp + leeway.
        inner.store.purge_assertion_ids(now).await?;
        // An exchanged token's record is needed until no verifier accepts it.
        inner.store.purge_exchanged_tokens(before).await?;
        // Quota and throttle counters of windows that have ended.
        inner.store.purge_usage(now).await?;
        Ok(rotation)
    }

    /// Waits until every audit event queued so far is in the store.
    pub async fn flush_audit(&self) {
        self.inner.audit.flush().await;
    }

    /// What the background purge does every `key_check_interval`: deletes
    /// audit events and aggregates older than the retention period (by the
    /// issuer's clock), in batches of 1,000 rows with a pause between, so
    /// writers are never held up for long. Returns how many; 0 when
    /// retention is off. Tests call it after moving the clock.
    pub async fn purge_audit(&self) -> Result<u64, IssuerError> {
        let Some(retention) = self.inner.audit_retention else {
            return Ok(0);
        };
        let before = self.now().saturating_sub(retention.as_secs());
        Ok(crate::domain::audit::purge(self.inner.store.as_ref(), before).await?)
    }

    /// How many token quota windows this replica saw exceeded first (each
    /// window of each client or organization once, across replicas).
    pub fn quota_windows_exceeded(&self) -> u64 {
        self.inner.token_endpoint.quotas().exceeded_windows()
    }

    /// How many audit events were dropped because the queue was full.
    pub fn dropped_audit_events(&self) -> u64 {
        self.inner.audit.dropped()
    }

    // ---- for the HTTP layer: one domain unit each ----

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn quotas(&self) -> &Quotas {
        self.inner.token_endpoint.quotas()
    }

    pub(crate) fn token_endpoint(&self) -> &TokenEndpoint {
        &self.inner.token_endpoint
    }

    pub(crate) fn grants(&self) -> &Grants {
        &self.inner.grants
    }

    pub(crate) fn own_tokens(&self) -> &OwnTokens {
        &self.inner.own_tokens
    }

    pub(crate) fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    pub(crate) fn keys(&self) -> &KeyManager {
        &self.inner.keys
    }

    pub(crate) fn admin_guard(&self) -> &Guard {
        &self.inner.admin_guard
    }

    pub(crate) fn scopes_supported(&self) -> Option<&[String]> {
        self.inner.scopes_supported.as_deref()
    }

    /// Dynamic client registration, when it is on.
    pub(crate) fn registration(&self) -> Option<&DynamicRegistration> {
        self.inner.registration.as_ref()
    }

    pub(crate) fn jwks_max_age(&self) -> u64 {
        self.inner.jwks_max_age
    }
}

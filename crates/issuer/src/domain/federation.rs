//! Workload identity federation: a client's trust entries (federated
//! credentials) for external issuers, and the rules a JWT from such an
//! issuer must meet to authenticate the client.
//!
//! An entry names:
//!
//! - `issuer`: compared with the token's `iss` as an exact string (no
//!   normalisation: `https://a/` and `https://a` are two issuers). An
//!   `https` URL (or `http`, for an issuer only known by an inline `jwks`
//!   or allowed by the operator's fetch policy), at most
//!   [`MAX_URL_LEN`] bytes, without query or fragment.
//! - `subject`: the token's `sub`, exactly, or a pattern in which each `*`
//!   stands for any run of characters (none included; `:` and `/` too). No
//!   other character is special and there is no escape. A pattern must have
//!   at least one character that is not `*`, and at most
//!   [`MAX_WILDCARDS`] of them. `repo:acme/app:ref:refs/heads/*` matches
//!   every branch of `acme/app`; `system:serviceaccount:ci:*` every service
//!   account of namespace `ci`.
//! - `audience`: a value the token's `aud` must contain; the issuer
//!   identifier of this server when not given.
//! - `claims`: conditions, each a claim name and the value it must have.
//!   A name is a top-level claim (`repository`), or, when it starts with
//!   `/`, a JSON Pointer (RFC 6901) into the claims, for nested ones
//!   (`/kubernetes.io/namespace`). The claim must be present and equal the
//!   value exactly: a string as is, a number or boolean as its JSON text
//!   (`true`, `42`); an object, array or null never matches. The registered
//!   claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) have their own
//!   rules and cannot be conditions. At most [`MAX_CLAIMS`] conditions.
//! - `jwks`: the issuer's public keys, for an issuer whose OIDC discovery
//!   this server cannot reach (a Kubernetes cluster's). Without it, the keys
//!   come from `{issuer}/.well-known/openid-configuration` → `jwks_uri`.
//!
//! A client has at most [`MAX_PER_CLIENT`] entries.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use m2m_core::{AssertionClaims, AssertionRules, ClientId, JwkSet, KeySet, verify_assertion};
use m2m_guard::RemoteJwks;
use m2m_guard::fetch::Fetcher;
use m2m_guard::net::Cidr;

use crate::domain::outbound::Outbound;
use serde_json::Value;

use super::error::RegistryError;
use crate::IssuerError;
use crate::store::{FederatedCredentialRecord, Store, StoreResult};

/// Most federated credentials one client may have.
pub(crate) const MAX_PER_CLIENT: usize = 20;
/// Longest `issuer` and `audience`, in bytes.
pub(crate) const MAX_URL_LEN: usize = 512;
/// Longest `subject` (pattern), in bytes.
pub(crate) const MAX_SUBJECT_LEN: usize = 512;
/// Most `*` in a subject pattern.
pub(crate) const MAX_WILDCARDS: usize = 8;
/// Most claim conditions of one entry.
pub(crate) const MAX_CLAIMS: usize = 16;
/// Longest claim name, in bytes.
pub(crate) const MAX_CLAIM_NAME_LEN: usize = 128;
/// Longest required claim value, in bytes.
pub(crate) const MAX_CLAIM_VALUE_LEN: usize = 512;
/// Most keys of an inline `jwks`.
pub(crate) const MAX_INLINE_KEYS: usize = 16;
/// Largest inline `jwks`, as JSON, in bytes.
pub(crate) const MAX_INLINE_JWKS_LEN: usize = 16 * 1024;

/// Claims with rules of their own, refused as conditions.
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// A federated credential as an admin asked for it, before its checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewFederatedCredential {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audience: Option<String>,
    pub(crate) claims: BTreeMap<String, String>,
    pub(crate) jwks: Option<Value>,
}

/// A checked entry's fields (the id, client and time are the registry's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckedEntry {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audience: String,
    pub(crate) claims: BTreeMap<String, String>,
    pub(crate) jwks: Option<Value>,
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A URL-shaped value (`issuer`, `audience`): bounded, no control
/// characters; `issuer` must also be an http(s) URL without query or fragment.
fn check_issuer(issuer: &str) -> Result<(), RegistryError> {
    if issuer.is_empty() || issuer.len() > MAX_URL_LEN || has_control(issuer) {
        return Err(RegistryError::invalid(format!(
            "issuer must be 1 to {MAX_URL_LEN} bytes without control characters"
        )));
    }
    let url = url::Url::parse(issuer)
        .map_err(|_| RegistryError::invalid("issuer must be an absolute https URL"))?;
    if !matches!(url.scheme(), "https" | "http")
        || url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(RegistryError::invalid(
            "issuer must be an https URL without credentials, query or fragment",
        ));
    }
    Ok(())
}

fn check_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN || has_control(subject) {
        return Err(RegistryError::invalid(format!(
            "subject must be 1 to {MAX_SUBJECT_LEN} bytes without control characters"
        )));
    }
    if subject.chars().all(|c| c == '*') {
        return Err(RegistryError::invalid(
            "subject must not match every subject: give a literal part \
             (e.g. repo:org/repo:* or system:serviceaccount:ns:*)",
        ));
    }
    if subject.matches('*').count() > MAX_WILDCARDS {
        return Err(RegistryError::invalid(format!(
            "subject may have at most {MAX_WILDCARDS} `*`"
        )));
    }
    Ok(())
}

fn check_claims(claims: &BTreeMap<String, String>) -> Result<(), RegistryError> {
    if claims.len() > MAX_CLAIMS {
        return Err(RegistryError::invalid(format!(
            "at most {MAX_CLAIMS} claim conditions"
        )));
    }
    for (name, value) in claims {
        if name.is_empty()
            || name.len() > MAX_CLAIM_NAME_LEN
            || has_control(name)
            || name == "/"
            || name.ends_with('/') && name.starts_with('/')
        {
            return Err(RegistryError::invalid(format!(
                "a claim name must be 1 to {MAX_CLAIM_NAME_LEN} bytes without control \
                 characters (a JSON Pointer when it starts with /)"
            )));
        }
        let top = top_level_name(name);
        if REGISTERED.contains(&top.as_str()) {
            return Err(RegistryError::invalid(format!(
                "claim `{top}` has its own rule and cannot be a condition"
            )));
        }
        if value.len() > MAX_CLAIM_VALUE_LEN || has_control(value) {
            return Err(RegistryError::invalid(format!(
                "a claim value must be at most {MAX_CLAIM_VALUE_LEN} bytes without control \
                 characters"
            )));
        }
    }
    Ok(())
}

/// The top-level claim a condition name reads.
fn top_level_name(name: &str) -> String {
    match name.strip_prefix('/') {
        Some(pointer) => unescape_pointer_token(pointer.split('/').next().unwrap_or_default()),
        None => name.to_owned(),
    }
}

fn unescape_pointer_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn check_jwks(jwks: &Value) -> Result<(), RegistryError> {
    let len = serde_json::to_vec(jwks).map_or(usize::MAX, |v| v.len());
    if len > MAX_INLINE_JWKS_LEN {
        return Err(RegistryError::invalid(format!(
            "jwks must be at most {MAX_INLINE_JWKS_LEN} bytes"
        )));
    }
    let set: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|e| RegistryError::invalid(format!("jwks is not a JWK Set: {e}")))?;
    if set.keys.is_empty() || set.keys.len() > MAX_INLINE_KEYS {
        return Err(RegistryError::invalid(format!(
            "jwks must hold 1 to {MAX_INLINE_KEYS} keys"
        )));
    }
    let private = |k: &Value| ["d", "p", "q", "k"].iter().any(|m| k.get(m).is_some());
    if jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(private))
    {
        return Err(RegistryError::invalid(
            "jwks must hold public keys only (a key has private or symmetric material)",
        ));
    }
    let keys = KeySet::from_jwk_set(&set)
        .map_err(|e| RegistryError::invalid(format!("jwks is unusable: {e}")))?;
    if let Some(skipped) = keys.skipped().first() {
        return Err(RegistryError::invalid(format!(
            "jwks key {} cannot verify signatures: {}",
            skipped.kid.as_deref().unwrap_or("(no kid)"),
            skipped.reason
        )));
    }
    Ok(())
}

/// Checks an entry an admin asked for; `default_audience` is this issuer's
/// identifier.
pub(crate) fn check_new(
    new: NewFederatedCredential,
    default_audience: &str,
) -> Result<CheckedEntry, RegistryError> {
    check_issuer(&new.issuer)?;
    check_subject(&new.subject)?;
    let audience = new.audience.unwrap_or_else(|| default_audience.to_owned());
    if audience.is_empty() || audience.len() > MAX_URL_LEN || has_control(&audience) {
        return Err(RegistryError::invalid(format!(
            "audience must be 1 to {MAX_URL_LEN} bytes without control characters"
        )));
    }
    check_claims(&new.claims)?;
    if let Some(jwks) = &new.jwks {
        check_jwks(jwks)?;
    }
    Ok(CheckedEntry {
        issuer: new.issuer,
        subject: new.subject,
        audience,
        claims: new.claims,
        jwks: new.jwks,
    })
}

/// Whether `subject` matches `pattern` (see the module docs): `*` is any
/// run of characters. Linear in practice; bounded by the pattern's
/// [`MAX_WILDCARDS`] and both lengths.
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = subject.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        // No `*`: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The value a condition `name` reads in `claims`, if any.
fn claim_at<'a>(claims: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    match name.strip_prefix('/') {
        None => claims.get(name),
        Some(pointer) => {
            let mut tokens = pointer.split('/').map(unescape_pointer_token);
            let mut value = claims.get(&tokens.next()?)?;
            for token in tokens {
                value = match value {
                    Value::Object(map) => map.get(&token)?,
                    Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                    _ => return None,
                };
            }
            Some(value)
        }
    }
}

/// Whether every condition holds for `claims` (see the module docs).
pub(crate) fn claims_hold(
    conditions: &BTreeMap<String, String>,
    claims: &serde_json::Map<String, Value>,
) -> bool {
    conditions
        .iter()
        .all(|(name, required)| match claim_at(claims, name) {
            Some(Value::String(s)) => s == required,
            Some(v @ (Value::Bool(_) | Value::Number(_))) => {
                let text = v.to_string();
                text == *required
            }
            _ => false,
        })
}

// ---- the operator's policy ----

/// The default longest lifetime of an external token, in seconds: one hour
/// (a Kubernetes projected service-account token's default).
pub const DEFAULT_FEDERATED_MAX_LIFETIME_SECS: u64 = 3600;

/// How this issuer fetches external issuers' discovery documents and keys,
/// and how long their tokens may live
/// ([`IssuerBuilder::federation`](crate::IssuerBuilder::federation)).
///
/// By default: https only, public addresses only (the SSRF rules of the
/// guard's [`Fetcher`](m2m_guard::fetch::Fetcher) under [`AddressPolicy::public_only`](m2m_guard::net::AddressPolicy::public_only)), 5 s and 256 KiB
/// per fetch, tokens living at most
/// [`DEFAULT_FEDERATED_MAX_LIFETIME_SECS`] from now.
///
/// ```
/// use m2m_issuer::FederationPolicy;
/// let policy = FederationPolicy::new().max_token_lifetime(600);
/// # let _ = policy;
/// ```
#[derive(Clone)]
#[must_use]
pub struct FederationPolicy {
    allowed_networks: Vec<Cidr>,
    extra_root_pem: Option<Vec<u8>>,
    timeout: Duration,
    max_bytes: usize,
    max_lifetime: u64,
    cooldown: Duration,
}

impl fmt::Debug for FederationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederationPolicy")
            .field("allowed_networks", &self.allowed_networks)
            .field("extra_root_pem", &self.extra_root_pem.is_some())
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

impl Default for FederationPolicy {
    fn default() -> Self {
        FederationPolicy {
            allowed_networks: Vec::new(),
            extra_root_pem: None,
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
            max_lifetime: DEFAULT_FEDERATED_MAX_LIFETIME_SECS,
            cooldown: Duration::from_secs(30),
        }
    }
}

impl FederationPolicy {
    /// The defaults (see the type's docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// A network fetches may reach although it is loopback, private or
    /// otherwise reserved (an issuer inside the deployment, tests).
    pub fn allow_network(mut self, network: Cidr) -> Self {
        self.allowed_networks.push(network);
        self
    }

    /// Trust the root certificates of this PEM for these fetches too.
    pub fn extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_pem = Some(pem.into());
        self
    }

    /// The limit on one fetch, connecting included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How far ahead an external token's `exp` may lie, in seconds
    /// (default one hour); the leeway is added.
    pub fn max_token_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// The least time between two fetches of one issuer's keys for an
    /// unknown `kid`, and between retries of a failed fetch (default 30 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }
}

// ---- verification ----

/// Most trust entries of one issuer judged for a JWT-bearer grant without
/// `client_id` (each may cost a signature check); past it, send `client_id`.
pub(crate) const MAX_ENTRIES_OF_ISSUER: usize = 100;
/// Issuers whose discovered keys are kept at most; past it one is dropped.
const MAX_ISSUERS: usize = 256;
/// How long a discovery answer (the `jwks_uri`) is trusted before asking again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// One external issuer's keys, found through OIDC discovery.
#[derive(Debug)]
struct Discovered {
    jwks: RemoteJwks,
    at: Instant,
}

/// The federation unit: judges an external token for a client.
#[derive(Debug)]
pub(crate) struct Federation {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    leeway: u64,
    max_lifetime: u64,
    cooldown: Duration,
    issuers: DashMap<String, Arc<Discovered>>,
    /// Discovery failures: issuer → when, so a failing issuer is asked at
    /// most once per cooldown.
    failures: DashMap<String, Instant>,
    /// One discovery at a time (they are rare: one per issuer per hour).
    discovering: tokio::sync::Mutex<()>,
}

/// Why a federated token was refused: a short reason for audit and logs.
pub(crate) type Reason = &'static str;

impl Federation {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        policy: FederationPolicy,
        leeway: u64,
    ) -> Result<Self, IssuerError> {
        let fetcher = Outbound {
            purpose: "federation",
            timeout: policy.timeout,
            max_bytes: policy.max_bytes,
            allowed_networks: policy.allowed_networks,
            extra_root_pem: policy.extra_root_pem.as_deref(),
        }
        .fetcher()?;
        Ok(Federation {
            store,
            fetcher,
            leeway,
            max_lifetime: policy.max_lifetime,
            cooldown: policy.cooldown,
            issuers: DashMap::new(),
            failures: DashMap::new(),
            discovering: tokio::sync::Mutex::new(()),
        })
    }

    /// The trust entries of `client_id` for the issuer `iss` (exact).
    pub(crate) async fn entries_for(
        &self,
        client_id: &ClientId,
        iss: &str,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        Ok(self
            .store
            .list_federated_credentials(client_id)
            .await?
            .into_iter()
            .filter(|e| e.issuer == iss)
            .collect())
    }

    /// The trust entries of every client for the issuer `iss` (exact), at
    /// most [`MAX_ENTRIES_OF_ISSUER`]: the JWT-bearer grant without a
    /// `client_id` picks the one client whose entry the token matches.
    pub(crate) async fn entries_of_issuer(
        &self,
        iss: &str,
    ) -> StoreResult<Vec<FederatedCredentialRecord>> {
        self.store
            .federated_credentials_of_issuer(iss, MAX_ENTRIES_OF_ISSUER)
            .await
    }

    /// Verifies `token` against each of `entries` (trust entries of the
    /// token's unverified `iss`) at `now`: the entry's keys (inline, or the
    /// issuer's discovered ones), the signature (asymmetric only, RFC 8725
    /// refusals), `exp` required and at most the configured lifetime ahead,
    /// `nbf`/`iat` with leeway, then the entry's audience, subject and claim
    /// conditions. Returns the entries that hold, with the verified claims,
    /// or the reason the last one failed. The `jti` is the caller's to claim.
    pub(crate) async fn verify(
        &self,
        entries: &[FederatedCredentialRecord],
        token: &str,
        kid: Option<&str>,
        now: u64,
    ) -> Result<(Vec<FederatedCredentialRecord>, AssertionClaims), Reason> {
        let mut reason = "no_federated_credential";
        let mut matched = Vec::new();
        let mut verified_claims: Option<AssertionClaims> = None;
        // The discovered keys' verdict, computed once for all entries using them.
        let mut discovered: Option<Result<AssertionClaims, Reason>> = None;
        for entry in entries {
            let claims = if entry.jwks.is_none() {
                if discovered.is_none() {
                    discovered = Some(self.verify_with(entry, token, kid).await);
                }
                discovered.clone().unwrap_or(Err(reason))
            } else {
                self.verify_with(entry, token, kid).await
            };
            let claims = match claims {
                Ok(claims) => claims,
                Err(why) => {
                    reason = why;
                    continue;
                }
            };
            let rules = AssertionRules::new([entry.audience.as_str()])
                .issuer(entry.issuer.as_str())
                .leeway(self.leeway)
                .max_lifetime(self.max_lifetime)
                .require_jti(false);
            if let Err(e) = rules.check(&claims, now) {
                reason = e.reason();
                continue;
            }
            if !subject_matches(&entry.subject, &claims.sub) {
                reason = "wrong_subject";
                continue;
            }
            if !claims_hold(&entry.claims, &claims.other) {
                reason = "claim_condition_failed";
                continue;
            }
            matched.push(entry.clone());
            verified_claims = Some(claims);
        }
        match verified_claims {
            Some(claims) => Ok((matched, claims)),
            None => Err(reason),
        }
    }

    /// The signature of `token` under `entry`'s keys, and its claims.
    async fn verify_with(
        &self,
        entry: &FederatedCredentialRecord,
        token: &str,
        kid: Option<&str>,
    ) -> Result<AssertionClaims, Reason> {
        let keys = self.keys(entry, kid).await?;
        verify_assertion(token, &keys, m2m_core::DEFAULT_MAX_ASSERTION_LEN)
            .map(|verified| verified.claims)
            .map_err(|e| e.reason())
    }

    /// Claims the token's `jti` (when it has one) in the store, with the
    /// external issuer as namespace, until `exp` + leeway: `false` if seen.
    pub(crate) async fn claim_jti(&self, claims: &AssertionClaims, now: u64) -> StoreResult<bool> {
        match (claims.jti.as_deref(), claims.replay_until(self.leeway)) {
            (Some(jti), Some(until)) if !jti.is_empty() => {
                self.store
                    .claim_assertion_id(&claims.iss, jti, until, now)
                    .await
            }
            _ => Ok(true),
        }
    }

    /// The keys to verify with: the entry's inline JWK Set (entries of one
    /// issuer with inline keys: the first's), else the discovered ones.
    async fn keys(
        &self,
        entry: &FederatedCredentialRecord,
        kid: Option<&str>,
    ) -> Result<Arc<KeySet>, Reason> {
        if let Some(jwks) = &entry.jwks {
            let set: JwkSet =
                serde_json::from_value(jwks.clone()).map_err(|_| "issuer_keys_unusable")?;
            return KeySet::from_jwk_set(&set)
                .map(Arc::new)
                .map_err(|_| "issuer_keys_unusable");
        }
        let discovered = self.discovered(&entry.issuer).await?;
        let keys = match kid {
            Some(kid) => discovered.jwks.keys_for_kid(kid).await,
            None => discovered.jwks.keys().await,
        };
        keys.map_err(|error| {
            tracing::info!(issuer = %entry.issuer, %error, "federated issuer's keys unavailable");
            "issuer_keys_unavailable"
        })
    }

    /// The issuer's discovered key source, from the cache or OIDC discovery.
    async fn discovered(&self, iss: &str) -> Result<Arc<Discovered>, Reason> {
        let fresh = |d: &Arc<Discovered>| d.at.elapsed() < DISCOVERY_TTL;
        if let Some(found) = self.issuers.get(iss).map(|d| Arc::clone(&d))
            && fresh(&found)
        {
            return Ok(found);
        }
        let _one = self.discovering.lock().await;
        if let Some(found) = self.issuers.get(iss).map(|d| Arc::clone(&d))
            && fresh(&found)
        {
            return Ok(found);
        }
        if self
            .failures
            .get(iss)
            .is_some_and(|at| at.elapsed() < self.cooldown)
        {
            return Err("issuer_discovery_failed");
        }
        match self.discover(iss).await {
            Ok(jwks_uri) => {
                self.failures.remove(iss);
                let discovered = Arc::new(Discovered {
                    jwks: RemoteJwks::with_cooldown(jwks_uri, self.fetcher.clone(), self.cooldown),
                    at: Instant::now(),
                });
                if self.issuers.len() >= MAX_ISSUERS
                    && let Some(victim) = self.issuers.iter().next().map(|e| e.key().clone())
                {
                    self.issuers.remove(&victim);
                }
                self.issuers.insert(iss.to_owned(), Arc::clone(&discovered));
                Ok(discovered)
            }
            Err(why) => {
                tracing::info!(issuer = %iss, error = %why, "federated issuer discovery failed");
                if self.failures.len() >= MAX_ISSUERS {
                    self.failures.clear();
                }
                self.failures.insert(iss.to_owned(), Instant::now());
                // Keep a stale source rather than none.
                match self.issuers.get(iss).map(|d| Arc::clone(&d)) {
                    Some(stale) => Ok(stale),
                    None => Err("issuer_discovery_failed"),
                }
            }
        }
    }

    /// OIDC discovery: `{iss}/.well-known/openid-configuration`, whose
    /// `issuer` must be `iss` exactly; its `jwks_uri`.
    async fn discover(&self, iss: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            iss.trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())?;
        let (_, body) = self.fetcher.get(url).await.map_err(|e| e.to_string())?;
        #[derive(serde::Deserialize)]
        struct Configuration {
            issuer: String,
            jwks_uri: String,
        }
        let config: Configuration =
            serde_json::from_slice(&body).map_err(|e| format!("not a discovery document: {e}"))?;
        if config.issuer != iss {
            return Err("the discovery document names another issuer".to_owned());
        }
        url::Url::parse(&config.jwks_uri).map_err(|e| format!("jwks_uri: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subject_patterns() {
        let p = "repo:acme/app:ref:refs/heads/*";
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/main"));
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/"));
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/a/b"));
        assert!(!subject_matches(p, "repo:acme/app:ref:refs/tags/v1"));
        assert!(!subject_matches(p, "repo:acme/app2:ref:refs/heads/main"));
        assert!(subject_matches("exact", "exact"));
        assert!(!subject_matches("exact", "exactly"));
        assert!(!subject_matches("exact", "inexact"));
        assert!(subject_matches("a*b*c", "abc"));
        assert!(subject_matches("a*b*c", "a-b-b-c"));
        assert!(!subject_matches("a*b*c", "a-c-b"));
        // The last literal may not overlap a middle one.
        assert!(!subject_matches("a*aa", "aa"));
        assert!(subject_matches("*:ci", "system:ci"));
        assert!(!subject_matches("*:ci", "system:cid"));
    }

    #[test]
    fn claim_conditions() {
        let claims = json!({
            "repository": "acme/app",
            "run_attempt": 2,
            "fork": false,
            "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "deployer"}},
            "a/b": "slash",
            "list": ["x"],
        });
        let claims = claims.as_object().unwrap();
        let holds = |pairs: &[(&str, &str)]| {
            let c = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            claims_hold(&c, claims)
        };
        assert!(holds(&[]));
        assert!(holds(&[("repository", "acme/app")]));
        assert!(!holds(&[("repository", "acme/ap")]));
        assert!(!holds(&[("repository", "ACME/app")]));
        assert!(holds(&[("run_attempt", "2"), ("fork", "false")]));
        assert!(holds(&[("/kubernetes.io/namespace", "ci")]));
        assert!(holds(&[("/kubernetes.io/serviceaccount/name", "deployer")]));
        assert!(!holds(&[("/kubernetes.io/serviceaccount", "deployer")]));
        assert!(holds(&[("/a~1b", "slash")]));
        assert!(holds(&[("/list/0", "x")]));
        assert!(!holds(&[("missing", "")]));
        assert!(!holds(&[
            ("repository", "acme/app"),
            ("ref", "refs/heads/main")
        ]));
    }

    fn new(issuer: &str, subject: &str) -> NewFederatedCredential {
        NewFederatedCredential {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn entry_rules() {
        let ok = check_new(new("https://gh.example", "repo:a/b:*"), "https://us").unwrap();
        assert_eq!(ok.audience, "https://us");
        for bad in [
            "",
            "gh.example",
            "ftp://x",
            "https://u:p@x",
            "https://x?q",
            "https://x#f",
        ] {
            assert!(check_new(new(bad, "s"), "https://us").is_err(), "{bad}");
        }
        for bad in ["", "*", "**", "a\nb", &"*a".repeat(9)] {
            assert!(
                check_new(new("https://x", bad), "https://us").is_err(),
                "{bad}"
            );
        }
        for name in ["sub", "/aud", "/exp/x", "", "/"] {
            let mut n = new("https://x", "s");
            n.claims.insert(name.to_owned(), "v".to_owned());
            assert!(check_new(n, "https://us").is_err(), "{name}");
        }
        let mut n = new("https://x", "s");
        n.jwks = Some(json!({"keys": []}));
        assert!(check_new(n.clone(), "https://us").is_err());
        n.jwks = Some(json!({"keys": [{"kty": "oct", "k": "AAAA"}]}));
        assert!(check_new(n.clone(), "https://us").is_err());
        n.jwks = Some(json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}));
        assert!(check_new(n, "https://us").is_ok());
    }
}

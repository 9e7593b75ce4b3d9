//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! the MCP authorization spec's way for a client to need no registration):
//! a `client_id` that is an https URL names a JSON document, fetched,
//! checked and cached here, that says the client's redirect URIs and name.
//!
//! - [`ClientMetadataPolicy`] is the operator's: off unless set, which
//!   hosts may appear, the most scopes and the audiences such clients get,
//!   the networks the SSRF rules let through anyway, an extra root
//!   certificate, the time and size limits.
//! - The fetch is `m2m_guard`'s [`Fetcher`] under an [`AddressPolicy`]:
//!   https only, every resolved address checked (loopback, private,
//!   link-local, CGNAT, metadata, ... are refused unless allowed), the
//!   connection made to the checked addresses only, no redirects, a timeout
//!   and a size limit; the answer must be JSON.
//! - A valid document is registered (on first use) or updated (when it
//!   changed) as an ordinary public user-level client through the
//!   [`Registry`], which owns what that implies (cache, revocation when it
//!   narrows, audit). An admin-disabled one stays disabled; a deleted one
//!   comes back on its next use once its cached fetch has expired.
//! - [`cache::DocumentCache`] keeps each outcome for its time (success:
//!   `max-age` clamped to 60 s - 24 h; refusal: 30 s), one fetch per URL
//!   at a time.

mod cache;
mod document;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use m2m_core::{ClientId, ClientKind, ScopeSet, TokenTtl};
use m2m_guard::fetch::{FetchError, Fetcher};
use m2m_guard::net::Cidr;

use crate::domain::outbound::Outbound;
use serde_json::json;

use self::cache::{DocumentCache, Failure, ttl_from_cache_control};
pub(crate) use self::document::is_document_id;
use self::document::{DocumentClient, check_url, host_matches, is_json, read_document};
use super::error::GrantError;
use super::registry::Registry;
use crate::IssuerError;
use crate::store::{ClientRecord, TokenEndpointAuthMethod};

/// The key under a metadata-document client's `metadata` that marks it as one.
pub(crate) const METADATA_KEY: &str = "client_id_metadata_document";

/// Whether a stored client came from a metadata document.
pub(crate) fn is_document_client(client: &ClientRecord) -> bool {
    is_document_id(client.client_id.as_str()) && client.metadata.get(METADATA_KEY).is_some()
}

/// The operator's policy for Client ID Metadata Documents, turned on with
/// [`IssuerBuilder::client_metadata_documents`](crate::IssuerBuilder::client_metadata_documents).
///
/// ```
/// use m2m_issuer::ClientMetadataPolicy;
/// let policy = ClientMetadataPolicy::new()
///     .host("*.agents.example")
///     .scope("invoices:read")
///     .audience("https://mcp.example.com/mcp");
/// # let _ = policy;
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientMetadataPolicy {
    hosts: Vec<String>,
    scopes: Option<Vec<String>>,
    audiences: Vec<String>,
    allowed_networks: Vec<Cidr>,
    extra_root_pem: Option<Vec<u8>>,
    timeout: Duration,
    max_bytes: usize,
}

impl fmt::Debug for ClientMetadataPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetadataPolicy")
            .field("hosts", &self.hosts)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("allowed_networks", &self.allowed_networks)
            .field("extra_root_pem", &self.extra_root_pem.is_some())
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Default for ClientMetadataPolicy {
    fn default() -> Self {
        ClientMetadataPolicy {
            hosts: Vec::new(),
            scopes: None,
            audiences: Vec::new(),
            allowed_networks: Vec::new(),
            extra_root_pem: None,
            timeout: Duration::from_secs(5),
            max_bytes: 5 * 1024,
        }
    }
}

impl ClientMetadataPolicy {
    /// Any public host, the issuer's `scopes_supported`, no audience (so
    /// no token until [`audience`](Self::audience) is given), public
    /// addresses only, 5 s, 5 KiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// A host whose documents are accepted: exact (`app.example.com`) or
    /// every host under a domain (`*.example.com`). Repeatable; none means
    /// any host.
    pub fn host(mut self, pattern: impl Into<String>) -> Self {
        self.hosts.push(pattern.into().to_ascii_lowercase());
        self
    }

    /// A scope such clients may be granted at most (a document's `scope`
    /// narrows it further). Repeatable; none given means the issuer's
    /// `scopes_supported`, and no scope at all if that is unset.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.get_or_insert_with(Vec::new).push(scope.into());
        self
    }

    /// A resource (audience) such clients may get tokens for. Repeatable;
    /// without one they get no token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// A network fetches may reach although it is loopback, private,
    /// link-local or otherwise reserved (tests, private deployments).
    pub fn allow_network(mut self, network: Cidr) -> Self {
        self.allowed_networks.push(network);
        self
    }

    /// Trust the root certificates of this PEM for document fetches too.
    pub fn extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_root_pem = Some(pem.into());
        self
    }

    /// The limit on one fetch, connecting included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest document read (default 5 KiB, as the draft suggests).
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// Why a metadata-document client_id was refused. The text completes "the
/// client metadata document ..." for the error page.
#[derive(Debug, Clone)]
pub(crate) enum DocumentError {
    /// The URL breaks a rule of draft §3.
    BadUrl(&'static str),
    /// The host is not one the policy accepts.
    HostNotAllowed,
    /// The fetch failed (address, redirect, status, timeout, size, TLS).
    Fetch(String),
    /// The answer is not JSON.
    NotJson,
    /// The document breaks a rule.
    Invalid(String),
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::BadUrl(why) => {
                write!(f, "the client_id is not a valid client metadata document URL: {why}")
            }
            DocumentError::HostNotAllowed => f.write_str(
                "the client metadata document's host is not one this issuer accepts",
            ),
            DocumentError::Fetch(why) => {
                write!(f, "the client metadata document could not be fetched: {why}")
            }
            DocumentError::NotJson => f.write_str(
                "the client metadata document is not JSON (its Content-Type must be application/json)",
            ),
            DocumentError::Invalid(why) => {
                write!(f, "the client metadata document is invalid: {why}")
            }
        }
    }
}

fn fetch_error(error: &FetchError) -> DocumentError {
    let why: Cow<'static, str> = match error {
        FetchError::Blocked(blocked) => {
            format!("host resolves to {}", blocked.range().describe()).into()
        }
        FetchError::Redirect(status) => {
            format!("the server answered {status} (redirects are not followed)").into()
        }
        FetchError::Status(status) => format!("the server answered {status}").into(),
        FetchError::Timeout(after) => format!("no complete answer within {after:?}").into(),
        FetchError::TooLarge(max) => format!("it is larger than {max} bytes").into(),
        FetchError::RefusedUrl(why) => (*why).into(),
        // Connection and TLS failures: the detail is for the log.
        _ => "the connection or TLS handshake failed".into(),
    };
    DocumentError::Fetch(why.into_owned())
}

/// The metadata-document clients of this issuer.
#[derive(Debug)]
pub(crate) struct ClientMetadataDocuments {
    fetcher: Fetcher,
    hosts: Vec<String>,
    scopes: ScopeSet,
    audiences: Vec<String>,
    registry: Arc<Registry>,
    cache: DocumentCache,
}

impl ClientMetadataDocuments {
    /// Checks `policy` and makes its fetcher; `scopes_supported` is the
    /// default scope ceiling.
    pub(crate) fn new(
        policy: ClientMetadataPolicy,
        scopes_supported: Option<&[String]>,
        registry: Arc<Registry>,
    ) -> Result<Self, IssuerError> {
        let config = |why: String| IssuerError::Config(format!("client metadata documents: {why}"));
        for pattern in &policy.hosts {
            let name = pattern.strip_prefix("*.").unwrap_or(pattern);
            if name.is_empty()
                || name.contains('*')
                || !name.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
            {
                return Err(config(format!(
                    "host pattern {pattern:?} must be a host name or *.domain"
                )));
            }
        }
        let scope_names = policy
            .scopes
            .as_deref()
            .or(scopes_supported)
            .unwrap_or_default();
        let mut scopes = ScopeSet::new();
        for scope in scope_names {
            scopes.insert(
                m2m_core::Scope::new(scope).map_err(|e| config(format!("scope {scope:?}: {e}")))?,
            );
        }
        for audience in &policy.audiences {
            if audience.is_empty() || !audience.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(config(format!("audience {audience:?} is not a URI")));
            }
        }
        let fetcher = Outbound {
            purpose: "client metadata documents",
            timeout: policy.timeout,
            max_bytes: policy.max_bytes,
            allowed_networks: policy.allowed_networks,
            extra_root_pem: policy.extra_root_pem.as_deref(),
        }
        .fetcher()?;
        Ok(ClientMetadataDocuments {
            fetcher,
            hosts: policy.hosts,
            scopes,
            audiences: policy.audiences,
            registry,
            cache: DocumentCache::default(),
        })
    }

    /// Makes sure the client `client_id` (a metadata-document URL) is
    /// registered from a current copy of its document: fetched now unless
    /// a fetch within its cache time said so (or refused it).
    pub(crate) async fn resolve(&self, client_id: &str, now: u64) -> Result<(), GrantError> {
        let url = check_url(client_id).map_err(refused)?;
        let host = url.host_str().unwrap_or_default();
        if !self.hosts.is_empty() && !self.hosts.iter().any(|p| host_matches(p, host)) {
            return Err(refused(DocumentError::HostNotAllowed));
        }
        let outcome = self
            .cache
            .get_or_fetch(url.as_str(), now, || {
                self.fetch_and_register(url.clone(), now)
            })
            .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(Failure::Document(error)) => Err(refused(error)),
            Err(Failure::Internal(error)) => Err(GrantError::Internal(error)),
        }
    }

    async fn fetch_and_register(&self, url: url::Url, now: u64) -> Result<u64, Failure> {
        let (headers, body) = self.fetcher.get(url.clone()).await.map_err(|error| {
            tracing::info!(client_id = %url, %error, "client metadata document fetch refused");
            Failure::Document(fetch_error(&error))
        })?;
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        if !is_json(header(http::header::CONTENT_TYPE)) {
            return Err(Failure::Document(DocumentError::NotJson));
        }
        let ttl = ttl_from_cache_control(header(http::header::CACHE_CONTROL));
        let document = read_document(&body, &url).map_err(Failure::Document)?;
        let record = self.record(&url, document, now);
        self.registry
            .register_document_client(record, now)
            .await
            .map_err(Failure::Internal)?;
        Ok(ttl)
    }

    /// The client a document describes, under this policy.
    fn record(&self, url: &url::Url, document: DocumentClient, now: u64) -> ClientRecord {
        let scopes = match &document.scope {
            Some(asked) => self.scopes.difference(&self.scopes.difference(asked)),
            None => self.scopes.clone(),
        };
        ClientRecord {
            client_id: ClientId::new(url.as_str()),
            name: document.name,
            kind: ClientKind::User,
            org_id: None,
            user_id: None,
            scopes,
            audiences: self.audiences.clone(),
            token_ttl: TokenTtl::default(),
            redirect_uris: document.redirect_uris,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            client_keys: None,
            dpop_bound_access_tokens: false,
            token_exchange: None,
            quota: None,
            metadata: json!({ METADATA_KEY: { "fetched_at": now } }),
            enabled: true,
            created_at: now,
            updated_at: now,
        }
    }
}

fn refused(error: DocumentError) -> GrantError {
    GrantError::ClientMetadata(error.to_string())
}

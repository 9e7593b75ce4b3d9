//! [`ProtectedResourceMetadata`]: the RFC 9728 document of a protected
//! resource, and the tower service that serves it.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use m2m_core::{Scope, ScopeRequirement};
use serde_json::{Map, Value};
use tower::Service;

use crate::resource::ResourceUri;

/// The default `Cache-Control: max-age` of the document: one hour.
pub const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// The fields the guard writes itself; extra fields of these names are ignored.
const OWN_FIELDS: [&str; 4] = [
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
];

/// The most scopes gathered from a guard's layers for `scopes_supported`.
const MAX_ROUTE_SCOPES: usize = 1024;

/// The scopes a guard's layers require, gathered as they are made (at most
/// [`MAX_ROUTE_SCOPES`], so that layers made per request cannot grow it
/// without bound).
#[derive(Debug, Default)]
pub(crate) struct RouteScopes(Mutex<BTreeSet<String>>);

impl RouteScopes {
    pub(crate) fn add(&self, requirement: &ScopeRequirement) {
        let mut scopes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for scope in requirement.scopes().iter() {
            if scopes.contains(scope.as_str()) {
                continue;
            }
            if scopes.len() >= MAX_ROUTE_SCOPES {
                tracing::warn!(
                    target: "m2m_guard",
                    "more than {MAX_ROUTE_SCOPES} route scopes; scopes_supported lists the first ones"
                );
                return;
            }
            scopes.insert(scope.as_str().to_owned());
        }
    }

    fn list(&self) -> Vec<String> {
        let scopes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        scopes.iter().cloned().collect()
    }
}

#[derive(Clone)]
enum Scopes {
    /// Those of the guard's layers, read at each request.
    Routes(Arc<RouteScopes>),
    /// Given by the host.
    Given(Vec<String>),
}

#[derive(Clone)]
struct Inner {
    resource: ResourceUri,
    path: String,
    authorization_servers: Vec<String>,
    scopes: Scopes,
    extra: Map<String, Value>,
    cache_control: HeaderValue,
}

/// Protected Resource Metadata (RFC 9728), and the tower service that
/// serves it at [`path`](ProtectedResourceMetadata::path):
/// `/.well-known/oauth-protected-resource`, followed by the resource's path
/// when it has one (RFC 9728 §3.1).
///
/// Made by [`Guard::resource_metadata`](crate::Guard::resource_metadata)
/// for a guard with a [resource](crate::GuardBuilder::resource), or by
/// [`ProtectedResourceMetadata::new`]. The document:
///
/// - `resource`: the canonical resource URI;
/// - `authorization_servers`: the issuers the guard trusts (or those given);
/// - `scopes_supported`: the scopes the guard's layers require, sorted (or
///   those given); left out while there are none;
/// - `bearer_methods_supported`: `["header"]`, the only method the guard reads;
/// - any extra fields the host sets ([`field`](ProtectedResourceMetadata::field)),
///   such as `resource_name` or `resource_documentation`.
///
/// It answers `GET` and `HEAD` with `200`, `Content-Type: application/json`,
/// `Cache-Control: public, max-age=3600` (see
/// [`max_age`](ProtectedResourceMetadata::max_age)) and
/// `Access-Control-Allow-Origin: *` (the document is public, and browser
/// clients read it across origins) and `X-Content-Type-Options: nosniff`; `OPTIONS` with `204` and the CORS
/// preflight headers; other methods with `405` and `Allow`; other paths
/// with `404`. Cheap to clone.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use m2m_core::{Algorithm, JwkSet, SigningKey};
/// use m2m_guard::Guard;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let key = SigningKey::generate(Algorithm::ES256)?;
/// let guard = Guard::builder("https://auth.example.com", "https://api.example.com/mcp")
///     .resource("https://api.example.com/mcp")
///     .jwk_set(JwkSet { keys: vec![key.public_jwk().clone()] })
///     .build()
///     .await?;
/// let metadata = guard
///     .resource_metadata()
///     .expect("the guard has a resource")
///     .field("resource_name", "Invoices MCP server");
/// let app: Router = Router::new()
///     .route("/mcp", get(|| async { "ok" }))
///     .route_layer(guard.require(["invoices:read"]))
///     .route_service(&metadata.path(), metadata.clone());
///
/// let request = http::Request::get("/.well-known/oauth-protected-resource/mcp")
///     .body(Body::empty())?;
/// let response = app.oneshot(request).await?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
/// assert_eq!(
///     metadata.document(),
///     serde_json::json!({
///         "resource": "https://api.example.com/mcp",
///         "authorization_servers": ["https://auth.example.com"],
///         "scopes_supported": ["invoices:read"],
///         "bearer_methods_supported": ["header"],
///         "resource_name": "Invoices MCP server",
///     })
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ProtectedResourceMetadata {
    inner: Arc<Inner>,
}

impl ProtectedResourceMetadata {
    /// The document of `resource`, whose tokens come from
    /// `authorization_servers` (their issuer identifiers), with no scopes.
    pub fn new<I, S>(resource: ResourceUri, authorization_servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_scopes(
            resource,
            authorization_servers.into_iter().map(Into::into).collect(),
            Scopes::Given(Vec::new()),
        )
    }

    pub(crate) fn for_guard(
        resource: ResourceUri,
        authorization_servers: Vec<String>,
        routes: Arc<RouteScopes>,
    ) -> Self {
        Self::with_scopes(resource, authorization_servers, Scopes::Routes(routes))
    }

    fn with_scopes(
        resource: ResourceUri,
        authorization_servers: Vec<String>,
        scopes: Scopes,
    ) -> Self {
        ProtectedResourceMetadata {
            inner: Arc::new(Inner {
                path: resource.metadata_path(),
                resource,
                authorization_servers,
                scopes,
                extra: Map::new(),
                cache_control: cache_control(DEFAULT_METADATA_MAX_AGE),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// Lists these scopes in `scopes_supported`, instead of those the
    /// guard's layers require (an empty list leaves the field out).
    ///
    /// # Panics
    ///
    /// If a scope is not valid scope syntax (RFC 6749 §3.3), as
    /// [`Guard::require`](crate::Guard::require) does.
    pub fn scopes_supported<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes = scopes
            .into_iter()
            .map(|s| match Scope::new(s.as_ref()) {
                Ok(scope) => scope.as_str().to_owned(),
                Err(e) => panic!("invalid scope in scopes_supported: {e}"),
            })
            .collect();
        self.edit(|inner| inner.scopes = Scopes::Given(scopes))
    }

    /// Names these authorization servers (issuer identifiers, RFC 8414)
    /// instead of the issuers the guard trusts.
    pub fn authorization_servers<I, S>(self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let servers = servers.into_iter().map(Into::into).collect();
        self.edit(|inner| inner.authorization_servers = servers)
    }

    /// Adds a field to the document (`resource_name`,
    /// `resource_documentation`, `resource_policy_uri`, ...: RFC 9728 §2).
    /// The four fields the guard writes itself (`resource`,
    /// `authorization_servers`, `scopes_supported`,
    /// `bearer_methods_supported`) cannot be replaced this way.
    pub fn field(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.edit(|inner| {
            inner.extra.insert(name, value);
        })
    }

    /// Adds every field of `fields`, as [`field`](Self::field) does.
    pub fn fields(self, fields: Map<String, Value>) -> Self {
        self.edit(|inner| inner.extra.extend(fields))
    }

    /// How long clients and caches may keep the document (`Cache-Control:
    /// public, max-age=...`; default [`DEFAULT_METADATA_MAX_AGE`]).
    pub fn max_age(self, max_age: Duration) -> Self {
        self.edit(|inner| inner.cache_control = cache_control(max_age))
    }

    /// The resource this document describes.
    pub fn resource(&self) -> &ResourceUri {
        &self.inner.resource
    }

    /// The path to mount the service at: `/.well-known/oauth-protected-resource`
    /// followed by the resource's path (RFC 9728 §3.1). Owned, so that
    /// `route_service(metadata.path(), metadata)` reads as it should.
    pub fn path(&self) -> String {
        self.inner.path.clone()
    }

    /// The absolute URL of the document, as the guard's 401s name it.
    pub fn url(&self) -> String {
        self.inner.resource.metadata_url()
    }

    /// The document as JSON.
    pub fn document(&self) -> Value {
        let inner = &*self.inner;
        let mut doc: Map<String, Value> = inner
            .extra
            .iter()
            .filter(|(name, _)| !OWN_FIELDS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        doc.insert("resource".into(), inner.resource.as_str().into());
        doc.insert(
            "authorization_servers".into(),
            inner.authorization_servers.clone().into(),
        );
        let scopes = match &inner.scopes {
            Scopes::Routes(routes) => routes.list(),
            Scopes::Given(scopes) => scopes.clone(),
        };
        if !scopes.is_empty() {
            doc.insert("scopes_supported".into(), scopes.into());
        }
        doc.insert("bearer_methods_supported".into(), vec!["header"].into());
        Value::Object(doc)
    }

    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if path != self.inner.path {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such metadata document",
            );
        }
        match *method {
            Method::GET | Method::HEAD => {
                let body = Bytes::from(self.document().to_string());
                let len = body.len();
                let body = if method == Method::HEAD {
                    Bytes::new()
                } else {
                    body
                };
                let mut response = Response::new(Full::new(body));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                headers.insert(header::CACHE_CONTROL, self.inner.cache_control.clone());
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                response
            }
            Method::OPTIONS => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                let headers = response.headers_mut();
                headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, HEAD"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("86400"),
                );
                response
            }
            _ => {
                let mut response = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "the metadata document is read with GET",
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                response
            }
        }
    }
}

const ALLOW: &str = "GET, HEAD, OPTIONS";

fn cache_control(max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=3600"))
}

fn error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"error": error, "error_description": description});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl<B> Service<Request<B>> for ProtectedResourceMetadata {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.method(), request.uri().path())))
    }
}

impl fmt::Debug for ProtectedResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceMetadata")
            .field("resource", &self.inner.resource)
            .field("path", &self.inner.path)
            .field("authorization_servers", &self.inner.authorization_servers)
            .finish_non_exhaustive()
    }
}

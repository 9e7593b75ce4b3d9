//! Client registration rules (contract sections 3-5 and 7): what a new
//! client ([`NewClient`]) or a change ([`ClientChanges`]) may hold, checked
//! into a [`ClientRecord`], and what a change revokes ([`narrows`]).
//!
//! Bounds: name 1-200 characters, at most 100 scopes, at most 20 audiences
//! (each an absolute `http(s)` URI or a plain identifier, at most 2,048
//! bytes), at most 20 redirect URIs, metadata a JSON object of at most
//! 8 KiB serialized, ids per `m2m_core::validate_id`, TTL 300-86,400 s.
//! The registry also refuses a client whose largest possible token would
//! exceed the verifiers' size limit (`domain::minter`).
//!
//! `token_endpoint_auth_method`: `client_secret_basic` (the default) or
//! `client_secret_post`, either of which accepts both ways of sending the
//! secret, or `none`, a public client, for kind `user` only (it gets no
//! secret), or `private_key_jwt` (RFC 7523 §2.2), which gets no secret and
//! needs exactly one of `jwks` (a JWK Set of public keys) and `jwks_uri`
//! (an https URL); see [`check_jwk`] for what a key may be. `jwks` and
//! `jwks_uri` are refused for any other method; changing a client to
//! another method drops them.

use m2m_core::{
    ClientId, ClientKind, ClientSecret, JwkSet, OrgId, PublicJwk, ScopeSet, SecretHasher, TokenTtl,
    UserId, VerifyingKey, validate_id,
};
use serde::Deserialize;

use super::error::{Internal, RegistryError};
use crate::store::{
    ClientKeys, ClientRecord, ExchangeSubject, QuotaOverride, SecretRecord,
    TokenEndpointAuthMethod, TokenExchangePolicy,
};

const MAX_NAME: usize = 200;
const MAX_SCOPES: usize = 100;
const MAX_AUDIENCES: usize = 20;
pub(crate) const MAX_AUDIENCE_LEN: usize = 2048;
pub(crate) const MAX_REDIRECT_URIS: usize = 20;
const MAX_METADATA: usize = 8 * 1024;
/// The most keys a `private_key_jwt` client may have.
pub(crate) const MAX_CLIENT_KEYS: usize = 10;
/// The largest JWK accepted, serialized (an 8,192-bit RSA key is about 1.5 KiB).
const MAX_JWK_LEN: usize = 4 * 1024;
/// The longest `jwks_uri` and `kid`.
const MAX_JWKS_URI_LEN: usize = 2048;
const MAX_KID_LEN: usize = 256;
/// JWK members that only a private or symmetric key has (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A client to register, as an admin asked for it (the body of
/// `POST /admin/clients`), not yet checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewClient {
    name: String,
    kind: String,
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    scopes: Vec<String>,
    #[serde(default)]
    audiences: Option<Vec<String>>,
    #[serde(default)]
    token_ttl_seconds: Option<u64>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    jwks: Option<serde_json::Value>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    #[serde(default)]
    token_exchange: Option<TokenExchangePolicy>,
    #[serde(default, deserialize_with = "quota_member")]
    quota: Option<QuotaOverride>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// A change to a client (the body of `PATCH /admin/clients/{id}`): every
/// field optional, not yet checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientChanges {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    audiences: Option<Vec<String>>,
    #[serde(default)]
    token_ttl_seconds: Option<u64>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    jwks: Option<serde_json::Value>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    dpop_bound_access_tokens: Option<bool>,
    /// `null` removes the policy.
    #[serde(default, deserialize_with = "present")]
    token_exchange: Option<Option<TokenExchangePolicy>>,
    /// `null` removes the override.
    #[serde(default, deserialize_with = "changed_quota")]
    quota: Option<Option<QuotaOverride>>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
}

/// A member that may be `null`: absent is `None`, `null` is `Some(None)`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `quota`: a JSON object or `null` (serde would also take an array for a
/// struct, `[10]` for `{"per_minute": 10}`: refused here).
fn quota_member<'de, D>(deserializer: D) -> Result<Option<QuotaOverride>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None => Ok(None),
        Some(object @ serde_json::Value::Object(_)) => serde_json::from_value(object)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("quota: {e}"))),
        Some(_) => Err(D::Error::custom("quota must be an object or null")),
    }
}

/// `quota` in a change: absent is `None`, `null` is `Some(None)`.
fn changed_quota<'de, D>(deserializer: D) -> Result<Option<Option<QuotaOverride>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    quota_member(deserializer).map(Some)
}

/// A quota override: every limit in the range the server's configuration
/// accepts.
fn check_quota(quota: Option<QuotaOverride>) -> Result<Option<QuotaOverride>, RegistryError> {
    if let Some(quota) = &quota {
        crate::domain::quota::check_quota_override(quota).map_err(RegistryError::invalid)?;
    }
    Ok(quota)
}

/// Most entries of `token_exchange.subjects`.
const MAX_EXCHANGE_SUBJECTS: usize = 100;

/// Checks a token-exchange policy: 1 to 100 subjects, each a valid client
/// or org id; audiences as a client's; `max_depth` 1 to
/// [`m2m_core::MAX_DELEGATION_DEPTH`].
fn check_token_exchange(
    policy: Option<TokenExchangePolicy>,
) -> Result<Option<TokenExchangePolicy>, RegistryError> {
    let Some(mut policy) = policy else {
        return Ok(None);
    };
    if policy.subjects.is_empty() || policy.subjects.len() > MAX_EXCHANGE_SUBJECTS {
        return Err(RegistryError::invalid(format!(
            "token_exchange.subjects must have 1 to {MAX_EXCHANGE_SUBJECTS} entries"
        )));
    }
    for subject in &policy.subjects {
        let (what, id) = match subject {
            ExchangeSubject::Client(id) => ("a client id", id.as_str()),
            ExchangeSubject::Org(org) => ("an org id", org.as_str()),
        };
        validate_id(id).map_err(|e| {
            RegistryError::invalid(format!(
                "token_exchange.subjects: {id:?} is not {what}: {e}"
            ))
        })?;
    }
    policy.subjects.dedup();
    if let Some(audiences) = &policy.audiences {
        if audiences.is_empty() {
            return Err(RegistryError::invalid(
                "token_exchange.audiences must not be empty: omit it for the client's own",
            ));
        }
        policy.audiences = Some(check_audiences(audiences)?);
    }
    if let Some(depth) = policy.max_depth
        && (depth == 0 || usize::from(depth) > m2m_core::MAX_DELEGATION_DEPTH)
    {
        return Err(RegistryError::invalid(format!(
            "token_exchange.max_depth must be 1 to {}",
            m2m_core::MAX_DELEGATION_DEPTH
        )));
    }
    Ok(Some(policy))
}

pub(crate) fn check_name(name: &str) -> Result<String, RegistryError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME {
        return Err(RegistryError::invalid(format!(
            "name must be 1 to {MAX_NAME} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            "name must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

fn check_scopes(scopes: &[String]) -> Result<ScopeSet, RegistryError> {
    if scopes.len() > MAX_SCOPES {
        return Err(RegistryError::invalid(format!(
            "at most {MAX_SCOPES} scopes"
        )));
    }
    let mut set = ScopeSet::new();
    for scope in scopes {
        let scope = m2m_core::Scope::new(scope)
            .map_err(|e| RegistryError::invalid(format!("scope {scope:?}: {e}")))?;
        set.insert(scope);
    }
    Ok(set)
}

fn check_audiences(audiences: &[String]) -> Result<Vec<String>, RegistryError> {
    if audiences.len() > MAX_AUDIENCES {
        return Err(RegistryError::invalid(format!(
            "at most {MAX_AUDIENCES} audiences"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(audiences.len());
    for audience in audiences {
        if audience.is_empty()
            || audience.len() > MAX_AUDIENCE_LEN
            || !audience.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(RegistryError::invalid(format!(
                "audience {audience:?} must be 1 to {MAX_AUDIENCE_LEN} printable ASCII characters without spaces"
            )));
        }
        if !out.contains(audience) {
            out.push(audience.clone());
        }
    }
    Ok(out)
}

pub(crate) fn check_redirect_uris(uris: &[String]) -> Result<Vec<String>, RegistryError> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(RegistryError::invalid(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in uris {
        let absolute = uri.starts_with("https://") || uri.starts_with("http://");
        if !absolute
            || uri.len() > MAX_AUDIENCE_LEN
            || uri.contains('#')
            || !uri.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(RegistryError::invalid(format!(
                "redirect_uri {uri:?} must be an absolute http(s) URI without fragment"
            )));
        }
    }
    Ok(uris.to_vec())
}

fn check_auth_method(name: Option<&str>) -> Result<TokenEndpointAuthMethod, RegistryError> {
    let Some(name) = name else {
        return Ok(TokenEndpointAuthMethod::default());
    };
    TokenEndpointAuthMethod::from_name(name).ok_or_else(|| {
        let name: String = name.chars().take(64).collect();
        RegistryError::invalid(format!(
            "token_endpoint_auth_method {name:?} must be client_secret_basic, \
             client_secret_post, private_key_jwt or none"
        ))
    })
}

/// Checks one JWK of a `private_key_jwt` client: a JSON object of at most
/// 4 KiB, no private or symmetric member (`d`, `p`, `q`, `dp`, `dq`, `qi`,
/// `oth`, `k`: such a key is refused, never stored with the part dropped),
/// not `kty: oct`, `use` absent or `sig`, a key m2m-core verifies with
/// (Ed25519, P-256, RSA 2048-8192; a declared `alg` fitting it), and a
/// `kid` of at most 256 characters, set to the RFC 7638 thumbprint when
/// absent.
pub(crate) fn check_jwk(value: &serde_json::Value) -> Result<PublicJwk, RegistryError> {
    let object = value
        .as_object()
        .ok_or_else(|| RegistryError::invalid("a JWK must be a JSON object"))?;
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_JWK_LEN {
        return Err(RegistryError::invalid(format!(
            "a JWK must be at most {MAX_JWK_LEN} bytes serialized"
        )));
    }
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
        return Err(RegistryError::invalid(format!(
            "the JWK has the private member `{member}`: register public keys only"
        )));
    }
    if object.get("kty").and_then(|k| k.as_str()) == Some("oct") {
        return Err(RegistryError::invalid(
            "symmetric keys (kty oct) are refused: register an asymmetric public key",
        ));
    }
    let mut jwk: PublicJwk = serde_json::from_value(value.clone())
        .map_err(|e| RegistryError::invalid(format!("the JWK is invalid: {e}")))?;
    if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
        return Err(RegistryError::invalid(
            "the JWK's use must be sig (or absent)",
        ));
    }
    VerifyingKey::from_jwk(&jwk)
        .map_err(|e| RegistryError::invalid(format!("the JWK cannot verify signatures: {e}")))?;
    match jwk.kid.as_deref() {
        Some(kid) if kid.is_empty() || kid.len() > MAX_KID_LEN => {
            return Err(RegistryError::invalid(format!(
                "a JWK's kid must be 1 to {MAX_KID_LEN} bytes"
            )));
        }
        Some(kid) if !kid.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(RegistryError::invalid(
                "a JWK's kid must be printable ASCII without spaces",
            ));
        }
        Some(_) => {}
        None => {
            jwk.kid =
                Some(jwk.thumbprint().map_err(|e| {
                    RegistryError::invalid(format!("the JWK has no thumbprint: {e}"))
                })?);
        }
    }
    Ok(jwk)
}

/// Checks a `jwks` value: `{"keys": [...]}`, 1 to [`MAX_CLIENT_KEYS`]
/// keys, each per [`check_jwk`], no two with one `kid`.
fn check_jwks(value: &serde_json::Value) -> Result<JwkSet, RegistryError> {
    let keys = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("keys"))
        .and_then(|k| k.as_array())
        .ok_or_else(|| RegistryError::invalid("jwks must be a JWK Set: {\"keys\": [...]}"))?;
    if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
        return Err(RegistryError::invalid(format!(
            "jwks must hold 1 to {MAX_CLIENT_KEYS} keys"
        )));
    }
    let mut set = JwkSet::default();
    for key in keys {
        let jwk = check_jwk(key)?;
        if set.keys.iter().any(|k| k.kid == jwk.kid) {
            return Err(RegistryError::invalid("two keys of jwks share a kid"));
        }
        set.keys.push(jwk);
    }
    Ok(set)
}

/// Checks a `jwks_uri`: an absolute https URL of at most 2,048 bytes, with
/// a host, without user info or fragment. Where it may point (no private
/// addresses unless allowed) is the fetcher's to enforce, at every fetch.
fn check_jwks_uri(uri: &str) -> Result<String, RegistryError> {
    let refuse = || {
        RegistryError::invalid(format!(
            "jwks_uri must be an absolute https URL of at most {MAX_JWKS_URI_LEN} bytes, \
             without user info or fragment"
        ))
    };
    if uri.len() > MAX_JWKS_URI_LEN || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse());
    }
    let url = url::Url::parse(uri).map_err(|_| refuse())?;
    if url.scheme() != "https"
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(refuse());
    }
    Ok(uri.to_owned())
}

/// The client's keys from a request's `jwks` and `jwks_uri` (at most one).
fn check_client_keys(
    jwks: Option<&serde_json::Value>,
    jwks_uri: Option<&str>,
) -> Result<Option<ClientKeys>, RegistryError> {
    match (jwks, jwks_uri) {
        (Some(_), Some(_)) => Err(RegistryError::invalid("give jwks or jwks_uri, not both")),
        (Some(jwks), None) => Ok(Some(ClientKeys::Jwks(check_jwks(jwks)?))),
        (None, Some(uri)) => Ok(Some(ClientKeys::JwksUri(check_jwks_uri(uri)?))),
        (None, None) => Ok(None),
    }
}

/// A `private_key_jwt` client has its keys; any other has none.
fn check_keys_fit_method(client: &ClientRecord) -> Result<(), RegistryError> {
    let key_client = client.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt;
    match (&client.client_keys, key_client) {
        (None, true) => Err(RegistryError::invalid(
            "a private_key_jwt client needs jwks or jwks_uri",
        )),
        (Some(_), false) => Err(RegistryError::invalid(
            "jwks and jwks_uri are for token_endpoint_auth_method private_key_jwt only",
        )),
        (Some(ClientKeys::Jwks(set)), true) if set.keys.is_empty() => Err(RegistryError::invalid(
            "a private_key_jwt client needs at least one key",
        )),
        _ => Ok(()),
    }
}

fn check_metadata(metadata: serde_json::Value) -> Result<serde_json::Value, RegistryError> {
    let metadata = match metadata {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        object @ serde_json::Value::Object(_) => object,
        _ => return Err(RegistryError::invalid("metadata must be a JSON object")),
    };
    let size = serde_json::to_vec(&metadata).map_or(usize::MAX, |v| v.len());
    if size > MAX_METADATA {
        return Err(RegistryError::invalid(format!(
            "metadata must be at most {MAX_METADATA} bytes serialized"
        )));
    }
    Ok(metadata)
}

fn check_ttl(seconds: Option<u64>) -> Result<TokenTtl, RegistryError> {
    match seconds {
        None => Ok(TokenTtl::default()),
        Some(seconds) => TokenTtl::new(seconds).map_err(|e| RegistryError::invalid(e.to_string())),
    }
}

fn check_id(what: &str, id: Option<String>) -> Result<Option<String>, RegistryError> {
    match id {
        None => Ok(None),
        Some(id) => validate_id(&id)
            .map(|()| Some(id))
            .map_err(|e| RegistryError::invalid(format!("{what}: {e}"))),
    }
}

pub(crate) fn check_binding(client: &ClientRecord) -> Result<(), RegistryError> {
    // A metadata-document client belongs to no organization: the consent
    // handler names the user's.
    if client.kind == ClientKind::User
        && client.org_id.is_none()
        && client.user_id.is_none()
        && super::client_metadata::is_document_client(client)
    {
        return Ok(());
    }
    client
        .kind
        .check_binding(
            client.org_id.as_ref(),
            client.user_id.as_ref(),
            &client.audiences,
        )
        .map_err(|e| RegistryError::invalid(e.to_string()))?;
    if client.kind != ClientKind::User && !client.redirect_uris.is_empty() {
        return Err(RegistryError::invalid(
            "only clients of kind user have redirect_uris",
        ));
    }
    if client.kind != ClientKind::User && client.token_endpoint_auth_method.is_public() {
        return Err(RegistryError::invalid(
            "token_endpoint_auth_method none (a public client) is for clients of kind user only",
        ));
    }
    if client.token_exchange.is_some() && client.token_endpoint_auth_method.is_public() {
        return Err(RegistryError::invalid(
            "a public client (token_endpoint_auth_method none) cannot have a token_exchange \
             policy: an actor must authenticate",
        ));
    }
    check_keys_fit_method(client)
}

impl NewClient {
    /// Checks the request into a record with a fresh client id.
    pub(crate) fn into_record(self, now: u64) -> Result<ClientRecord, RegistryError> {
        let kind: ClientKind = self
            .kind
            .parse()
            .map_err(|e: m2m_core::UnknownClientKind| RegistryError::invalid(e.to_string()))?;
        let record = ClientRecord {
            client_id: ClientId::generate().map_err(Internal::from)?,
            name: check_name(&self.name)?,
            kind,
            org_id: check_id("org_id", self.org_id)?.map(OrgId::new),
            user_id: check_id("user_id", self.user_id)?.map(UserId::new),
            scopes: check_scopes(&self.scopes)?,
            audiences: check_audiences(self.audiences.as_deref().unwrap_or_default())?,
            token_ttl: check_ttl(self.token_ttl_seconds)?,
            redirect_uris: check_redirect_uris(self.redirect_uris.as_deref().unwrap_or_default())?,
            token_endpoint_auth_method: check_auth_method(
                self.token_endpoint_auth_method.as_deref(),
            )?,
            client_keys: check_client_keys(self.jwks.as_ref(), self.jwks_uri.as_deref())?,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            token_exchange: check_token_exchange(self.token_exchange)?,
            quota: check_quota(self.quota)?,
            metadata: check_metadata(self.metadata.unwrap_or_default())?,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        check_binding(&record)?;
        Ok(record)
    }
}

impl ClientChanges {
    /// Applies the changes to `client`; returns the names of changed fields.
    pub(crate) fn apply(
        self,
        client: &mut ClientRecord,
        now: u64,
    ) -> Result<Vec<&'static str>, RegistryError> {
        let mut changed = Vec::new();
        if let Some(name) = self.name {
            client.name = check_name(&name)?;
            changed.push("name");
        }
        if let Some(scopes) = self.scopes {
            client.scopes = check_scopes(&scopes)?;
            changed.push("scopes");
        }
        if let Some(audiences) = self.audiences {
            client.audiences = check_audiences(&audiences)?;
            changed.push("audiences");
        }
        if let Some(seconds) = self.token_ttl_seconds {
            client.token_ttl = check_ttl(Some(seconds))?;
            changed.push("token_ttl_seconds");
        }
        if let Some(uris) = self.redirect_uris {
            client.redirect_uris = check_redirect_uris(&uris)?;
            changed.push("redirect_uris");
        }
        if let Some(method) = self.token_endpoint_auth_method {
            client.token_endpoint_auth_method = check_auth_method(Some(&method))?;
            changed.push("token_endpoint_auth_method");
            if client.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt
                && client.client_keys.take().is_some()
            {
                changed.push("jwks");
            }
        }
        if let Some(keys) = check_client_keys(self.jwks.as_ref(), self.jwks_uri.as_deref())? {
            changed.push(match keys {
                ClientKeys::Jwks(_) => "jwks",
                ClientKeys::JwksUri(_) => "jwks_uri",
            });
            client.client_keys = Some(keys);
        }
        if let Some(bound) = self.dpop_bound_access_tokens {
            client.dpop_bound_access_tokens = bound;
            changed.push("dpop_bound_access_tokens");
        }
        if let Some(policy) = self.token_exchange {
            client.token_exchange = check_token_exchange(policy)?;
            changed.push("token_exchange");
        }
        if let Some(quota) = self.quota {
            client.quota = check_quota(quota)?;
            changed.push("quota");
        }
        if let Some(metadata) = self.metadata {
            client.metadata = check_metadata(metadata)?;
            changed.push("metadata");
        }
        if let Some(enabled) = self.enabled {
            client.enabled = enabled;
            changed.push("enabled");
        }
        check_binding(client)?;
        client.updated_at = now;
        Ok(changed)
    }
}

/// Whether changing a client from `old` to `new` is a client-level
/// revocation: it was disabled, its scopes or audiences narrowed
/// (removing `m2m:admin` included), or it now requires DPoP
/// (`dpop_bound_access_tokens` turned on: its Bearer tokens must not
/// outlive the requirement), or its token-exchange policy narrowed (a
/// subject or audience removed, a lower `max_depth`, the policy removed).
/// Tokens minted before hold the old grants, so they must go.
pub(crate) fn narrows(old: &ClientRecord, new: &ClientRecord) -> bool {
    let disabled = old.enabled && !new.enabled;
    let fewer_scopes = !old.scopes.is_subset(&new.scopes);
    // No audiences means the issuer's default: going from none to a list,
    // or from a list to none, changes what a token may be for.
    let fewer_audiences = old.audiences.is_empty() != new.audiences.is_empty()
        || old.audiences.iter().any(|a| !new.audiences.contains(a));
    let now_bound = !old.dpop_bound_access_tokens && new.dpop_bound_access_tokens;
    disabled || fewer_scopes || fewer_audiences || now_bound || exchange_narrows(old, new)
}

fn exchange_narrows(old: &ClientRecord, new: &ClientRecord) -> bool {
    let Some(old) = &old.token_exchange else {
        return false;
    };
    let Some(new) = &new.token_exchange else {
        return true;
    };
    let fewer_audiences = match (&old.audiences, &new.audiences) {
        (_, None) => old.audiences.is_some(),
        (None, Some(_)) => true,
        (Some(old), Some(new)) => old.iter().any(|a| !new.contains(a)),
    };
    old.subjects.iter().any(|s| !new.subjects.contains(s))
        || fewer_audiences
        || new.max_depth() < old.max_depth()
}

/// A new secret and its stored form.
pub(crate) fn new_secret(
    hasher: &SecretHasher,
    client_id: &ClientId,
    now: u64,
    expires_at: Option<u64>,
) -> Result<(ClientSecret, SecretRecord), Internal> {
    let secret = ClientSecret::generate()?;
    let record = SecretRecord {
        secret_id: m2m_core::random_id("sec_")?,
        client_id: client_id.clone(),
        hash: hasher.hash(secret.expose()),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    Ok((secret, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(scopes: &str, audiences: &[&str]) -> ClientRecord {
        ClientRecord {
            client_id: ClientId::new("m2m_x"),
            name: "x".into(),
            kind: ClientKind::Service,
            org_id: None,
            user_id: None,
            scopes: ScopeSet::parse(scopes).unwrap(),
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
            token_ttl: TokenTtl::default(),
            redirect_uris: vec![],
            token_endpoint_auth_method: TokenEndpointAuthMethod::default(),
            client_keys: None,
            dpop_bound_access_tokens: false,
            token_exchange: None,
            quota: None,
            metadata: serde_json::json!({}),
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn what_narrows_a_client() {
        let old = record("a:r a:w m2m:admin", &["https://a", "https://b"]);
        let same = old.clone();
        assert!(!narrows(&old, &same));
        assert!(
            !narrows(
                &old,
                &record(
                    "a:r a:w m2m:admin x:y",
                    &["https://a", "https://b", "https://c"]
                )
            ),
            "widening"
        );
        assert!(
            narrows(&old, &record("a:r a:w", &["https://a", "https://b"])),
            "demoted admin"
        );
        assert!(
            narrows(&old, &record("a:r a:w m2m:admin", &["https://a"])),
            "fewer audiences"
        );
        assert!(
            narrows(&old, &record("a:r a:w m2m:admin", &[])),
            "to the default audience"
        );
        assert!(
            narrows(&record("a:r", &[]), &record("a:r", &["https://a"])),
            "from the default audience"
        );
        let mut disabled = old.clone();
        disabled.enabled = false;
        assert!(narrows(&old, &disabled));
        let mut renamed = old.clone();
        renamed.name = "new".into();
        renamed.token_ttl = TokenTtl::new(600).unwrap();
        assert!(!narrows(&old, &renamed), "name and TTL revoke nothing");
        let mut bound = old.clone();
        bound.dpop_bound_access_tokens = true;
        assert!(
            narrows(&old, &bound),
            "requiring DPoP revokes Bearer tokens"
        );
        assert!(
            !narrows(&bound, &old),
            "no longer requiring it revokes nothing"
        );
    }
}

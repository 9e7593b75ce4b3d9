//! Client registration: the admin API's request bodies, their validation
//! (contract sections 3-5 and 7), and the JSON views of clients and secrets.
//!
//! Bounds: name 1-200 characters, at most 100 scopes, at most 20 audiences
//! (each an absolute `http(s)` URI or a plain identifier, at most 2,048
//! bytes), at most 20 redirect URIs, metadata a JSON object of at most
//! 8 KiB serialized, ids per `m2m_core::validate_id`, TTL 300-86,400 s.

use m2m_core::{
    ClientId, ClientKind, ClientSecret, OrgId, ScopeSet, SecretHasher, TokenTtl, UserId,
    validate_id,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::IssuerError;
use crate::error::AdminError;
use crate::store::{ClientRecord, SecretRecord};

/// Most live secrets a client may have.
pub(crate) const MAX_LIVE_SECRETS: usize = 5;
const MAX_NAME: usize = 200;
const MAX_SCOPES: usize = 100;
const MAX_AUDIENCES: usize = 20;
const MAX_AUDIENCE_LEN: usize = 2048;
const MAX_REDIRECT_URIS: usize = 20;
const MAX_METADATA: usize = 8 * 1024;

/// `POST /admin/clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateClient {
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
    metadata: Option<serde_json::Value>,
}

/// `PATCH /admin/clients/{id}`: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateClient {
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
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
}

/// `POST /admin/clients/{id}/secrets`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSecret {
    #[serde(default)]
    expires_at: Option<String>,
}

fn check_name(name: &str) -> Result<String, AdminError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME {
        return Err(AdminError::validation(format!(
            "name must be 1 to {MAX_NAME} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(AdminError::validation(
            "name must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

fn check_scopes(scopes: &[String]) -> Result<ScopeSet, AdminError> {
    if scopes.len() > MAX_SCOPES {
        return Err(AdminError::validation(format!(
            "at most {MAX_SCOPES} scopes"
        )));
    }
    let mut set = ScopeSet::new();
    for scope in scopes {
        let scope = m2m_core::Scope::new(scope)
            .map_err(|e| AdminError::validation(format!("scope {scope:?}: {e}")))?;
        set.insert(scope);
    }
    Ok(set)
}

fn check_audiences(audiences: &[String]) -> Result<Vec<String>, AdminError> {
    if audiences.len() > MAX_AUDIENCES {
        return Err(AdminError::validation(format!(
            "at most {MAX_AUDIENCES} audiences"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(audiences.len());
    for audience in audiences {
        if audience.is_empty()
            || audience.len() > MAX_AUDIENCE_LEN
            || !audience.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(AdminError::validation(format!(
                "audience {audience:?} must be 1 to {MAX_AUDIENCE_LEN} printable ASCII characters without spaces"
            )));
        }
        if !out.contains(audience) {
            out.push(audience.clone());
        }
    }
    Ok(out)
}

fn check_redirect_uris(uris: &[String]) -> Result<Vec<String>, AdminError> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(AdminError::validation(format!(
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
            return Err(AdminError::validation(format!(
                "redirect_uri {uri:?} must be an absolute http(s) URI without fragment"
            )));
        }
    }
    Ok(uris.to_vec())
}

fn check_metadata(metadata: serde_json::Value) -> Result<serde_json::Value, AdminError> {
    let metadata = match metadata {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        object @ serde_json::Value::Object(_) => object,
        _ => return Err(AdminError::validation("metadata must be a JSON object")),
    };
    let size = serde_json::to_vec(&metadata).map_or(usize::MAX, |v| v.len());
    if size > MAX_METADATA {
        return Err(AdminError::validation(format!(
            "metadata must be at most {MAX_METADATA} bytes serialized"
        )));
    }
    Ok(metadata)
}

fn check_ttl(seconds: Option<u64>) -> Result<TokenTtl, AdminError> {
    match seconds {
        None => Ok(TokenTtl::default()),
        Some(seconds) => TokenTtl::new(seconds).map_err(|e| AdminError::validation(e.to_string())),
    }
}

fn check_id(what: &str, id: Option<String>) -> Result<Option<String>, AdminError> {
    match id {
        None => Ok(None),
        Some(id) => validate_id(&id)
            .map(|()| Some(id))
            .map_err(|e| AdminError::validation(format!("{what}: {e}"))),
    }
}

fn check_binding(client: &ClientRecord) -> Result<(), AdminError> {
    client
        .kind
        .check_binding(
            client.org_id.as_ref(),
            client.user_id.as_ref(),
            &client.audiences,
        )
        .map_err(|e| AdminError::validation(e.to_string()))?;
    if client.kind != ClientKind::User && !client.redirect_uris.is_empty() {
        return Err(AdminError::validation(
            "only clients of kind user have redirect_uris",
        ));
    }
    Ok(())
}

impl CreateClient {
    /// Validates the request into a record with a fresh client id.
    pub(crate) fn into_record(self, now: u64) -> Result<ClientRecord, AdminError> {
        let kind: ClientKind = self
            .kind
            .parse()
            .map_err(|e: m2m_core::UnknownClientKind| AdminError::validation(e.to_string()))?;
        let record = ClientRecord {
            client_id: ClientId::generate().map_err(IssuerError::from)?,
            name: check_name(&self.name)?,
            kind,
            org_id: check_id("org_id", self.org_id)?.map(OrgId::new),
            user_id: check_id("user_id", self.user_id)?.map(UserId::new),
            scopes: check_scopes(&self.scopes)?,
            audiences: check_audiences(self.audiences.as_deref().unwrap_or_default())?,
            token_ttl: check_ttl(self.token_ttl_seconds)?,
            redirect_uris: check_redirect_uris(self.redirect_uris.as_deref().unwrap_or_default())?,
            metadata: check_metadata(self.metadata.unwrap_or_default())?,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        check_binding(&record)?;
        Ok(record)
    }
}

impl UpdateClient {
    /// Applies the changes to `client`; returns the names of changed fields.
    pub(crate) fn apply(
        self,
        client: &mut ClientRecord,
        now: u64,
    ) -> Result<Vec<&'static str>, AdminError> {
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

impl CreateSecret {
    /// The expiry, checked to be in the future.
    pub(crate) fn expires_at(&self, now: u64) -> Result<Option<u64>, AdminError> {
        let Some(text) = &self.expires_at else {
            return Ok(None);
        };
        let at = parse_rfc3339(text)
            .ok_or_else(|| AdminError::validation("expires_at must be an RFC 3339 date-time"))?;
        if at <= now {
            return Err(AdminError::validation("expires_at must be in the future"));
        }
        Ok(Some(at))
    }
}

/// A new secret and its stored form.
pub(crate) fn new_secret(
    hasher: &SecretHasher,
    client_id: &ClientId,
    now: u64,
    expires_at: Option<u64>,
) -> Result<(ClientSecret, SecretRecord), IssuerError> {
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

/// Seconds since the epoch as an RFC 3339 UTC string.
pub(crate) fn rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

/// An RFC 3339 date-time as seconds since the epoch (none before 1970).
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    if text.len() > 64 {
        return None;
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// A client as the admin API shows it (no secrets, no hashes).
#[derive(Debug, Serialize)]
pub(crate) struct ClientView {
    client_id: String,
    name: String,
    kind: ClientKind,
    org_id: Option<String>,
    user_id: Option<String>,
    scopes: Vec<String>,
    audiences: Vec<String>,
    token_ttl_seconds: u64,
    redirect_uris: Vec<String>,
    metadata: serde_json::Value,
    enabled: bool,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secrets: Option<Vec<SecretView>>,
}

impl ClientView {
    pub(crate) fn new(client: &ClientRecord) -> Self {
        ClientView {
            client_id: client.client_id.to_string(),
            name: client.name.clone(),
            kind: client.kind,
            org_id: client.org_id.as_ref().map(ToString::to_string),
            user_id: client.user_id.as_ref().map(ToString::to_string),
            scopes: client.scopes.to_vec(),
            audiences: client.audiences.clone(),
            token_ttl_seconds: client.token_ttl.seconds(),
            redirect_uris: client.redirect_uris.clone(),
            metadata: client.metadata.clone(),
            enabled: client.enabled,
            created_at: rfc3339(client.created_at),
            updated_at: rfc3339(client.updated_at),
            secrets: None,
        }
    }

    pub(crate) fn with_secrets(mut self, secrets: &[SecretRecord]) -> Self {
        self.secrets = Some(secrets.iter().map(SecretView::new).collect());
        self
    }
}

/// A secret's id and dates (never the secret or its hash).
#[derive(Debug, Serialize)]
pub(crate) struct SecretView {
    secret_id: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
}

impl SecretView {
    pub(crate) fn new(secret: &SecretRecord) -> Self {
        SecretView {
            secret_id: secret.secret_id.clone(),
            created_at: rfc3339(secret.created_at),
            expires_at: secret.expires_at.map(rfc3339),
            last_used_at: secret.last_used_at.map(rfc3339),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}

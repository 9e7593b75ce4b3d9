//! The admin API's JSON views of clients, secrets, grants and audit events
//! (never a secret or a hash), and RFC 3339 times.

use m2m_core::{ClientKind, JwkSet};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::{
    AuditRecord, ClientKeys, ClientRecord, GrantRecord, QuotaOverride, SecretRecord,
    TokenExchangePolicy, TokenMinute,
};

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
    token_endpoint_auth_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<JwkSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    dpop_bound_access_tokens: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_exchange: Option<TokenExchangePolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<QuotaOverride>,
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
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str(),
            jwks: match &client.client_keys {
                Some(ClientKeys::Jwks(set)) => Some(set.clone()),
                _ => None,
            },
            jwks_uri: match &client.client_keys {
                Some(ClientKeys::JwksUri(uri)) => Some(uri.clone()),
                _ => None,
            },
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            token_exchange: client.token_exchange.clone(),
            quota: client.quota,
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

/// A grant as the admin API shows it.
pub(crate) fn grant_view(grant: &GrantRecord) -> serde_json::Value {
    json!({
        "grant_id": grant.grant_id,
        "client_id": grant.client_id.as_str(),
        "user_id": grant.user_id.as_str(),
        "org_id": grant.org_id.as_str(),
        "scopes": grant.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(grant.created_at),
        "revoked_at": grant.revoked_at.map(rfc3339),
    })
}

/// An audit event as the admin API shows it. A token aggregate
/// (`tokens.issued`) has the same envelope, `at` its minute, and its times
/// in RFC 3339 in `detail`.
pub(crate) fn event_view(event: &AuditRecord) -> serde_json::Value {
    let detail = match TokenMinute::from_record(event) {
        Some(m) => json!({
            "minute": rfc3339(m.minute),
            "count": m.count,
            "scopes": m.scopes,
            "audiences": m.audiences,
            "first_jti": m.first_jti,
            "first_at": rfc3339(m.first_at),
            "last_jti": m.last_jti,
            "last_at": rfc3339(m.last_at),
        }),
        None => event.detail.clone(),
    };
    json!({
        "id": event.seq.to_string(),
        "at": rfc3339(event.at),
        "kind": event.kind,
        "client_id": event.client_id,
        "actor": event.actor,
        "detail": detail,
    })
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

/// A federated credential as the admin API shows it (all public data).
#[derive(Debug, Serialize)]
pub(crate) struct FederatedCredentialView {
    id: String,
    client_id: String,
    issuer: String,
    subject: String,
    audience: String,
    claims: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<serde_json::Value>,
    created_at: String,
}

impl FederatedCredentialView {
    pub(crate) fn new(entry: &crate::store::FederatedCredentialRecord) -> Self {
        FederatedCredentialView {
            id: entry.id.clone(),
            client_id: entry.client_id.as_str().to_owned(),
            issuer: entry.issuer.clone(),
            subject: entry.subject.clone(),
            audience: entry.audience.clone(),
            claims: entry.claims.clone(),
            jwks: entry.jwks.clone(),
            created_at: rfc3339(entry.created_at),
        }
    }
}

//! Audit events: typed here, written off the request path.
//!
//! Domain operations hand an [`AuditEvent`] to the [`AuditSink`], a bounded
//! channel; one background task turns events into [`AuditRecord`]s (the one
//! place that decides their kind names and JSON details) and appends them to
//! the store in batches. A full channel never blocks a request: the event
//! is dropped, counted
//! ([`Issuer::dropped_audit_events`](crate::Issuer::dropped_audit_events))
//! and a warning is logged. Reading the audit log first flushes this node's
//! channel, so a reader sees every event this node accepted before the read.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use m2m_core::{Audience, ClientId, ClientKind, OrgId, ScopeSet, UserId};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditRecord, Store};

/// Events appended per store call at most.
const BATCH: usize = 256;

/// Which endpoint a client authenticated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    Introspect,
    Revoke,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Introspect => "introspect",
            Endpoint::Revoke => "revoke",
        }
    }
}

/// Why a client failed to authenticate (recorded, never told to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    UnknownClient,
    BadSecret,
    ExpiredSecret,
    DisabledClient,
}

impl AuthFailure {
    fn as_str(self) -> &'static str {
        match self {
            AuthFailure::UnknownClient => "unknown_client",
            AuthFailure::BadSecret => "bad_secret",
            AuthFailure::ExpiredSecret => "expired_secret",
            AuthFailure::DisabledClient => "disabled_client",
        }
    }
}

/// Why a grant was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantRevokeReason {
    /// An administrator revoked it.
    Admin,
    /// The client revoked its refresh token (RFC 7009).
    RefreshTokenRevoked,
    /// An authorization code was presented twice.
    CodeReused,
    /// A used refresh token was presented again.
    RefreshTokenReused,
}

impl GrantRevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            GrantRevokeReason::Admin => "admin",
            GrantRevokeReason::RefreshTokenRevoked => "refresh_token_revoked",
            GrantRevokeReason::CodeReused => "code_reused",
            GrantRevokeReason::RefreshTokenReused => "refresh_token_reused",
        }
    }
}

/// What happened. Never holds a secret, a code or a token.
#[derive(Debug, Clone)]
pub(crate) enum AuditEvent {
    TokenIssued {
        client_id: ClientId,
        jti: String,
        scope: ScopeSet,
        aud: Audience,
        exp: u64,
        kid: String,
        /// The grant and user, for a user-level client's token.
        grant: Option<(String, UserId)>,
    },
    AuthFailed {
        client_id: Option<ClientId>,
        reason: AuthFailure,
        endpoint: Endpoint,
        source: Option<IpAddr>,
    },
    ClientCreated {
        client_id: ClientId,
        actor: Option<ClientId>,
        kind: ClientKind,
        scopes: ScopeSet,
        bootstrap: bool,
    },
    ClientUpdated {
        client_id: ClientId,
        actor: ClientId,
        fields: Vec<&'static str>,
        /// The client-level revocation the change implied, if any.
        revoked_at: Option<u64>,
    },
    ClientDeleted {
        client_id: ClientId,
        actor: ClientId,
        revoked_at: u64,
    },
    SecretCreated {
        client_id: ClientId,
        actor: ClientId,
        secret_id: String,
    },
    SecretDeleted {
        client_id: ClientId,
        actor: ClientId,
        secret_id: String,
    },
    KeysRotated {
        actor: ClientId,
        kid: String,
        signs_from: u64,
    },
    KeyRevoked {
        actor: ClientId,
        kid: String,
        /// The key made to sign at once, when the revoked one was the signer.
        replacement: Option<String>,
    },
    TokenRevoked {
        client_id: ClientId,
        jti: String,
    },
    GrantCreated {
        client_id: ClientId,
        grant_id: String,
        user_id: UserId,
        org_id: OrgId,
        scope: ScopeSet,
    },
    GrantRevoked {
        client_id: ClientId,
        actor: Option<ClientId>,
        grant_id: String,
        reason: GrantRevokeReason,
    },
    ConsentGranted {
        client_id: ClientId,
        grant_id: String,
        user_id: UserId,
        org_id: OrgId,
        scope: ScopeSet,
    },
    ConsentDenied {
        client_id: ClientId,
    },
}

impl AuditEvent {
    /// The stored form: the one place that names event kinds and shapes details.
    fn into_record(self, at: u64) -> AuditRecord {
        let record = |kind: &str, client_id: Option<ClientId>, actor, detail| AuditRecord {
            seq: 0,
            at,
            kind: kind.to_owned(),
            client_id,
            actor,
            detail,
        };
        match self {
            AuditEvent::TokenIssued {
                client_id,
                jti,
                scope,
                aud,
                exp,
                kid,
                grant,
            } => {
                let mut detail = json!({
                    "jti": jti, "scope": scope.to_string(), "aud": aud, "exp": exp, "kid": kid,
                });
                if let Some((grant_id, user_id)) = grant {
                    detail["grant_id"] = json!(grant_id);
                    detail["uid"] = json!(user_id);
                }
                record("token.issued", Some(client_id), None, detail)
            }
            AuditEvent::AuthFailed {
                client_id,
                reason,
                endpoint,
                source,
            } => record(
                "auth.failed",
                client_id,
                None,
                json!({
                    "reason": reason.as_str(),
                    "endpoint": endpoint.as_str(),
                    "source": source.map(|a| a.to_string()),
                }),
            ),
            AuditEvent::ClientCreated {
                client_id,
                actor,
                kind,
                scopes,
                bootstrap,
            } => {
                let mut detail = json!({"kind": kind, "scopes": scopes.to_string()});
                if bootstrap {
                    detail["bootstrap"] = json!(true);
                }
                record("client.created", Some(client_id), actor, detail)
            }
            AuditEvent::ClientUpdated {
                client_id,
                actor,
                fields,
                revoked_at,
            } => record(
                "client.updated",
                Some(client_id),
                Some(actor),
                json!({"fields": fields, "revoked_at": revoked_at}),
            ),
            AuditEvent::ClientDeleted {
                client_id,
                actor,
                revoked_at,
            } => record(
                "client.deleted",
                Some(client_id),
                Some(actor),
                json!({"revoked_at": revoked_at}),
            ),
            AuditEvent::SecretCreated {
                client_id,
                actor,
                secret_id,
            } => record(
                "secret.created",
                Some(client_id),
                Some(actor),
                json!({"secret_id": secret_id}),
            ),
            AuditEvent::SecretDeleted {
                client_id,
                actor,
                secret_id,
            } => record(
                "secret.deleted",
                Some(client_id),
                Some(actor),
                json!({"secret_id": secret_id}),
            ),
            AuditEvent::KeysRotated {
                actor,
                kid,
                signs_from,
            } => record(
                "keys.rotated",
                None,
                Some(actor),
                json!({"kid": kid, "signs_from": signs_from}),
            ),
            AuditEvent::KeyRevoked {
                actor,
                kid,
                replacement,
            } => record(
                "key.revoked",
                None,
                Some(actor),
                json!({"kid": kid, "replacement": replacement}),
            ),
            AuditEvent::TokenRevoked { client_id, jti } => record(
                "token.revoked",
                Some(client_id.clone()),
                Some(client_id),
                json!({"jti": jti}),
            ),
            AuditEvent::GrantCreated {
                client_id,
                grant_id,
                user_id,
                org_id,
                scope,
            } => record(
                "grant.created",
                Some(client_id),
                None,
                json!({
                    "grant_id": grant_id, "user_id": user_id, "org_id": org_id,
                    "scope": scope.to_string(),
                }),
            ),
            AuditEvent::GrantRevoked {
                client_id,
                actor,
                grant_id,
                reason,
            } => record(
                "grant.revoked",
                Some(client_id),
                actor,
                json!({"grant_id": grant_id, "reason": reason.as_str()}),
            ),
            AuditEvent::ConsentGranted {
                client_id,
                grant_id,
                user_id,
                org_id,
                scope,
            } => record(
                "consent.granted",
                Some(client_id),
                None,
                json!({
                    "grant_id": grant_id, "user_id": user_id, "org_id": org_id,
                    "scope": scope.to_string(),
                }),
            ),
            AuditEvent::ConsentDenied { client_id } => {
                record("consent.denied", Some(client_id), None, json!({}))
            }
        }
    }
}

enum Message {
    Event(u64, Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Event(_, event) => event.fmt(f),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// The bounded audit queue and its writer task.
#[derive(Debug)]
pub(crate) struct AuditSink {
    tx: mpsc::Sender<Message>,
    dropped: AtomicU64,
}

impl AuditSink {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Arc<dyn Store>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(writer(store, rx));
        AuditSink {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an event that happened at `at`; drops it (counted, with a
    /// warning) if the queue is full.
    pub(crate) fn record(&self, at: u64, event: AuditEvent) {
        if self
            .tx
            .try_send(Message::Event(at, Box::new(event)))
            .is_err()
        {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit queue full: events dropped");
            }
        }
    }

    /// Waits until every event queued before this call is in the store.
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut messages, BATCH).await > 0 {
        let mut waiters = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(at, event) => records.push(event.into_record(at)),
                Message::Flush(done) => waiters.push(done),
            }
        }
        if !records.is_empty() {
            if let Err(error) = store.append_audit(&records).await {
                tracing::error!(%error, lost = records.len(), "could not append audit events");
            }
            records.clear();
        }
        for done in waiters {
            let _ = done.send(());
        }
    }
}

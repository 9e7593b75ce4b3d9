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
//!
//! Token issuance, the bulk of it, is by default folded into one
//! [`TokenMinute`] per client and minute ([`TokenAudit`]): the writer keeps
//! the current minute's aggregates in memory and writes them once the minute
//! is over (checked at least every second), on every flush (a read, a
//! shutdown) and when the issuer is dropped; the store merges what several
//! writes or replicas record for one minute. A background task deletes
//! events older than the retention period in small batches ([`purge`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use m2m_core::{Audience, ClientId, ClientKind, OrgId, ScopeSet, UserId};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditRecord, QuotaOverride, Store, TokenMinute};

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
    /// A confidential client sent no secret.
    MissingSecret,
    /// A public client sent a secret.
    SecretForPublicClient,
    /// A public client tried to authenticate at introspection.
    PublicClientIntrospects,
    /// A `private_key_jwt` client sent a secret (or nothing).
    SecretForKeyClient,
    /// A client assertion was refused; the reason says why (`expired`,
    /// `replayed_jti`, `unknown_kid`, `alg_none`, `wrong_audience`, ...).
    Assertion(&'static str),
}

impl AuthFailure {
    fn as_str(self) -> &'static str {
        match self {
            AuthFailure::UnknownClient => "unknown_client",
            AuthFailure::BadSecret => "bad_secret",
            AuthFailure::ExpiredSecret => "expired_secret",
            AuthFailure::DisabledClient => "disabled_client",
            AuthFailure::MissingSecret => "missing_secret",
            AuthFailure::SecretForPublicClient => "secret_for_public_client",
            AuthFailure::PublicClientIntrospects => "public_client_at_introspection",
            AuthFailure::SecretForKeyClient => "secret_for_private_key_jwt_client",
            AuthFailure::Assertion(reason) => reason,
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
    /// A token minted by token exchange (RFC 8693): always recorded, in
    /// every token-audit mode (it says who acts for whom).
    TokenExchanged {
        /// The actor.
        client_id: ClientId,
        jti: String,
        /// The subject the token speaks for.
        sub: String,
        /// The subject token's `jti` and client.
        subject_jti: String,
        subject_client_id: ClientId,
        /// The actors, the current (outermost) first.
        chain: Vec<String>,
        scope: ScopeSet,
        aud: Audience,
        exp: u64,
        kid: String,
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
    /// A client registered itself (RFC 7591 dynamic registration).
    ClientRegistered {
        client_id: ClientId,
        source: Option<IpAddr>,
        scopes: ScopeSet,
        public: bool,
    },
    /// A registration refused over the rate limit: the first of its source
    /// address in a window (bounded, see `throttle::RateLimit`).
    RegistrationRateLimited {
        source: Option<IpAddr>,
        retry_after: u64,
    },
    /// A token quota window was exceeded: recorded once per window and
    /// quota (the first request past it, on whichever replica), not per
    /// refused request. `log_only`: the token was issued anyway.
    QuotaExceeded {
        client_id: ClientId,
        /// `"client"` or `"org"`: whose quota.
        subject: &'static str,
        org_id: Option<OrgId>,
        /// `"minute"`, `"hour"` or `"day"`.
        window: &'static str,
        limit: u64,
        window_start: u64,
        log_only: bool,
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
    OrgQuotaSet {
        org_id: OrgId,
        actor: ClientId,
        quota: QuotaOverride,
    },
    OrgQuotaCleared {
        org_id: OrgId,
        actor: ClientId,
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
    FederatedCredentialCreated {
        client_id: ClientId,
        actor: ClientId,
        id: String,
        issuer: String,
        subject: String,
    },
    FederatedCredentialDeleted {
        client_id: ClientId,
        actor: ClientId,
        id: String,
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
    /// Tokens exchanged (RFC 8693) from a revoked token, grant, client or
    /// key, revoked with it: how many, and the first of their `jti`s.
    ExchangedTokensRevoked {
        count: usize,
        jtis: Vec<String>,
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
    /// A client was registered from its Client ID Metadata Document on first use.
    MetadataDocumentRegistered {
        client_id: ClientId,
        scopes: ScopeSet,
        redirect_uris: Vec<String>,
    },
    /// A refetched metadata document changed its client.
    MetadataDocumentUpdated {
        client_id: ClientId,
        fields: Vec<&'static str>,
        /// The client-level revocation the change implied, if any.
        revoked_at: Option<u64>,
    },
    /// Token issuance folded for one client and minute (aggregate mode):
    /// made from `TokenIssued` by the sink, never written as an event.
    TokensIssued(TokenMinute),
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
            AuditEvent::TokenExchanged {
                client_id,
                jti,
                sub,
                subject_jti,
                subject_client_id,
                chain,
                scope,
                aud,
                exp,
                kid,
            } => record(
                "token.exchanged",
                Some(client_id),
                None,
                json!({
                    "jti": jti, "sub": sub, "subject_jti": subject_jti,
                    "subject_client_id": subject_client_id, "act_chain": chain,
                    "scope": scope.to_string(), "aud": aud, "exp": exp, "kid": kid,
                }),
            ),
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
            AuditEvent::ClientRegistered {
                client_id,
                source,
                scopes,
                public,
            } => record(
                "client.registered",
                Some(client_id),
                None,
                json!({
                    "source": source.map(|a| a.to_string()),
                    "scopes": scopes.to_string(),
                    "public": public,
                }),
            ),
            AuditEvent::RegistrationRateLimited {
                source,
                retry_after,
            } => record(
                "registration.rate_limited",
                None,
                None,
                json!({
                    "source": source.map(|a| a.to_string()),
                    "retry_after": retry_after,
                }),
            ),
            AuditEvent::QuotaExceeded {
                client_id,
                subject,
                org_id,
                window,
                limit,
                window_start,
                log_only,
            } => record(
                "token.quota_exceeded",
                Some(client_id),
                None,
                json!({
                    "subject": subject,
                    "oid": org_id,
                    "window": window,
                    "limit": limit,
                    "window_start": window_start,
                    "mode": if log_only { "log_only" } else { "enforce" },
                }),
            ),
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
            AuditEvent::OrgQuotaSet {
                org_id,
                actor,
                quota,
            } => record(
                "org.quota_set",
                None,
                Some(actor),
                json!({"oid": org_id, "quota": quota}),
            ),
            AuditEvent::OrgQuotaCleared { org_id, actor } => record(
                "org.quota_cleared",
                None,
                Some(actor),
                json!({"oid": org_id}),
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
            AuditEvent::FederatedCredentialCreated {
                client_id,
                actor,
                id,
                issuer,
                subject,
            } => record(
                "federated_credential.created",
                Some(client_id),
                Some(actor),
                json!({"id": id, "issuer": issuer, "subject": subject}),
            ),
            AuditEvent::FederatedCredentialDeleted {
                client_id,
                actor,
                id,
            } => record(
                "federated_credential.deleted",
                Some(client_id),
                Some(actor),
                json!({"id": id}),
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
            AuditEvent::ExchangedTokensRevoked { count, jtis } => record(
                "token.exchanged_revoked",
                None,
                None,
                json!({"count": count, "jtis": jtis}),
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
            AuditEvent::MetadataDocumentRegistered {
                client_id,
                scopes,
                redirect_uris,
            } => record(
                "client.metadata_document.registered",
                Some(client_id),
                None,
                json!({"scopes": scopes.to_string(), "redirect_uris": redirect_uris}),
            ),
            AuditEvent::MetadataDocumentUpdated {
                client_id,
                fields,
                revoked_at,
            } => record(
                "client.metadata_document.updated",
                Some(client_id),
                None,
                json!({"fields": fields, "revoked_at": revoked_at}),
            ),
            AuditEvent::ConsentDenied { client_id } => {
                record("consent.denied", Some(client_id), None, json!({}))
            }
            AuditEvent::TokensIssued(minute) => minute.to_record(),
        }
    }
}

/// How the audit log records token issuance. Failures and admin changes
/// are always one event each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenAudit {
    /// One `tokens.issued` aggregate per client and minute: count, scopes,
    /// audiences, first and last jti (the default). A user-level client's
    /// tokens are counted per client; the grant and user are not kept.
    #[default]
    Aggregate,
    /// One `token.issued` event per token, with its grant and user for a
    /// user-level client's token.
    PerToken,
    /// Token issuance is not recorded.
    Off,
}

impl std::str::FromStr for TokenAudit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aggregate" => Ok(TokenAudit::Aggregate),
            "per_token" => Ok(TokenAudit::PerToken),
            "off" => Ok(TokenAudit::Off),
            other => Err(format!(
                "token audit mode {other:?} is not aggregate, per_token or off"
            )),
        }
    }
}

/// Rows deleted per purge statement at most.
pub(crate) const PURGE_BATCH: usize = 1000;
/// The pause between two purge statements, so writers get the lock between.
const PURGE_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
/// How often the writer checks, with no events coming, whether a minute ended.
const MINUTE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Deletes audit events and aggregates with `at < before`, in batches of
/// [`PURGE_BATCH`] with a pause between, each its own short statement.
/// Returns how many.
pub(crate) async fn purge(store: &dyn Store, before: u64) -> crate::store::StoreResult<u64> {
    let mut total = 0;
    loop {
        let n = store.purge_audit(before, PURGE_BATCH).await?;
        total += n;
        if n < PURGE_BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PURGE_PAUSE).await;
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
    tokens: TokenAudit,
}

impl AuditSink {
    /// Starts the writer task on the current runtime. Dropping the sink
    /// ends the task once it has written what was queued, the current
    /// minute's aggregates included.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        capacity: usize,
        tokens: TokenAudit,
        clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(writer(store, rx, clock));
        AuditSink {
            tx,
            dropped: AtomicU64::new(0),
            tokens,
        }
    }

    /// Queues an event that happened at `at`; drops it (counted, with a
    /// warning) if the queue is full. Token issuance is folded into
    /// per-minute aggregates, kept per token or not recorded, by the mode.
    pub(crate) fn record(&self, at: u64, event: AuditEvent) {
        let event = match (self.tokens, event) {
            (TokenAudit::Off, AuditEvent::TokenIssued { .. }) => return,
            (
                TokenAudit::Aggregate,
                AuditEvent::TokenIssued {
                    client_id,
                    jti,
                    scope,
                    aud,
                    ..
                },
            ) => AuditEvent::TokensIssued(TokenMinute::one(
                client_id,
                at,
                jti,
                scope.to_vec(),
                aud.iter().map(str::to_owned),
            )),
            (_, event) => event,
        };
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

    /// Records that `tokens`, exchanged from something just revoked, were
    /// revoked with it (nothing when there are none); names at most 100.
    pub(crate) fn exchanged_revoked(&self, tokens: &[m2m_core::RevokedToken], at: u64) {
        if tokens.is_empty() {
            return;
        }
        self.record(
            at,
            AuditEvent::ExchangedTokensRevoked {
                count: tokens.len(),
                jtis: tokens.iter().take(100).map(|t| t.jti.clone()).collect(),
            },
        );
    }

    /// Waits until every event queued before this call is in the store,
    /// the aggregates of the current minute included (later tokens of that
    /// minute merge into them).
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

/// Aggregates not yet written, by client and minute.
#[derive(Default)]
struct Pending {
    minutes: HashMap<(ClientId, u64), TokenMinute>,
    /// The earliest minute in `minutes`, so that a batch written within the
    /// same minute costs nothing: with 100,000 clients, scanning the whole
    /// map after every batch was a tenth of the server's CPU.
    oldest: Option<u64>,
}

impl Pending {
    fn add(&mut self, minute: TokenMinute) {
        self.oldest = Some(self.oldest.map_or(minute.minute, |m| m.min(minute.minute)));
        match self
            .minutes
            .entry((minute.client_id.clone(), minute.minute))
        {
            Entry::Occupied(mut entry) => entry.get_mut().merge(&minute),
            Entry::Vacant(entry) => {
                entry.insert(minute);
            }
        }
    }

    /// Takes the aggregates of minutes before `now`'s (all when `now` is `None`).
    fn take_done(&mut self, now: Option<u64>) -> Vec<TokenMinute> {
        let current = now.map(TokenMinute::minute_of);
        if let (Some(current), Some(oldest)) = (current, self.oldest)
            && oldest >= current
        {
            return Vec::new();
        }
        let mut done = Vec::new();
        let mut oldest = None::<u64>;
        self.minutes.retain(|_, m| {
            if current.is_none_or(|c| m.minute < c) {
                done.push(m.clone());
                false
            } else {
                oldest = Some(oldest.map_or(m.minute, |o| o.min(m.minute)));
                true
            }
        });
        self.oldest = oldest;
        done.sort_by_key(|m| (m.minute, m.first_at));
        done
    }

    async fn write(&mut self, store: &dyn Store, now: Option<u64>) {
        let done = self.take_done(now);
        if done.is_empty() {
            return;
        }
        if let Err(error) = store.record_token_minutes(&done).await {
            let lost: u64 = done.iter().map(|m| m.count).sum();
            tracing::error!(%error, lost, "could not record token aggregates");
        }
    }
}

async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Message>,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut pending = Pending::default();
    loop {
        let received = if pending.minutes.is_empty() {
            rx.recv_many(&mut messages, BATCH).await
        } else {
            match tokio::time::timeout(MINUTE_CHECK, rx.recv_many(&mut messages, BATCH)).await {
                Ok(n) => n,
                Err(_) => {
                    pending.write(store.as_ref(), Some(clock())).await;
                    continue;
                }
            }
        };
        if received == 0 {
            // Every sender is gone (the issuer was dropped): write the rest.
            pending.write(store.as_ref(), None).await;
            return;
        }
        let mut waiters = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(_, event) if matches!(*event, AuditEvent::TokensIssued(_)) => {
                    if let AuditEvent::TokensIssued(minute) = *event {
                        pending.add(minute);
                    }
                }
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
        let now = if waiters.is_empty() {
            Some(clock())
        } else {
            None
        };
        pending.write(store.as_ref(), now).await;
        for done in waiters {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn minute(client: &str, at: u64) -> TokenMinute {
        TokenMinute {
            client_id: ClientId::new(client),
            minute: TokenMinute::minute_of(at),
            count: 1,
            scopes: BTreeSet::new(),
            audiences: BTreeSet::new(),
            first_jti: "j".into(),
            first_at: at,
            last_jti: "j".into(),
            last_at: at,
        }
    }

    #[test]
    fn aggregates_leave_once_their_minute_is_over_and_not_before() {
        let mut pending = Pending::default();
        pending.add(minute("m2m_a", 600));
        pending.add(minute("m2m_b", 630));
        // Still the same minute: nothing is done.
        assert!(pending.take_done(Some(659)).is_empty());
        assert_eq!(pending.minutes.len(), 2);
        pending.add(minute("m2m_a", 665));
        // The minute turned: the two of minute 600 go, the one of 660 stays.
        let done = pending.take_done(Some(670));
        assert_eq!(done.len(), 2);
        assert!(done.iter().all(|m| m.minute == 600));
        assert_eq!(pending.oldest, Some(660));
        // A late event of an earlier minute is written at the next batch.
        pending.add(minute("m2m_c", 610));
        let done = pending.take_done(Some(671));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].minute, 600);
        assert_eq!(pending.oldest, Some(660));
        // At the end, everything goes.
        assert_eq!(pending.take_done(None).len(), 1);
        assert_eq!(pending.oldest, None);
        assert!(pending.take_done(Some(10_000)).is_empty());
    }
}

//! [`Minter`]: the one place that decides what an access token says and
//! signs it, for every grant.
//!
//! - Audience: a `resource` (RFC 8707) or `audience` asked for must be one
//!   of the client's allowed audiences (`invalid_target` otherwise); none
//!   asked for means all of them; a client with no audiences gets the
//!   issuer's default audience.
//! - Scope: a scope asked for must be within what is allowed
//!   (`invalid_scope`, never a silent subset); none means all of it.
//! - Claims: `iss`, `sub` (the client, or the user for a user-level grant),
//!   `client_id`, `aud`, `iat` = `nbf` = now, `exp` = now + the client's TTL,
//!   a random `jti`, `scope`/`scopes`, `oid`, `uid`, and `cnf.jkt` when the
//!   token is DPoP-bound (`domain::dpop` decides which key).
//! - Key: the ring's signing key at `now`.
//! - Size: every token fits the verifiers' limit. [`Minter::check_fits`]
//!   refuses, at registration, a client whose largest possible token would
//!   not fit, so the issuer never mints a token that it could not
//!   introspect or revoke and that a guard would refuse.

use std::sync::Arc;

use m2m_core::{
    AccessTokenClaims, Actor, Audience, ClientKind, Confirmation, DEFAULT_MAX_TOKEN_LEN,
    MAX_ID_LEN, OrgId, ScopeSet, UserId,
};

use super::error::{GrantError, Internal};
use super::keys::KeyManager;
use crate::IssuerError;
use crate::store::ClientRecord;

/// Whom a token speaks for.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// The client itself (client credentials).
    Client,
    /// A user who consented to a user-level client.
    User { user_id: UserId, org_id: OrgId },
}

/// A signed access token and what it says.
#[derive(Debug)]
pub(crate) struct Minted {
    pub(crate) token: String,
    pub(crate) claims: AccessTokenClaims,
    pub(crate) kid: String,
}

#[derive(Debug)]
pub(crate) struct Minter {
    issuer_url: String,
    default_audience: String,
    keys: Arc<KeyManager>,
}

impl Minter {
    pub(crate) fn new(issuer_url: String, default_audience: String, keys: Arc<KeyManager>) -> Self {
        Minter {
            issuer_url,
            default_audience,
            keys,
        }
    }

    /// The audiences `client` may get tokens for.
    pub(crate) fn allowed_audiences<'a>(&'a self, client: &'a ClientRecord) -> &'a [String] {
        if client.audiences.is_empty() {
            std::slice::from_ref(&self.default_audience)
        } else {
            &client.audiences
        }
    }

    /// The `aud` of a token for `client` asking for `requested`.
    pub(crate) fn select_audience(
        &self,
        client: &ClientRecord,
        requested: &[&str],
    ) -> Result<Audience, GrantError> {
        Self::audience_within(self.allowed_audiences(client), requested)
    }

    /// The `aud` of a token allowed `allowed` and asking for `requested`:
    /// all of `allowed` when nothing is asked, else what is asked if every
    /// one is allowed, else `invalid_target`.
    pub(crate) fn audience_within(
        allowed: &[String],
        requested: &[&str],
    ) -> Result<Audience, GrantError> {
        if requested.is_empty() {
            return Ok(Audience::from_list(allowed.to_vec()));
        }
        if let Some(bad) = requested.iter().find(|r| !allowed.iter().any(|a| a == *r)) {
            let bad: String = bad.chars().take(100).collect();
            return Err(GrantError::InvalidTarget(bad));
        }
        let mut chosen: Vec<String> = requested.iter().map(|r| (*r).to_owned()).collect();
        chosen.sort();
        chosen.dedup();
        Ok(Audience::from_list(chosen))
    }

    /// The scopes to grant: all of `allowed` when `requested` is absent or
    /// empty, else `requested` if it is within `allowed`, else
    /// `invalid_scope` saying `too_wide`.
    pub(crate) fn select_scope(
        requested: Option<&str>,
        allowed: &ScopeSet,
        too_wide: &'static str,
    ) -> Result<ScopeSet, GrantError> {
        let Some(text) = requested else {
            return Ok(allowed.clone());
        };
        let requested =
            ScopeSet::parse(text).map_err(|e| GrantError::InvalidScope(e.to_string().into()))?;
        if requested.is_empty() {
            Ok(allowed.clone())
        } else if requested.is_subset(allowed) {
            Ok(requested)
        } else {
            Err(GrantError::InvalidScope(too_wide.into()))
        }
    }

    /// The claims of a token for `client` at `now`.
    fn claims(
        &self,
        client: &ClientRecord,
        subject: &Subject,
        scope: ScopeSet,
        aud: Audience,
        jti: String,
        now: u64,
    ) -> AccessTokenClaims {
        let (sub, oid, uid) = match subject {
            // Org clients always have an org_id; service clients only if created with one.
            Subject::Client => (client.client_id.to_string(), client.org_id.clone(), None),
            Subject::User { user_id, org_id } => (
                user_id.to_string(),
                Some(org_id.clone()),
                Some(user_id.clone()),
            ),
        };
        AccessTokenClaims {
            iss: self.issuer_url.clone(),
            sub,
            client_id: client.client_id.clone(),
            aud,
            exp: now + client.token_ttl.seconds(),
            nbf: Some(now),
            iat: now,
            jti,
            scope,
            oid,
            uid,
            cnf: None,
            act: None,
            may_act: None,
        }
    }

    /// Signs a token for `client`, speaking for `subject`, with `scope` and
    /// `aud`, bound to the DPoP key with thumbprint `jkt` if given.
    pub(crate) fn mint(
        &self,
        client: &ClientRecord,
        subject: &Subject,
        scope: ScopeSet,
        aud: Audience,
        jkt: Option<&str>,
        now: u64,
    ) -> Result<Minted, Internal> {
        let jti = m2m_core::random_id("")?;
        let mut claims = self.claims(client, subject, scope, aud, jti, now);
        claims.cnf = jkt.map(Confirmation::jkt);
        let minted = self.sign(claims, now);
        if let Err(Internal(IssuerError::TokenTooLarge { len })) = &minted {
            // check_fits makes this impossible for registered clients.
            tracing::error!(
                client_id = %client.client_id,
                len,
                "a token exceeded the verifiers' size limit; refusing to issue it"
            );
        }
        minted
    }

    /// Signs `claims` with the ring's signing key at `now`, refusing a token
    /// over the verifiers' size limit (`IssuerError::TokenTooLarge`): never
    /// hand out a token that verifiers would refuse.
    pub(crate) fn sign(&self, claims: AccessTokenClaims, now: u64) -> Result<Minted, Internal> {
        let snapshot = self.keys.snapshot();
        let key = snapshot
            .signing_key(now)
            .ok_or(Internal(IssuerError::NoSigningKey))?;
        let token = m2m_core::sign(key, &claims)?;
        if token.len() > DEFAULT_MAX_TOKEN_LEN {
            return Err(Internal(IssuerError::TokenTooLarge { len: token.len() }));
        }
        Ok(Minted {
            token,
            kid: key.kid().to_owned(),
            claims,
        })
    }

    /// The claims of a token that `actor` gets by exchanging the token with
    /// `subject`'s claims (RFC 8693): the subject's `sub`, `uid` and `oid`,
    /// the actor's `client_id`, `act` naming the actor with the subject's
    /// own `act` nested inside, `exp` no later than the subject's.
    pub(crate) fn exchanged_claims(
        &self,
        actor: &ClientRecord,
        subject: &AccessTokenClaims,
        scope: ScopeSet,
        aud: Audience,
        jkt: Option<&str>,
        now: u64,
    ) -> Result<AccessTokenClaims, Internal> {
        let mut act = Actor::client(actor.client_id.as_str());
        if let Some(previous) = &subject.act {
            act = act.acting_after(previous.clone());
        }
        Ok(AccessTokenClaims {
            iss: self.issuer_url.clone(),
            sub: subject.sub.clone(),
            client_id: actor.client_id.clone(),
            aud,
            exp: subject.exp.min(now + actor.token_ttl.seconds()),
            nbf: Some(now),
            iat: now,
            jti: m2m_core::random_id("")?,
            scope,
            oid: subject.oid.clone(),
            uid: subject.uid.clone(),
            cnf: jkt.map(Confirmation::jkt),
            act: Some(act),
            may_act: None,
        })
    }

    /// The length of the largest token `client` could ever get: every
    /// allowed scope and audience, a `cnf`, and for ids the registration does not fix
    /// (a consenting user), the longest id with every character escaped.
    pub(crate) fn largest_token_len(&self, client: &ClientRecord, now: u64) -> Option<usize> {
        let longest_id = "\"".repeat(MAX_ID_LEN);
        let subject = match client.kind {
            ClientKind::User => Subject::User {
                user_id: UserId::new(longest_id.clone()),
                org_id: client
                    .org_id
                    .clone()
                    .unwrap_or_else(|| OrgId::new(longest_id.clone())),
            },
            ClientKind::Org | ClientKind::Service => Subject::Client,
        };
        let aud = Audience::from_list(self.allowed_audiences(client).to_vec());
        let jti = "x".repeat(26);
        // A DPoP-bound token is the larger: a SHA-256 thumbprint in `cnf`.
        let jkt = "x".repeat(43);
        let mut claims = self.claims(client, &subject, client.scopes.clone(), aud, jti, now);
        claims.cnf = Some(Confirmation::jkt(jkt));
        let snapshot = self.keys.snapshot();
        let key = snapshot.signing_key(now)?;
        Some(m2m_core::signed_len(key, &claims))
    }

    /// Refuses a client whose largest token would exceed the verifiers' limit.
    pub(crate) fn check_fits(&self, client: &ClientRecord, now: u64) -> Result<(), String> {
        match self.largest_token_len(client, now) {
            Some(len) if len > DEFAULT_MAX_TOKEN_LEN => Err(format!(
                "this client's largest token would be {len} bytes, over the {DEFAULT_MAX_TOKEN_LEN}-byte \
                 limit of verifiers: use fewer or shorter scopes or audiences"
            )),
            _ => Ok(()),
        }
    }
}

//! [`TokenExchange`]: the token-exchange grant (RFC 8693), every rule of it.
//!
//! The authenticated client is the actor. It trades a `subject_token` (an
//! access token of this issuer, judged as introspection judges it:
//! signature, expiry, revocation, its client enabled) for a token that
//! speaks for the same subject and names the actor in `act`.
//!
//! | check | refusal |
//! |---|---|
//! | the actor has a `token_exchange` policy | `unauthorized_client` (RFC 6749 §5.2: not authorized for this grant type) |
//! | `subject_token_type` / `actor_token_type` / `requested_token_type` are the access-token type | `invalid_request` |
//! | the subject token is an active token of this issuer | `invalid_request` (RFC 8693 §2.2.2) |
//! | the `actor_token`, if sent, is an active token of the actor itself (`client_id` and `sub` the actor, no `act`) | `invalid_request` (RFC 8693 §2.2.2) |
//! | the policy lists the subject token's client or org | `invalid_request` (RFC 8693 §2.2.2: "unacceptable based on policy") |
//! | the subject token's `may_act`, if any, names the actor (RFC 8693 §4.4) | `invalid_request` |
//! | the new chain's depth is within the policy's `max_depth` (default 1) | `invalid_request` |
//! | `scope` within the subject token's and the actor's scopes; omitted: the subject token's, which must be within the actor's | `invalid_scope`, never a silent subset |
//! | `resource`/`audience` within the policy's `audiences` (or, without them, the actor's own) | `invalid_target` |
//!
//! The token: the subject's `sub`, `uid`, `oid`; the actor's `client_id`;
//! `act` = the actor, with the subject token's `act` nested inside; `exp` =
//! the earlier of the subject token's and now + the actor's TTL; `cnf` only
//! when this request carried a DPoP proof. No refresh token.
//!
//! Revocation follows the chain: before the token is signed, the store
//! records it with its parent ([`Store::record_exchanged_token`]), refusing
//! when the parent is revoked by then; revoking the parent later (its jti,
//! grant or client: `Registry`; its signing key: `KeyManager`) revokes it,
//! through [`Store::revoke_exchanged`].

use std::sync::Arc;

use m2m_core::{AccessTokenClaims, ScopeSet};

use super::error::{GrantError, Internal};
use super::minter::{Minted, Minter};
use super::own_tokens::OwnTokens;
use super::token::TokenRequest;
use crate::IssuerError;
use crate::store::{ClientRecord, ExchangedTokenRecord, Store};

/// `grant_type` of the RFC 8693 token-exchange grant.
pub(crate) const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The RFC 8693 §3 token type of an access token: the only type this issuer
/// takes and issues.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token minted by exchange, and what its audit event names.
#[derive(Debug)]
pub(crate) struct Exchanged {
    pub(crate) minted: Minted,
    /// The subject token's `jti` and `client_id`.
    pub(crate) subject_jti: String,
    pub(crate) subject_client_id: m2m_core::ClientId,
}

#[derive(Debug)]
pub(crate) struct TokenExchange {
    own_tokens: Arc<OwnTokens>,
    minter: Arc<Minter>,
    store: Arc<dyn Store>,
}

fn invalid(description: &'static str) -> GrantError {
    GrantError::InvalidRequest(description.into())
}

impl TokenExchange {
    pub(crate) fn new(
        own_tokens: Arc<OwnTokens>,
        minter: Arc<Minter>,
        store: Arc<dyn Store>,
    ) -> Self {
        TokenExchange {
            own_tokens,
            minter,
            store,
        }
    }

    /// Runs the grant for `actor` (authenticated), binding the token to the
    /// DPoP key `jkt` if this request proved one.
    pub(crate) async fn exchange(
        &self,
        actor: &ClientRecord,
        request: &TokenRequest<'_>,
        jkt: Option<&str>,
        now: u64,
    ) -> Result<Exchanged, GrantError> {
        let policy = actor
            .token_exchange
            .as_ref()
            .filter(|_| !actor.token_endpoint_auth_method.is_public())
            .ok_or(GrantError::UnauthorizedClient(
                "this client has no token_exchange policy: it may not exchange tokens",
            ))?;
        // The request's form first: nothing is looked up for a bad one.
        if request
            .requested_token_type
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(invalid(
                "requested_token_type must be urn:ietf:params:oauth:token-type:access_token: \
                 the only token type this issuer issues by exchange",
            ));
        }
        let subject_token = request
            .subject_token
            .ok_or(invalid("the token-exchange grant needs a subject_token"))?;
        match request.subject_token_type {
            None => {
                return Err(invalid(
                    "the token-exchange grant needs a subject_token_type",
                ));
            }
            Some(ACCESS_TOKEN_TYPE) => {}
            Some(_) => {
                return Err(invalid(
                    "subject_token_type must be urn:ietf:params:oauth:token-type:access_token: \
                     this issuer exchanges only its own access tokens",
                ));
            }
        }
        match (request.actor_token, request.actor_token_type) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(invalid("actor_token_type was sent without actor_token"));
            }
            (Some(_), None) => {
                return Err(invalid(
                    "actor_token_type is required when actor_token is sent",
                ));
            }
            (Some(_), Some(ACCESS_TOKEN_TYPE)) => {}
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
                ));
            }
        }
        if let Some(actor_token) = request.actor_token {
            let claims = self.own_tokens.active(actor_token).await?.ok_or(invalid(
                "the actor_token is not an active access token of this issuer",
            ))?;
            if !is_own_direct_token(&claims, actor) {
                return Err(invalid(
                    "the actor_token must be a token of the authenticated client itself \
                     (its client_id and sub, with no act)",
                ));
            }
        }
        let subject = self
            .own_tokens
            .active(subject_token)
            .await?
            .filter(|claims| claims.exp > now)
            .ok_or(invalid(
                "the subject_token is not an active access token of this issuer: \
                 malformed, not signed by this issuer, expired or revoked",
            ))?;
        if !policy
            .subjects
            .iter()
            .any(|s| s.matches(&subject.client_id, subject.oid.as_ref()))
        {
            return Err(invalid(
                "this client's token_exchange policy does not list the subject token's \
                 client or organization",
            ));
        }
        if let Some(may_act) = &subject.may_act
            && may_act.sub != actor.client_id.as_str()
            && may_act.client_id.as_ref() != Some(&actor.client_id)
        {
            return Err(invalid(
                "the subject token's may_act does not name this client",
            ));
        }
        let depth = subject.delegation_depth() + 1;
        if depth > usize::from(policy.max_depth()) {
            return Err(GrantError::InvalidRequest(
                format!(
                    "the exchanged token would carry a delegation chain of depth {depth}, \
                     over this client's token_exchange max_depth of {}",
                    policy.max_depth()
                )
                .into(),
            ));
        }
        let scope = select_scope(request.scope, &subject.scope, &actor.scopes)?;
        let allowed = match &policy.audiences {
            Some(audiences) => audiences.as_slice(),
            None => self.minter.allowed_audiences(actor),
        };
        let aud = Minter::audience_within(allowed, &request.audiences)?;
        let claims = self
            .minter
            .exchanged_claims(actor, &subject, scope, aud, jkt, now)?;
        // Recorded before it is signed, and refused if the subject token was
        // revoked by now: a revocation racing this exchange either is seen
        // here or sees this record.
        let record = ExchangedTokenRecord {
            jti: claims.jti.clone(),
            exp: claims.exp,
            client_id: claims.client_id.clone(),
            parent_jti: subject.jti.clone(),
            parent_client_id: subject.client_id.clone(),
            parent_iat: subject.iat,
            parent_kid: kid_of(subject_token).ok_or(invalid(
                "the subject_token is not an active access token of this issuer: \
                 malformed, not signed by this issuer, expired or revoked",
            ))?,
        };
        if !self.store.record_exchanged_token(&record, &subject).await? {
            return Err(invalid(
                "the subject_token is not an active access token of this issuer: \
                 malformed, not signed by this issuer, expired or revoked",
            ));
        }
        let minted = match self.minter.sign(claims, now) {
            Err(Internal(IssuerError::TokenTooLarge { len })) => {
                return Err(GrantError::InvalidRequest(
                    format!(
                        "the exchanged token would be {len} bytes, over the verifiers' limit: \
                         ask for fewer scopes or audiences"
                    )
                    .into(),
                ));
            }
            other => other?,
        };
        Ok(Exchanged {
            minted,
            subject_jti: subject.jti,
            subject_client_id: subject.client_id,
        })
    }
}

/// The `kid` in the header of a token the verifier accepted (which it
/// always names: this issuer's keys have one).
fn kid_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// Whether `claims` are of a token the actor got for itself.
fn is_own_direct_token(claims: &AccessTokenClaims, actor: &ClientRecord) -> bool {
    claims.client_id == actor.client_id
        && claims.sub == actor.client_id.as_str()
        && claims.act.is_none()
}

/// The scope of the exchanged token: what is asked, within both the subject
/// token's scope and the actor's; nothing asked: the subject token's, which
/// must then be within the actor's. Never a silent subset.
fn select_scope(
    requested: Option<&str>,
    subject: &ScopeSet,
    actor: &ScopeSet,
) -> Result<ScopeSet, GrantError> {
    let scope = Minter::select_scope(
        requested,
        subject,
        "the requested scope exceeds the subject token's scope",
    )?;
    if !scope.is_subset(actor) {
        return Err(GrantError::InvalidScope(
            if requested.is_some_and(|r| !r.trim().is_empty()) {
                "the requested scope exceeds what this client may be granted"
            } else {
                "the subject token's scope exceeds what this client may be granted: \
                 ask for a scope within both"
            }
            .into(),
        ));
    }
    Ok(scope)
}

//! [`OwnTokens`]: the issuer judging its own access tokens, for
//! introspection (RFC 7662), revocation (RFC 7009) and the admin API.
//!
//! Nothing here decodes a token by hand: a token is judged by m2m-guard's
//! verifier, fed in process with this issuer's keys and revocations and
//! accepting any audience (the issuer answers for all of them), then by the
//! store, which knows revocations made a moment ago on another replica
//! before this node's revocation follower does, and by the client's record
//! (a deleted or disabled client's tokens are not active).

use std::net::IpAddr;
use std::sync::Arc;

use m2m_core::{AccessTokenClaims, ClientId};
use m2m_guard::Guard;

use super::audit::Endpoint;
use super::cache::ClientCache;
use super::client_auth::{ClientAuth, Credentials};
use super::error::{AuthError, Internal};
use super::grants::Grants;
use super::registry::Registry;
use crate::ADMIN_SCOPE;
use crate::store::Store;

#[derive(Debug)]
pub(crate) struct OwnTokens {
    /// Verifies with any audience; never serves a route.
    verifier: Guard,
    store: Arc<dyn Store>,
    cache: Arc<ClientCache>,
    client_auth: Arc<ClientAuth>,
    registry: Arc<Registry>,
    grants: Arc<Grants>,
}

/// What [`OwnTokens::new`] is built from.
pub(crate) struct OwnTokensParts {
    pub(crate) verifier: Guard,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<ClientCache>,
    pub(crate) client_auth: Arc<ClientAuth>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) grants: Arc<Grants>,
}

impl OwnTokens {
    pub(crate) fn new(parts: OwnTokensParts) -> Self {
        let OwnTokensParts {
            verifier,
            store,
            cache,
            client_auth,
            registry,
            grants,
        } = parts;
        OwnTokens {
            verifier,
            store,
            cache,
            client_auth,
            registry,
            grants,
        }
    }

    /// Whether a token that m2m-guard accepted still stands: no revocation
    /// in the store covers it, and its client exists and is enabled.
    pub(crate) async fn still_valid(&self, claims: &AccessTokenClaims) -> Result<bool, Internal> {
        if self.store.is_revoked(claims, None).await? {
            return Ok(false);
        }
        Ok(self
            .cache
            .lookup(&*self.store, &claims.client_id)
            .await?
            .is_some_and(|entry| entry.client.enabled))
    }

    /// The claims of `token` if it is one of this issuer's and active.
    pub(crate) async fn active(&self, token: &str) -> Result<Option<AccessTokenClaims>, Internal> {
        let Ok(auth) = self.verifier.check_token(token) else {
            return Ok(None);
        };
        let claims = auth.claims();
        Ok(self.still_valid(claims).await?.then(|| claims.clone()))
    }

    /// RFC 7662: the token's claims if the caller may see them and the token
    /// is active; `None` answers `{"active": false}`.
    pub(crate) async fn introspect(
        &self,
        credentials: &Credentials,
        source: Option<IpAddr>,
        token: &str,
        now: u64,
    ) -> Result<Option<AccessTokenClaims>, AuthError> {
        let caller = self
            .client_auth
            .authenticate(credentials, source, Endpoint::Introspect, now)
            .await?;
        let caller = &caller.entry.client;
        let Some(claims) = self.active(token).await.map_err(AuthError::Internal)? else {
            return Ok(None);
        };
        let allowed = claims.client_id == caller.client_id || caller.scopes.contains(ADMIN_SCOPE);
        Ok(allowed.then_some(claims))
    }

    /// RFC 7009: revokes the caller's own token, an access token or a
    /// refresh token (whose grant goes with it). An unknown, foreign,
    /// malformed or expired token changes nothing. `token_type_hint` is not
    /// needed: the two kinds cannot be confused.
    pub(crate) async fn revoke(
        &self,
        credentials: &Credentials,
        source: Option<IpAddr>,
        token: &str,
        now: u64,
    ) -> Result<(), AuthError> {
        let caller = self
            .client_auth
            .authenticate(credentials, source, Endpoint::Revoke, now)
            .await?;
        let caller = &*caller.entry.client;
        if self
            .grants
            .revoke_refresh_token(caller, token, now)
            .await
            .map_err(AuthError::Internal)?
        {
            return Ok(());
        }
        let Ok(auth) = self.verifier.check_token(token) else {
            return Ok(());
        };
        if auth.client_id() != &caller.client_id {
            return Ok(());
        }
        self.registry
            .revoke_token(auth.claims(), now)
            .await
            .map_err(AuthError::Internal)
    }

    /// The admin API's check after its guard: the token still stands. Returns
    /// the acting admin.
    pub(crate) async fn admin_actor(
        &self,
        claims: &AccessTokenClaims,
    ) -> Result<Option<ClientId>, Internal> {
        Ok(self
            .still_valid(claims)
            .await?
            .then(|| claims.client_id.clone()))
    }
}

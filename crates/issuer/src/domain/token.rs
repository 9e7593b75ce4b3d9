//! [`TokenEndpoint`]: `POST /oauth/token`, every grant, in one place:
//! check the DPoP proof if any ([`DpopBinding`]), authenticate the client
//! ([`ClientAuth`]), decide the token's binding, run the grant (client
//! credentials here; the user-level grants in `domain::grants`), mint with
//! the [`Minter`], and audit the issued token.
//!
//! The client-credentials hot path: one client lookup (cached briefly), one
//! constant-time HMAC per stored secret, one signature with a key read from
//! an `ArcSwap`, no store write (the audit event goes to a queue, and
//! `last_used_at` is written at most once a minute per secret, off the
//! request).

use std::net::IpAddr;
use std::sync::Arc;

use m2m_core::ScopeSet;

use super::audit::{AuditEvent, AuditSink, Endpoint};
use super::client_auth::{ClientAuth, Credentials};
use super::dpop::{DpopBinding, DpopRequest};
use super::error::GrantError;
use super::exchange::{ACCESS_TOKEN_TYPE, Exchanged, TOKEN_EXCHANGE_GRANT, TokenExchange};
use super::grants::{CodeExchange, Grants};
use super::minter::{Minted, Minter, Subject};
use super::quota::{QuotaStatus, Quotas};

/// `grant_type` of the RFC 7523 §2.1 JWT-bearer grant.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The parameters of a token request (from the form; repeated parameters
/// already refused, except `resource`).
#[derive(Debug, Default)]
pub(crate) struct TokenRequest<'a> {
    pub(crate) grant_type: &'a str,
    pub(crate) scope: Option<&'a str>,
    /// The `resource` parameters (RFC 8707), then `audience`.
    pub(crate) audiences: Vec<&'a str>,
    pub(crate) code: Option<&'a str>,
    pub(crate) redirect_uri: Option<&'a str>,
    pub(crate) code_verifier: Option<&'a str>,
    pub(crate) refresh_token: Option<&'a str>,
    /// The JWT-bearer grant's `assertion`.
    pub(crate) assertion: Option<&'a str>,
    /// The token-exchange grant's parameters (RFC 8693 §2.1).
    pub(crate) subject_token: Option<&'a str>,
    pub(crate) subject_token_type: Option<&'a str>,
    pub(crate) actor_token: Option<&'a str>,
    pub(crate) actor_token_type: Option<&'a str>,
    pub(crate) requested_token_type: Option<&'a str>,
}

/// A token response.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) scope: ScopeSet,
    pub(crate) refresh_token: Option<String>,
    /// The access token is DPoP-bound (`token_type: DPoP`).
    pub(crate) dpop_bound: bool,
    /// RFC 8693 §2.2.1 `issued_token_type`, for a token exchange.
    pub(crate) issued_token_type: Option<&'static str>,
    /// The quotas the token counted against, when quotas are on.
    pub(crate) quota: Option<QuotaStatus>,
}

#[derive(Debug)]
pub(crate) struct TokenEndpoint {
    client_auth: Arc<ClientAuth>,
    minter: Arc<Minter>,
    grants: Arc<Grants>,
    audit: Arc<AuditSink>,
    dpop: Arc<DpopBinding>,
    exchange: TokenExchange,
    quotas: Arc<Quotas>,
}

/// What [`TokenEndpoint::new`] is built from.
pub(crate) struct TokenEndpointParts {
    pub(crate) client_auth: Arc<ClientAuth>,
    pub(crate) minter: Arc<Minter>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) audit: Arc<AuditSink>,
    pub(crate) dpop: Arc<DpopBinding>,
    pub(crate) exchange: TokenExchange,
    pub(crate) quotas: Arc<Quotas>,
}

impl TokenEndpoint {
    pub(crate) fn new(parts: TokenEndpointParts) -> Self {
        let TokenEndpointParts {
            client_auth,
            minter,
            grants,
            audit,
            dpop,
            exchange,
            quotas,
        } = parts;
        TokenEndpoint {
            client_auth,
            minter,
            grants,
            audit,
            dpop,
            exchange,
            quotas,
        }
    }

    /// Token quotas.
    pub(crate) fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// DPoP at this endpoint: algorithms and nonces.
    pub(crate) fn dpop(&self) -> &DpopBinding {
        &self.dpop
    }

    /// Answers one token request.
    pub(crate) async fn issue(
        &self,
        credentials: &Credentials,
        source: Option<IpAddr>,
        request: &TokenRequest<'_>,
        dpop: &DpopRequest<'_>,
        now: u64,
    ) -> Result<Issued, GrantError> {
        // Stateless: a bad proof is refused before any store read.
        let proof = self.dpop.verify(dpop, now)?;
        let auth = match credentials {
            // The JWT-bearer grant's assertion alone: it names the client.
            Credentials::BearerGrant {
                client_id,
                assertion,
            } => {
                self.client_auth
                    .authenticate_bearer_grant(client_id.as_deref(), assertion, source, now)
                    .await?
            }
            _ => {
                let auth = self
                    .client_auth
                    .authenticate(credentials, source, Endpoint::Token, now)
                    .await?;
                if request.grant_type == JWT_BEARER_GRANT {
                    // An authenticated client trading an external token: it
                    // must name this client.
                    let assertion = request.assertion.ok_or(GrantError::InvalidRequest(
                        "the jwt-bearer grant needs an assertion".into(),
                    ))?;
                    let id = auth.entry.client.client_id.as_str().to_owned();
                    self.client_auth
                        .authenticate_bearer_grant(Some(&id), assertion, source, now)
                        .await?
                } else {
                    auth
                }
            }
        };
        let client = &*auth.entry.client;
        // Before the grant runs: a replayed proof consumes no code or refresh token.
        let jkt = self.dpop.bind(client, proof, now).await?;
        let jkt = jkt.as_deref();
        // Authenticated: count the token. Dropped on any error below, the
        // ticket gives it back, so a failed grant consumes no quota.
        let quota = self.quotas.admit(client, now).await?;
        let (minted, refresh) = match request.grant_type {
            TOKEN_EXCHANGE_GRANT => {
                let exchanged = self.exchange.exchange(client, request, jkt, now).await?;
                // An exchanged token counts against the actor's quota too.
                return Ok(self.exchanged(exchanged, quota.commit(), now));
            }
            JWT_BEARER_GRANT => {
                if !client.kind.uses_client_credentials() {
                    return Err(GrantError::UnauthorizedClient(
                        "this client may not use the jwt-bearer grant",
                    ));
                }
                let scope = Minter::select_scope(
                    request.scope,
                    &client.scopes,
                    "the requested scope exceeds what this client may be granted",
                )?;
                let aud = self.minter.select_audience(client, &request.audiences)?;
                let minted = self
                    .minter
                    .mint(client, &Subject::Client, scope, aud, jkt, now)?;
                (minted, None)
            }
            "client_credentials" => {
                // A public client has no credential to prove: never this grant.
                if client.token_endpoint_auth_method.is_public()
                    || !client.kind.uses_client_credentials()
                {
                    return Err(GrantError::UnauthorizedClient(
                        "this client may not use the client_credentials grant",
                    ));
                }
                let scope = Minter::select_scope(
                    request.scope,
                    &client.scopes,
                    "the requested scope exceeds what this client may be granted",
                )?;
                let aud = self.minter.select_audience(client, &request.audiences)?;
                let minted = self
                    .minter
                    .mint(client, &Subject::Client, scope, aud, jkt, now)?;
                (minted, None)
            }
            "authorization_code" => {
                let tokens = self
                    .grants
                    .exchange_code(
                        client,
                        CodeExchange {
                            code: request.code,
                            redirect_uri: request.redirect_uri,
                            verifier: request.code_verifier,
                        },
                        &request.audiences,
                        jkt,
                        now,
                    )
                    .await?;
                (tokens.access, Some((tokens.refresh_token, tokens.grant_id)))
            }
            "refresh_token" => {
                let tokens = self
                    .grants
                    .refresh(
                        client,
                        request.refresh_token,
                        request.scope,
                        &request.audiences,
                        jkt,
                        now,
                    )
                    .await?;
                (tokens.access, Some((tokens.refresh_token, tokens.grant_id)))
            }
            _ => {
                return Err(GrantError::UnsupportedGrantType(
                    "grant_type must be client_credentials, authorization_code, refresh_token, \
                     urn:ietf:params:oauth:grant-type:jwt-bearer or \
                     urn:ietf:params:oauth:grant-type:token-exchange",
                ));
            }
        };
        let quota = quota.commit();
        let Minted { token, claims, kid } = minted;
        let grant = refresh.as_ref().map(|(_, grant_id)| {
            let user = claims
                .uid
                .clone()
                .unwrap_or_else(|| claims.sub.clone().into());
            (grant_id.clone(), user)
        });
        let expires_in = client.token_ttl.seconds();
        let scope = claims.scope.clone();
        self.audit.record(
            now,
            AuditEvent::TokenIssued {
                client_id: claims.client_id,
                jti: claims.jti,
                scope: claims.scope,
                aud: claims.aud,
                exp: claims.exp,
                kid,
                grant,
            },
        );
        Ok(Issued {
            access_token: token,
            expires_in,
            scope,
            refresh_token: refresh.map(|(token, _)| token),
            dpop_bound: jkt.is_some(),
            issued_token_type: None,
            quota,
        })
    }

    /// The response and audit event of a token exchange.
    fn exchanged(&self, exchanged: Exchanged, quota: Option<QuotaStatus>, now: u64) -> Issued {
        let Exchanged {
            minted: Minted { token, claims, kid },
            subject_jti,
            subject_client_id,
        } = exchanged;
        let issued = Issued {
            access_token: token,
            expires_in: claims.exp.saturating_sub(now),
            scope: claims.scope.clone(),
            refresh_token: None,
            dpop_bound: claims.cnf.is_some(),
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
            quota,
        };
        let chain = claims
            .act
            .as_ref()
            .map(|act| act.chain().map(|a| a.sub.clone()).collect())
            .unwrap_or_default();
        self.audit.record(
            now,
            AuditEvent::TokenExchanged {
                client_id: claims.client_id,
                jti: claims.jti,
                sub: claims.sub,
                subject_jti,
                subject_client_id,
                chain,
                scope: claims.scope,
                aud: claims.aud,
                exp: claims.exp,
                kid,
            },
        );
        issued
    }
}

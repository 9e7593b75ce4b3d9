//! [`DpopBinding`]: what DPoP binding (RFC 9449) a token from the token
//! endpoint gets, for every grant.
//!
//! - The request's `DPoP` header: none, or exactly one of visible ASCII
//!   (two or more, or a value that is not, is `invalid_dpop_proof`). Its
//!   proof must be valid for `POST` and the token endpoint's public URL
//!   (RFC 9449 §4.3 normalisation) by `m2m_core::DpopValidation`: no `ath`
//!   here (no access token is presented), a current nonce when nonces are on
//!   (`use_dpop_nonce` otherwise, §8).
//! - The proof is checked before the client authenticates (it costs no
//!   store read); its `jti` is claimed once the client has authenticated and
//!   before the grant runs, so a replay consumes no code or refresh token.
//!   The claim goes through [`Store::claim_assertion_id`] under the issuer
//!   `dpop:<jkt>` until the end of the proof's `iat` window: replicas
//!   sharing the store refuse each other's replays.
//! - A client with `dpop_bound_access_tokens` (RFC 9449 §5.2) must send a
//!   proof: without one, `invalid_dpop_proof`.
//! - With a valid proof the access token gets `cnf.jkt`, the proof key's
//!   RFC 7638 thumbprint, and the response `token_type: DPoP`. A public
//!   client's refresh token is bound to that key too (`domain::grants`
//!   checks it at refresh, §5); a confidential client's is not.

use std::fmt;
use std::sync::Arc;

use m2m_core::{DpopError, DpopNonces, DpopValidation, ProofRequest, VerifiedProof};

use super::error::GrantError;
use crate::store::{ClientRecord, Store};

/// The `DPoP` headers of a token request as the handler found them, and
/// the method and public URL the proof must name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpopRequest<'a> {
    /// The raw values of every `DPoP` header.
    pub(crate) headers: &'a [&'a [u8]],
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
}

/// The prefix of the replay-cache issuer of a proof's `jti`.
const REPLAY_ISSUER_PREFIX: &str = "dpop:";

pub(crate) struct DpopBinding {
    validation: DpopValidation,
    store: Arc<dyn Store>,
}

impl fmt::Debug for DpopBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopBinding")
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl DpopBinding {
    /// Proofs checked with m2m-core's defaults, and `nonces` required when given.
    pub(crate) fn new(store: Arc<dyn Store>, nonces: Option<DpopNonces>) -> Self {
        let validation = DpopValidation::new();
        let validation = match nonces {
            Some(nonces) => validation.require_nonce(nonces),
            None => validation,
        };
        DpopBinding { validation, store }
    }

    /// The algorithms a proof may be signed with, for
    /// `dpop_signing_alg_values_supported`.
    pub(crate) fn algorithm_names(&self) -> Vec<&'static str> {
        self.validation.algorithm_names()
    }

    /// The nonce to hand out at `now`, when nonces are on.
    pub(crate) fn nonce(&self, now: u64) -> Option<String> {
        self.validation.nonces().map(|n| n.issue(now))
    }

    /// Checks the request's proof, if it has one (no state is read or written).
    pub(crate) fn verify(
        &self,
        request: &DpopRequest<'_>,
        now: u64,
    ) -> Result<Option<VerifiedProof>, GrantError> {
        let proof = match request.headers {
            [] => return Ok(None),
            [one] => std::str::from_utf8(one)
                .ok()
                .filter(|p| p.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(GrantError::Dpop(DpopError::BadProofHeader))?,
            _ => return Err(GrantError::Dpop(DpopError::BadProofHeader)),
        };
        let target = ProofRequest::new(request.method, request.url);
        self.validation
            .verify(proof, &target, now)
            .map(Some)
            .map_err(GrantError::Dpop)
    }

    /// The key `client`'s tokens are bound to: the proof's thumbprint, once
    /// its `jti` is claimed (a replay is refused); none without a proof,
    /// unless the client requires one.
    pub(crate) async fn bind(
        &self,
        client: &ClientRecord,
        proof: Option<VerifiedProof>,
        now: u64,
    ) -> Result<Option<String>, GrantError> {
        let Some(proof) = proof else {
            if client.dpop_bound_access_tokens {
                return Err(GrantError::Dpop(DpopError::MissingProof));
            }
            return Ok(None);
        };
        // Past this the proof is stale: no replay of it can be accepted.
        let until = proof
            .iat
            .saturating_add(self.validation.replay_window_secs())
            .saturating_add(1);
        let issuer = format!("{REPLAY_ISSUER_PREFIX}{}", proof.jkt);
        if !self
            .store
            .claim_assertion_id(&issuer, &proof.jti, until, now)
            .await?
        {
            return Err(GrantError::DpopReplayed);
        }
        Ok(Some(proof.jkt))
    }
}

//! Persistence: the [`Store`] trait that every backend implements.
//!
//! The issuer owns all policy (validation, hashing, encryption, limits'
//! meaning); a store only keeps records and enforces, atomically and in the
//! database itself, the few invariants that must hold across replicas:
//!
//! - at most `max_live` live secrets per client ([`Store::add_secret`]);
//! - at most `max` federated credentials per client
//!   ([`Store::add_federated_credential`]), deleted with their client;
//! - a change to a client and the revocation it implies happen together
//!   ([`Store::update_client`], [`Store::delete_client`]), and so do a key
//!   ring change and a key's revocation ([`Store::save_key_ring`]);
//! - the revocation log's sequence numbers only grow and are never reused,
//!   and entries become visible in sequence order, so a reader following a
//!   cursor never skips one ([`Store::revocations_since`]);
//! - key-ring changes are compare-and-swap, so two replicas rotating at once
//!   cannot both win ([`Store::save_key_ring`]);
//! - an authorization code is exchanged once: of concurrent
//!   [`Store::consume_auth_code`] calls exactly one consumes it;
//! - a refresh token is rotated once ([`Store::rotate_refresh_token`]), and a
//!   grant's revocation and its access tokens' entries in the revocation feed
//!   happen together ([`Store::revoke_grant`]); a grant revoked before it was
//!   created (a reused code racing its first exchange) stays revoked.
//!
//! A store never sees a secret, a code, a refresh token or a private key in
//! clear: it gets [`SecretHash`](m2m_core::SecretHash)es, SHA-256 hashes and encrypted PKCS#8 blobs.
//!
//! Times are seconds since the Unix epoch. Cursors are the store's own
//! ordering values; the issuer wraps them into opaque strings.

mod error;
mod interface;
mod memory;
mod records;

pub use error::{StoreError, StoreResult};
pub use interface::Store;
pub use memory::MemoryStore;
pub use records::{AddFederatedCredential, FederatedCredentialRecord, SecretTouch};
pub use records::{
    AddSecret, AuditFilter, AuditRecord, AuthCodeRecord, ClientFilter, ClientKeys, ClientRecord,
    ConsumeCode, GrantRecord, GrantRevocation, LoggedRevocation, Page, RefreshTokenRecord,
    RevocationPage, RotateRefresh, SecretRecord, StoredKey, TokenEndpointAuthMethod, TokenMinute,
};
pub use records::{
    ExchangeSubject, ExchangedFrom, ExchangedTokenRecord, QuotaMode, QuotaOverride,
    TokenExchangePolicy,
};

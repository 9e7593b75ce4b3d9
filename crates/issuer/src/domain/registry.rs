//! [`Registry`]: the client registry, and the one owner of what each change
//! to it implies.
//!
//! Every operation does all of its consequences in one call, or none: the
//! store write (atomic with the revocation it implies, where there is one),
//! dropping the client from this node's lookup cache, making the revocation
//! hold in process (`RevocationState::apply`: every in-process guard refuses
//! the tokens before the call returns), and one audit event. Handlers call
//! one method and map its [`RegistryError`].
//!
//! What revokes what:
//!
//! | change | revocation |
//! |---|---|
//! | disable, delete, narrow `scopes` or `audiences` (removing `m2m:admin` included) | the client's tokens with `iat <= now + cache window` |
//! | revoke a grant (admin, a reused code or refresh token, RFC 7009 on a refresh token) | the grant's refresh tokens and its access tokens with `exp >= now - leeway` |
//! | revoke an access token (RFC 7009) | that token |
//! | any of the above | every token exchanged (RFC 8693) from a token it revokes, transitively: its children, their children, ... |
//! | remove a secret | nothing: the secret stops authenticating (other replicas: within the cache window) |
//! | remove a federated credential | nothing: its issuer's tokens stop authenticating the client at once (entries are read from the store at each use) |
//!
//! The client revocation's `revoked_at` is the change's time plus this
//! node's client-cache window (rounded up to the second): another replica
//! may mint from a cached record for up to that long after the change, and
//! those tokens are covered too. Re-enabling a client revives none of them.

use std::net::IpAddr;
use std::sync::Arc;

use m2m_core::{
    AccessTokenClaims, ClientId, ClientKind, ClientSecret, PublicJwk, Revocation, RevokedClient,
    RevokedToken, ScopeSet, SecretHasher, TokenTtl, UserId,
};

use super::audit::{AuditEvent, AuditSink, GrantRevokeReason};
use super::cache::ClientCache;
use super::error::{Internal, Missing, RegistryError};
use super::federation::{self, NewFederatedCredential};
use super::minter::Minter;
use super::registration::{self, ClientChanges, NewClient};
use super::revocation::RevocationState;
use crate::store::{AddFederatedCredential, ExchangedFrom, FederatedCredentialRecord};
use crate::store::{
    AddSecret, AuditFilter, AuditRecord, ClientFilter, ClientKeys, ClientRecord, GrantRecord,
    GrantRevocation, Page, SecretRecord, Store, TokenEndpointAuthMethod,
};
use crate::{ADMIN_SCOPE, IssuerError};

/// Most live secrets a client may have.
pub(crate) const MAX_LIVE_SECRETS: usize = 5;

/// A client just registered, with its first secret (shown this once; none
/// for a public client).
#[derive(Debug)]
pub(crate) struct Created {
    pub(crate) client: ClientRecord,
    pub(crate) secret: Option<(ClientSecret, SecretRecord)>,
}

/// Why a public client may not hold secrets.
const PUBLIC_HAS_NO_SECRETS: &str = "a public client (token_endpoint_auth_method none) has no \
    secrets: it authenticates with its client_id and PKCE";

/// Why a private_key_jwt client may not hold secrets.
const KEY_CLIENT_HAS_NO_SECRETS: &str = "a private_key_jwt client has no secrets: it \
    authenticates with a JWT signed by one of its keys";

/// Why a `jwks_uri` client's keys are not changed here.
const JWKS_URI_KEYS: &str = "the client's keys come from its jwks_uri: change them there, \
    or set jwks instead";

/// A grant to revoke, and why.
#[derive(Debug)]
pub(crate) struct GrantToRevoke<'a> {
    pub(crate) client_id: &'a ClientId,
    pub(crate) grant_id: &'a str,
    pub(crate) reason: GrantRevokeReason,
    /// The admin who asked, if one did.
    pub(crate) actor: Option<&'a ClientId>,
    /// Store this grant revoked if it does not exist yet (a reused code that
    /// raced its first exchange).
    pub(crate) create_revoked: Option<&'a GrantRecord>,
}

#[derive(Debug)]
pub(crate) struct Registry {
    store: Arc<dyn Store>,
    cache: Arc<ClientCache>,
    audit: Arc<AuditSink>,
    revocations: Arc<RevocationState>,
    minter: Arc<Minter>,
    hasher: Arc<SecretHasher>,
    issuer_url: String,
    leeway: u64,
}

/// What [`Registry::new`] is built from.
pub(crate) struct RegistryParts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<ClientCache>,
    pub(crate) audit: Arc<AuditSink>,
    pub(crate) revocations: Arc<RevocationState>,
    pub(crate) minter: Arc<Minter>,
    pub(crate) hasher: Arc<SecretHasher>,
    pub(crate) issuer_url: String,
    pub(crate) leeway: u64,
}

impl Registry {
    pub(crate) fn new(parts: RegistryParts) -> Self {
        let RegistryParts {
            store,
            cache,
            audit,
            revocations,
            minter,
            hasher,
            issuer_url,
            leeway,
        } = parts;
        Registry {
            store,
            cache,
            audit,
            revocations,
            minter,
            hasher,
            issuer_url,
            leeway,
        }
    }

    /// A client-level revocation made at `now`, covering the cache window.
    fn client_revocation(&self, client_id: &ClientId, now: u64) -> RevokedClient {
        RevokedClient::new(client_id.clone(), now + self.cache.window_secs())
    }

    fn check_fits(&self, client: &ClientRecord, now: u64) -> Result<(), RegistryError> {
        self.minter
            .check_fits(client, now)
            .map_err(RegistryError::invalid)
    }

    /// Creates the bootstrap admin client (kind `service`, audience the
    /// issuer URL, scope `m2m:admin`) if the store has no client at all.
    pub(crate) async fn bootstrap_admin(
        &self,
        now: u64,
    ) -> Result<Option<(ClientId, ClientSecret)>, IssuerError> {
        let existing = self
            .store
            .list_clients(&ClientFilter::default(), None, 1)
            .await?;
        if !existing.items.is_empty() {
            return Ok(None);
        }
        let scopes =
            ScopeSet::parse(ADMIN_SCOPE).map_err(|e| IssuerError::Config(e.to_string()))?;
        let client = ClientRecord {
            client_id: ClientId::generate()?,
            name: "bootstrap admin".to_owned(),
            kind: ClientKind::Service,
            org_id: None,
            user_id: None,
            scopes,
            audiences: vec![self.issuer_url.clone()],
            token_ttl: TokenTtl::default(),
            redirect_uris: vec![],
            token_endpoint_auth_method: TokenEndpointAuthMethod::default(),
            client_keys: None,
            dpop_bound_access_tokens: false,
            token_exchange: None,
            quota: None,
            metadata: serde_json::json!({}),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let (secret, record) = registration::new_secret(&self.hasher, &client.client_id, now, None)
            .map_err(|e| e.0)?;
        self.store.create_client(&client, Some(&record)).await?;
        self.audit.record(
            now,
            AuditEvent::ClientCreated {
                client_id: client.client_id.clone(),
                actor: None,
                kind: client.kind,
                scopes: client.scopes.clone(),
                bootstrap: true,
            },
        );
        tracing::info!(client_id = %client.client_id, "bootstrap admin client created");
        Ok(Some((client.client_id, secret)))
    }

    /// Registers a client with its first secret (a public client gets none).
    pub(crate) async fn create_client(
        &self,
        actor: &ClientId,
        request: NewClient,
        now: u64,
    ) -> Result<Created, RegistryError> {
        let client = request.into_record(now)?;
        let created = self.insert(client, now).await?;
        self.audit.record(
            now,
            AuditEvent::ClientCreated {
                client_id: created.client.client_id.clone(),
                actor: Some(actor.clone()),
                kind: created.client.kind,
                scopes: created.client.scopes.clone(),
                bootstrap: false,
            },
        );
        Ok(created)
    }

    /// Registers a client that asked for itself (RFC 7591), already checked
    /// against the registration policy by `domain::dynamic_registration`,
    /// with its first secret (none for a public client).
    pub(crate) async fn register_dynamic(
        &self,
        client: ClientRecord,
        source: Option<IpAddr>,
        now: u64,
    ) -> Result<Created, RegistryError> {
        registration::check_binding(&client)?;
        let created = self.insert(client, now).await?;
        self.audit.record(
            now,
            AuditEvent::ClientRegistered {
                client_id: created.client.client_id.clone(),
                source,
                scopes: created.client.scopes.clone(),
                public: created.client.token_endpoint_auth_method.is_public(),
            },
        );
        Ok(created)
    }

    /// Stores a new client and its first secret, and drops any cached
    /// lookup of its id; the caller audits how it came to be.
    async fn insert(&self, client: ClientRecord, now: u64) -> Result<Created, RegistryError> {
        self.check_fits(&client, now)?;
        let secret = if !client.token_endpoint_auth_method.uses_secret() {
            None
        } else {
            Some(registration::new_secret(
                &self.hasher,
                &client.client_id,
                now,
                None,
            )?)
        };
        self.store
            .create_client(&client, secret.as_ref().map(|(_, record)| record))
            .await?;
        self.cache.invalidate(&client.client_id);
        Ok(Created { client, secret })
    }

    /// A client and its secrets.
    pub(crate) async fn client(
        &self,
        client_id: &ClientId,
    ) -> Result<(ClientRecord, Vec<SecretRecord>), RegistryError> {
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::Client))?;
        let secrets = self.store.list_secrets(client_id).await?;
        Ok((client, secrets))
    }

    /// Clients matching `filter`, a page at a time.
    pub(crate) async fn clients(
        &self,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: usize,
    ) -> Result<Page<ClientRecord, ClientId>, RegistryError> {
        Ok(self.store.list_clients(filter, after, limit).await?)
    }

    /// Changes a client. A change that disables or narrows it is a
    /// client-level revocation, written with the change.
    pub(crate) async fn update_client(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        changes: ClientChanges,
        now: u64,
    ) -> Result<ClientRecord, RegistryError> {
        let old = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::Client))?;
        let mut client = old.clone();
        let fields = changes.apply(&mut client, now)?;
        self.check_fits(&client, now)?;
        if !client.token_endpoint_auth_method.uses_secret()
            && old.token_endpoint_auth_method.uses_secret()
            && !self.store.list_secrets(client_id).await?.is_empty()
        {
            return Err(RegistryError::invalid(
                "remove the client's secrets before making it public \
                 (token_endpoint_auth_method none) or private_key_jwt",
            ));
        }
        let revocation =
            registration::narrows(&old, &client).then(|| self.client_revocation(client_id, now));
        if !self
            .store
            .update_client(&client, revocation.as_ref())
            .await?
        {
            return Err(RegistryError::NotFound(Missing::Client));
        }
        self.cache.invalidate(client_id);
        let revoked_at = revocation.as_ref().map(|r| r.revoked_at);
        if let Some(revocation) = revocation {
            self.revoke_exchanged_from_client(&revocation, now).await?;
            self.revocations.apply(&Revocation::Client(revocation));
        }
        self.audit.record(
            now,
            AuditEvent::ClientUpdated {
                client_id: client_id.clone(),
                actor: actor.clone(),
                fields,
                revoked_at,
            },
        );
        Ok(client)
    }

    /// Registers a client from its metadata document (`proposed`, made by
    /// `domain::client_metadata`), or brings the stored one up to date with
    /// it: name, redirect URIs, scopes, audiences and the metadata marker
    /// follow the document and policy; whether it is enabled stays the
    /// admin's. A change that narrows it revokes as any narrowing does.
    /// Audited on registration and on each change.
    pub(crate) async fn register_document_client(
        &self,
        proposed: ClientRecord,
        now: u64,
    ) -> Result<(), Internal> {
        let client_id = proposed.client_id.clone();
        let old = match self.store.get_client(&client_id).await? {
            Some(old) => old,
            None => match self.store.create_client(&proposed, None).await {
                Ok(()) => {
                    self.cache.invalidate(&client_id);
                    self.audit.record(
                        now,
                        AuditEvent::MetadataDocumentRegistered {
                            client_id,
                            scopes: proposed.scopes.clone(),
                            redirect_uris: proposed.redirect_uris.clone(),
                        },
                    );
                    return Ok(());
                }
                // Another replica registered it first: update that one.
                Err(crate::store::StoreError::Conflict(_)) => self
                    .store
                    .get_client(&client_id)
                    .await?
                    .ok_or_else(|| Internal(IssuerError::Config("client vanished".into())))?,
                Err(error) => return Err(error.into()),
            },
        };
        let mut client = old.clone();
        let mut fields = Vec::new();
        if client.name != proposed.name {
            client.name = proposed.name;
            fields.push("name");
        }
        if client.redirect_uris != proposed.redirect_uris {
            client.redirect_uris = proposed.redirect_uris;
            fields.push("redirect_uris");
        }
        if client.scopes != proposed.scopes {
            client.scopes = proposed.scopes;
            fields.push("scopes");
        }
        if client.audiences != proposed.audiences {
            client.audiences = proposed.audiences;
            fields.push("audiences");
        }
        if client.kind != ClientKind::User || !client.token_endpoint_auth_method.is_public() {
            client.kind = ClientKind::User;
            client.token_endpoint_auth_method = proposed.token_endpoint_auth_method;
            fields.push("token_endpoint_auth_method");
        }
        if fields.is_empty() {
            return Ok(());
        }
        client.metadata = proposed.metadata;
        client.updated_at = now;
        let revocation =
            registration::narrows(&old, &client).then(|| self.client_revocation(&client_id, now));
        if !self
            .store
            .update_client(&client, revocation.as_ref())
            .await?
        {
            // Deleted meanwhile: the next use registers it again.
            return Ok(());
        }
        self.cache.invalidate(&client_id);
        let revoked_at = revocation.as_ref().map(|r| r.revoked_at);
        if let Some(revocation) = revocation {
            self.revoke_exchanged_from_client(&revocation, now).await?;
            self.revocations.apply(&Revocation::Client(revocation));
        }
        self.audit.record(
            now,
            AuditEvent::MetadataDocumentUpdated {
                client_id,
                fields,
                revoked_at,
            },
        );
        Ok(())
    }

    /// Deletes a client: it gets no new token and its live tokens are revoked.
    pub(crate) async fn delete_client(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        now: u64,
    ) -> Result<(), RegistryError> {
        let revocation = self.client_revocation(client_id, now);
        if !self.store.delete_client(client_id, &revocation).await? {
            return Err(RegistryError::NotFound(Missing::Client));
        }
        self.cache.invalidate(client_id);
        let revoked_at = revocation.revoked_at;
        self.revoke_exchanged_from_client(&revocation, now).await?;
        self.revocations.apply(&Revocation::Client(revocation));
        self.audit.record(
            now,
            AuditEvent::ClientDeleted {
                client_id: client_id.clone(),
                actor: actor.clone(),
                revoked_at,
            },
        );
        Ok(())
    }

    /// Adds a secret (shown this once), expiring at `expires_at` if given.
    pub(crate) async fn add_secret(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<(SecretRecord, ClientSecret), RegistryError> {
        if expires_at.is_some_and(|at| at <= now) {
            return Err(RegistryError::invalid("expires_at must be in the future"));
        }
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::Client))?;
        if client.token_endpoint_auth_method.is_public() {
            return Err(RegistryError::invalid(PUBLIC_HAS_NO_SECRETS));
        }
        if client.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt {
            return Err(RegistryError::invalid(KEY_CLIENT_HAS_NO_SECRETS));
        }
        let (secret, record) = registration::new_secret(&self.hasher, client_id, now, expires_at)?;
        match self
            .store
            .add_secret(&record, MAX_LIVE_SECRETS, now)
            .await?
        {
            AddSecret::Added => {}
            AddSecret::LimitReached => {
                return Err(RegistryError::SecretLimit {
                    max: MAX_LIVE_SECRETS,
                });
            }
            AddSecret::NoSuchClient => return Err(RegistryError::NotFound(Missing::Client)),
        }
        self.cache.invalidate(client_id);
        self.audit.record(
            now,
            AuditEvent::SecretCreated {
                client_id: client_id.clone(),
                actor: actor.clone(),
                secret_id: record.secret_id.clone(),
            },
        );
        Ok((record, secret))
    }

    /// Removes a secret: it stops authenticating at once on this node, and
    /// within the cache window on other replicas.
    pub(crate) async fn remove_secret(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        secret_id: &str,
        now: u64,
    ) -> Result<(), RegistryError> {
        if !self.store.delete_secret(client_id, secret_id).await? {
            return Err(RegistryError::NotFound(Missing::Secret));
        }
        self.cache.invalidate(client_id);
        self.audit.record(
            now,
            AuditEvent::SecretDeleted {
                client_id: client_id.clone(),
                actor: actor.clone(),
                secret_id: secret_id.to_owned(),
            },
        );
        Ok(())
    }

    /// Adds a public key (a JWK, checked by [`registration::check_jwk`]) to
    /// a `private_key_jwt` client with inline `jwks`, up to
    /// [`registration::MAX_CLIENT_KEYS`]; returns it as stored (with its kid).
    /// Drops the cached lookup and audits. Two concurrent changes of one
    /// client's keys are last-writer-wins, as any two client updates are.
    pub(crate) async fn add_client_key(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        jwk: &serde_json::Value,
        now: u64,
    ) -> Result<PublicJwk, RegistryError> {
        let jwk = registration::check_jwk(jwk)?;
        let mut client = self.key_client(client_id).await?;
        let Some(ClientKeys::Jwks(set)) = &mut client.client_keys else {
            return Err(RegistryError::invalid(JWKS_URI_KEYS));
        };
        if set.keys.iter().any(|k| k.kid == jwk.kid) {
            return Err(RegistryError::invalid(
                "the client already has a key with this kid",
            ));
        }
        if set.keys.len() >= registration::MAX_CLIENT_KEYS {
            return Err(RegistryError::KeyLimit {
                max: registration::MAX_CLIENT_KEYS,
            });
        }
        set.keys.push(jwk.clone());
        self.save_keys(actor, client, now).await?;
        Ok(jwk)
    }

    /// Removes the key `kid` of a `private_key_jwt` client with inline
    /// `jwks`; its last key stays (add the new key first). Assertions signed
    /// by the removed key are refused from now on, on this node at once and
    /// on others within the client cache window.
    pub(crate) async fn remove_client_key(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        kid: &str,
        now: u64,
    ) -> Result<(), RegistryError> {
        let mut client = self.key_client(client_id).await?;
        let Some(ClientKeys::Jwks(set)) = &mut client.client_keys else {
            return Err(RegistryError::invalid(JWKS_URI_KEYS));
        };
        let before = set.keys.len();
        set.keys.retain(|k| k.kid.as_deref() != Some(kid));
        if set.keys.len() == before {
            return Err(RegistryError::NotFound(Missing::Key));
        }
        if set.keys.is_empty() {
            return Err(RegistryError::invalid(
                "this is the client's last key: add its new key first, then remove this one",
            ));
        }
        self.save_keys(actor, client, now).await
    }

    /// A client that authenticates with `private_key_jwt`.
    async fn key_client(&self, client_id: &ClientId) -> Result<ClientRecord, RegistryError> {
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::Client))?;
        if client.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
            return Err(RegistryError::invalid(
                "only a private_key_jwt client has keys",
            ));
        }
        Ok(client)
    }

    async fn save_keys(
        &self,
        actor: &ClientId,
        mut client: ClientRecord,
        now: u64,
    ) -> Result<(), RegistryError> {
        client.updated_at = now;
        if !self.store.update_client(&client, None).await? {
            return Err(RegistryError::NotFound(Missing::Client));
        }
        self.cache.invalidate(&client.client_id);
        self.audit.record(
            now,
            AuditEvent::ClientUpdated {
                client_id: client.client_id.clone(),
                actor: actor.clone(),
                fields: vec!["jwks"],
                revoked_at: None,
            },
        );
        Ok(())
    }

    /// Adds a federated credential (a trust entry for an external issuer)
    /// after [`federation::check_new`]; its audience defaults to this
    /// issuer's identifier.
    pub(crate) async fn add_federated_credential(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        new: NewFederatedCredential,
        now: u64,
    ) -> Result<FederatedCredentialRecord, RegistryError> {
        let entry = federation::check_new(new, &self.issuer_url)?;
        let client = self
            .store
            .get_client(client_id)
            .await?
            .ok_or(RegistryError::NotFound(Missing::Client))?;
        if client.token_endpoint_auth_method.is_public() {
            return Err(RegistryError::invalid(
                "a public client (token_endpoint_auth_method none) cannot have federated \
                 credentials",
            ));
        }
        let record = FederatedCredentialRecord {
            id: m2m_core::random_id("fc_")?,
            client_id: client_id.clone(),
            issuer: entry.issuer,
            subject: entry.subject,
            audience: entry.audience,
            claims: entry.claims,
            jwks: entry.jwks,
            created_at: now,
        };
        match self
            .store
            .add_federated_credential(&record, federation::MAX_PER_CLIENT)
            .await?
        {
            AddFederatedCredential::Added => {}
            AddFederatedCredential::LimitReached => {
                return Err(RegistryError::FederatedCredentialLimit {
                    max: federation::MAX_PER_CLIENT,
                });
            }
            AddFederatedCredential::NoSuchClient => {
                return Err(RegistryError::NotFound(Missing::Client));
            }
        }
        self.cache.invalidate(client_id);
        self.audit.record(
            now,
            AuditEvent::FederatedCredentialCreated {
                client_id: client_id.clone(),
                actor: actor.clone(),
                id: record.id.clone(),
                issuer: record.issuer.clone(),
                subject: record.subject.clone(),
            },
        );
        Ok(record)
    }

    /// A client's federated credentials, oldest first.
    pub(crate) async fn federated_credentials(
        &self,
        client_id: &ClientId,
    ) -> Result<Vec<FederatedCredentialRecord>, RegistryError> {
        if self.store.get_client(client_id).await?.is_none() {
            return Err(RegistryError::NotFound(Missing::Client));
        }
        Ok(self.store.list_federated_credentials(client_id).await?)
    }

    /// Removes a federated credential: tokens of its issuer stop
    /// authenticating the client through it at once.
    pub(crate) async fn remove_federated_credential(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        id: &str,
        now: u64,
    ) -> Result<(), RegistryError> {
        if !self
            .store
            .delete_federated_credential(client_id, id)
            .await?
        {
            return Err(RegistryError::NotFound(Missing::FederatedCredential));
        }
        self.cache.invalidate(client_id);
        self.audit.record(
            now,
            AuditEvent::FederatedCredentialDeleted {
                client_id: client_id.clone(),
                actor: actor.clone(),
                id: id.to_owned(),
            },
        );
        Ok(())
    }

    /// A user-level client's grants (revoked ones too), optionally of one user.
    pub(crate) async fn grants(
        &self,
        client_id: &ClientId,
        user_id: Option<&UserId>,
    ) -> Result<Vec<GrantRecord>, RegistryError> {
        if self.store.get_client(client_id).await?.is_none() {
            return Err(RegistryError::NotFound(Missing::Client));
        }
        Ok(self.store.list_grants(client_id, user_id).await?)
    }

    /// Revokes a grant: its refresh tokens stop working and its access
    /// tokens that a verifier could still accept (`exp + leeway >= now`)
    /// are revoked, in the store, in process and in the feed. Returns
    /// whether the client had such a grant (or one was created revoked).
    pub(crate) async fn revoke_grant(
        &self,
        grant: GrantToRevoke<'_>,
        now: u64,
    ) -> Result<bool, Internal> {
        let revocation = GrantRevocation {
            client_id: grant.client_id,
            grant_id: grant.grant_id,
            at: now,
            live_after: now.saturating_sub(self.leeway),
            create_revoked: grant.create_revoked,
        };
        let Some(tokens) = self.store.revoke_grant(&revocation).await? else {
            return Ok(false);
        };
        let jtis: Vec<String> = tokens.iter().map(|t| t.jti.clone()).collect();
        for token in tokens {
            self.revocations.apply(&Revocation::Token(token));
        }
        self.revoke_exchanged(ExchangedFrom::Tokens(&jtis), now)
            .await?;
        self.audit.record(
            now,
            AuditEvent::GrantRevoked {
                client_id: grant.client_id.clone(),
                actor: grant.actor.cloned(),
                grant_id: grant.grant_id.to_owned(),
                reason: grant.reason,
            },
        );
        Ok(true)
    }

    /// `DELETE /admin/clients/{id}/grants/{grant_id}`: an admin revokes a grant.
    pub(crate) async fn revoke_grant_as_admin(
        &self,
        actor: &ClientId,
        client_id: &ClientId,
        grant_id: &str,
        now: u64,
    ) -> Result<(), RegistryError> {
        let grant = GrantToRevoke {
            client_id,
            grant_id,
            reason: GrantRevokeReason::Admin,
            actor: Some(actor),
            create_revoked: None,
        };
        if self.revoke_grant(grant, now).await? {
            Ok(())
        } else {
            Err(RegistryError::NotFound(Missing::Grant))
        }
    }

    /// Revokes one access token (RFC 7009) of its own client.
    pub(crate) async fn revoke_token(
        &self,
        claims: &AccessTokenClaims,
        now: u64,
    ) -> Result<(), Internal> {
        let token = RevokedToken {
            jti: claims.jti.clone(),
            exp: claims.exp,
        };
        let revoked = self
            .store
            .revoke_token(&token, &claims.client_id, now)
            .await?;
        // Even if it was revoked before: the walk is idempotent.
        self.revoke_exchanged(ExchangedFrom::Tokens(std::slice::from_ref(&token.jti)), now)
            .await?;
        if revoked {
            self.revocations.apply(&Revocation::Token(token));
            self.audit.record(
                now,
                AuditEvent::TokenRevoked {
                    client_id: claims.client_id.clone(),
                    jti: claims.jti.clone(),
                },
            );
        }
        Ok(())
    }

    /// Revokes every token exchanged from `from`, transitively, that a
    /// verifier could still accept: in the store (and so the feed and other
    /// replicas) and in process.
    async fn revoke_exchanged(&self, from: ExchangedFrom<'_>, now: u64) -> Result<(), Internal> {
        let live_after = now.saturating_sub(self.leeway);
        let tokens = self.store.revoke_exchanged(from, live_after, now).await?;
        self.audit.exchanged_revoked(&tokens, now);
        for token in tokens {
            self.revocations.apply(&Revocation::Token(token));
        }
        Ok(())
    }

    /// Revokes the tokens exchanged from the tokens a client revocation
    /// covers, transitively: revoking a subject's client, or an
    /// intermediate actor, revokes what was exchanged from their tokens.
    async fn revoke_exchanged_from_client(
        &self,
        revocation: &RevokedClient,
        now: u64,
    ) -> Result<(), Internal> {
        let from = ExchangedFrom::Client {
            client_id: &revocation.client_id,
            issued_before: revocation.revoked_at,
        };
        self.revoke_exchanged(from, now).await
    }

    /// Audit events, newest first, after flushing this node's queue.
    pub(crate) async fn audit_events(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Page<AuditRecord, u64>, RegistryError> {
        self.audit.flush().await;
        Ok(self.store.list_audit(filter, before, limit).await?)
    }
}

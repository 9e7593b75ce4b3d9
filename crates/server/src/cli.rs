//! The command line: `m2m serve` and the admin commands (contract section 8).
//!
//! Only some flags also read an environment variable `M2M_<FLAG>`: every flag
//! of `serve` (where a flag or variable beats the `--config` file, which beats
//! the default), the global `--endpoint` and `--admin-file`, and `token`'s
//! `--client-id` and `--client-secret`. No other flag reads the environment:
//! a variable exported for one command (`M2M_SCOPE` for `token`, or
//! `M2M_AUDIENCE` for a guarded API) must never change what another does,
//! such as replace a client's scopes in `client update`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// m2m-auth: machine-to-machine OAuth 2.0 server and admin CLI.
#[derive(Debug, Parser)]
#[command(name = "m2m", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Where the server listens, for the admin commands.
    #[arg(
        long,
        global = true,
        env = "M2M_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) endpoint: String,

    /// JSON file with the admin client's credentials {"client_id","client_secret"}.
    #[arg(
        long,
        global = true,
        env = "M2M_ADMIN_FILE",
        default_value = "./m2m-admin.json"
    )]
    pub(crate) admin_file: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage machine clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage a client's secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// List and revoke users' grants to user-level clients.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Manage an organization's settings (its quota override).
    #[command(subcommand)]
    Org(OrgCommand),
    /// List audit events and token aggregates, newest first.
    Audit(AuditArgs),
    /// Get an access token with client credentials and print it.
    Token(TokenArgs),
    /// Verify an access token against a JWKS; print its claims as JSON.
    ///
    /// Prefer `m2m verify -` with the token on standard input: a token on
    /// the command line is visible to other users in `ps` and kept in shell
    /// history.
    Verify(VerifyArgs),
}

/// `m2m serve`.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 takes a free port (see --ready-file) [default: 127.0.0.1:8080].
    #[arg(long, env = "M2M_LISTEN")]
    pub(crate) listen: Option<String>,
    /// Once the server accepts requests, write the URL it listens on
    /// (`http://127.0.0.1:PORT`, one line) to this file; removed on shutdown.
    #[arg(long, env = "M2M_READY_FILE")]
    pub(crate) ready_file: Option<PathBuf>,
    /// The issuer URL, as it appears in tokens and metadata [default: http://<listen>, with the bound port].
    #[arg(long, env = "M2M_ISSUER")]
    pub(crate) issuer: Option<String>,
    /// Database URL: sqlite://m2m.db?mode=rwc or postgres://... [default: sqlite://m2m.db?mode=rwc].
    #[arg(long, env = "M2M_DATABASE")]
    pub(crate) database: Option<String>,
    /// Where to write the bootstrap admin credentials on first start [default: ./m2m-admin.json].
    #[arg(long, env = "M2M_BOOTSTRAP_ADMIN_FILE")]
    pub(crate) bootstrap_admin_file: Option<PathBuf>,
    /// A TOML file with any of these settings (keys as the flags, with underscores).
    #[arg(long, env = "M2M_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "M2M_LOG_FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
    /// Signing algorithm for new keys [default: es256].
    #[arg(long, env = "M2M_ALGORITHM")]
    pub(crate) algorithm: Option<SigningAlgorithm>,
    /// JWKS Cache-Control max-age in seconds [default: 300].
    #[arg(long, env = "M2M_JWKS_MAX_AGE")]
    pub(crate) jwks_max_age: Option<u64>,
    /// Seconds a new key is published before it signs; at least the JWKS max-age [default: 3600].
    #[arg(long, env = "M2M_KEY_PREPUBLISH")]
    pub(crate) key_prepublish: Option<u64>,
    /// Seconds between reloads of the key ring from the database (picks up
    /// other replicas' rotations) and checks for a due rotation [default: 60].
    #[arg(long, env = "M2M_KEY_REFRESH_INTERVAL")]
    pub(crate) key_refresh_interval: Option<u64>,
    /// DEVELOPMENT ONLY: turn on user-level clients with a consent step that
    /// grants every authorization request, as the user named by `login_hint`
    /// (default `dev-user`; a client bound to a user: that user only), with no
    /// login. Never on a server real users reach.
    #[arg(long, env = "M2M_DEV_CONSENT")]
    pub(crate) dev_consent: bool,
    /// A scope to list as `scopes_supported` in the RFC 8414 metadata (for
    /// clients that discover what to ask for, as MCP clients do); repeat, or
    /// separate with spaces. Listing grants nothing [default: none, not listed].
    #[arg(
        long = "scopes-supported",
        env = "M2M_SCOPES_SUPPORTED",
        value_delimiter = ' ',
        value_name = "SCOPE"
    )]
    pub(crate) scopes_supported: Vec<String>,
    /// Turn on Dynamic Client Registration (RFC 7591) at `POST
    /// /oauth/register`, for MCP clients that register themselves. Registered
    /// clients are user-level, so this needs --dev-consent (a host with its
    /// own consent handler embeds m2m-issuer) and --registration-org [default: off].
    #[arg(long, env = "M2M_REGISTRATION")]
    pub(crate) registration: bool,
    /// The organization every dynamically registered client belongs to; a
    /// consent must name it (required with --registration).
    #[arg(long, env = "M2M_REGISTRATION_ORG", value_name = "ORG")]
    pub(crate) registration_org: Option<String>,
    /// A scope a registered client may get; repeat, or separate with spaces.
    /// A registration asking for any other is refused [default: the
    /// --scopes-supported list].
    #[arg(
        long = "registration-scope",
        env = "M2M_REGISTRATION_SCOPE",
        value_delimiter = ' ',
        value_name = "SCOPE"
    )]
    pub(crate) registration_scope: Vec<String>,
    /// An audience every registered client gets tokens for (an MCP server's
    /// resource URI); repeat, or separate with commas [default: the issuer URL].
    #[arg(
        long = "registration-audience",
        env = "M2M_REGISTRATION_AUDIENCE",
        value_delimiter = ',',
        value_name = "URI"
    )]
    pub(crate) registration_audience: Vec<String>,
    /// Register public clients only (`token_endpoint_auth_method: none`, PKCE)
    /// [default: public and confidential].
    #[arg(long, env = "M2M_REGISTRATION_PUBLIC_ONLY")]
    pub(crate) registration_public_only: bool,
    /// A file holding the initial access token (RFC 7591 §3) that every
    /// registration must send as `Authorization: Bearer`; 16 to 1,024
    /// printable characters, surrounding whitespace ignored [default: none,
    /// registration is open].
    #[arg(long, env = "M2M_REGISTRATION_TOKEN_FILE", value_name = "PATH")]
    pub(crate) registration_token_file: Option<PathBuf>,
    /// Registration requests per source address (IPv6: per /64) and minute;
    /// more get 429 [default: 10].
    #[arg(long, env = "M2M_REGISTRATION_RATE", value_name = "PER_MINUTE")]
    pub(crate) registration_rate: Option<u32>,
    /// Turn on Client ID Metadata Documents: a `client_id` that is an https
    /// URL is fetched SSRF-safely and registered as a public user-level
    /// client on first use at /oauth/authorize. Needs --dev-consent (a host
    /// with its own consent handler embeds m2m-issuer) [default: off].
    #[arg(long, env = "M2M_CLIENT_METADATA_DOCUMENTS")]
    pub(crate) client_metadata_documents: bool,
    /// A host a metadata-document `client_id` may name: exact, or
    /// `*.example.com`; repeat, or separate with commas [default: any public host].
    #[arg(
        long = "client-metadata-host",
        env = "M2M_CLIENT_METADATA_HOST",
        value_delimiter = ',',
        value_name = "PATTERN"
    )]
    pub(crate) client_metadata_host: Vec<String>,
    /// A scope metadata-document clients may get; repeat, or separate with
    /// spaces [default: the --scopes-supported list; none without it].
    #[arg(
        long = "client-metadata-scope",
        env = "M2M_CLIENT_METADATA_SCOPE",
        value_delimiter = ' ',
        value_name = "SCOPE"
    )]
    pub(crate) client_metadata_scope: Vec<String>,
    /// An audience (resource URI) metadata-document clients may get tokens
    /// for; repeat, or separate with commas [default: none: such clients get
    /// no token until one is set].
    #[arg(
        long = "client-metadata-audience",
        env = "M2M_CLIENT_METADATA_AUDIENCE",
        value_delimiter = ',',
        value_name = "URI"
    )]
    pub(crate) client_metadata_audience: Vec<String>,
    /// A network the document fetcher may reach although it is loopback,
    /// private or link-local (tests, private deployments); repeat, or
    /// separate with commas [default: none].
    #[arg(
        long = "client-metadata-allow-network",
        env = "M2M_CLIENT_METADATA_ALLOW_NETWORK",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub(crate) client_metadata_allow_network: Vec<m2m_issuer::Cidr>,
    /// A PEM file of root certificates the document fetcher trusts besides
    /// the system's [default: the system's only].
    #[arg(long, env = "M2M_CLIENT_METADATA_CA_FILE", value_name = "PEM")]
    pub(crate) client_metadata_ca_file: Option<PathBuf>,
    /// A network the workload identity federation fetcher (external
    /// issuers' OIDC discovery and JWKS) may reach although it is loopback,
    /// private or reserved; repeatable [default: public addresses only].
    #[arg(
        long = "federation-allow-network",
        env = "M2M_FEDERATION_ALLOW_NETWORK",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub(crate) federation_allow_network: Vec<m2m_issuer::Cidr>,
    /// A PEM file of root certificates the federation fetcher trusts besides
    /// the system's [default: the system's only].
    #[arg(long, env = "M2M_FEDERATION_CA_FILE", value_name = "PEM")]
    pub(crate) federation_ca_file: Option<PathBuf>,
    /// How far ahead a federated (external) token's `exp` may lie, in
    /// seconds [default: 3600].
    #[arg(long, env = "M2M_FEDERATION_MAX_TOKEN_LIFETIME", value_name = "SECS")]
    pub(crate) federation_max_token_lifetime: Option<u64>,
    /// How token issuance is audited: `aggregate` (one record per client and
    /// minute), `per_token` (one event per token) or `off`; failures and
    /// admin changes are always one event each [default: aggregate].
    #[arg(long, env = "M2M_TOKEN_AUDIT", value_name = "MODE")]
    pub(crate) token_audit: Option<String>,
    /// Days audit events are kept; older ones are deleted in the background
    /// in small batches; 0 keeps them forever [default: 90].
    #[arg(long, env = "M2M_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub(crate) audit_retention_days: Option<u64>,
    /// A reverse proxy (address or CIDR network, e.g. 10.0.0.0/8), repeatable;
    /// `M2M_TRUSTED_PROXY` takes a comma-separated list. Requests from it are
    /// throttled by the client address it forwards (`Forwarded` /
    /// `X-Forwarded-For`, read right to left past trusted hops) [default: none:
    /// the TCP peer].
    #[arg(
        long = "trusted-proxy",
        env = "M2M_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pub(crate) trusted_proxy: Vec<m2m_issuer::Cidr>,
    /// Seconds a client has to send a whole request head, counted from when
    /// the server starts waiting for it (on a kept-alive connection, from the
    /// previous response); then the connection is closed [default: 10].
    #[arg(long, env = "M2M_HEADER_READ_TIMEOUT", value_name = "SECS")]
    pub(crate) header_read_timeout: Option<u64>,
    /// Seconds a connection may read and write nothing before it is closed [default: 60].
    #[arg(long, env = "M2M_IDLE_TIMEOUT", value_name = "SECS")]
    pub(crate) idle_timeout: Option<u64>,
    /// Connections served at once; more wait in the listen backlog until one
    /// closes [default: 4096].
    #[arg(long, env = "M2M_MAX_CONNECTIONS", value_name = "N")]
    pub(crate) max_connections: Option<usize>,
    /// Largest request head (request line and headers) in bytes; a larger one
    /// gets 431 and the connection is closed [default: 16384].
    #[arg(long, env = "M2M_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub(crate) max_header_bytes: Option<usize>,
    /// Require DPoP server nonces (RFC 9449 §8) at the token endpoint: a
    /// proof without a current nonce gets 400 `use_dpop_nonce` and a fresh
    /// nonce in the `DPoP-Nonce` header, which every token response carries.
    /// Nonces are derived from the master key, so replicas sharing it accept
    /// each other's; each is valid for 5 to 10 minutes [default: off].
    #[arg(long, env = "M2M_DPOP_NONCE")]
    pub(crate) dpop_nonce: bool,
    /// Tokens each client may get per clock minute, counted across replicas
    /// in the database [default: no limit].
    #[arg(long, env = "M2M_QUOTA_PER_MINUTE", value_name = "N")]
    pub(crate) quota_per_minute: Option<u64>,
    /// Tokens each client may get per clock hour [default: no limit].
    #[arg(long, env = "M2M_QUOTA_PER_HOUR", value_name = "N")]
    pub(crate) quota_per_hour: Option<u64>,
    /// Tokens each client may get per UTC day [default: no limit].
    #[arg(long, env = "M2M_QUOTA_PER_DAY", value_name = "N")]
    pub(crate) quota_per_day: Option<u64>,
    /// Tokens the clients of each organization (`oid`) may get together per
    /// clock minute [default: no limit].
    #[arg(long, env = "M2M_ORG_QUOTA_PER_MINUTE", value_name = "N")]
    pub(crate) org_quota_per_minute: Option<u64>,
    /// Tokens per organization per clock hour [default: no limit].
    #[arg(long, env = "M2M_ORG_QUOTA_PER_HOUR", value_name = "N")]
    pub(crate) org_quota_per_hour: Option<u64>,
    /// Tokens per organization per UTC day [default: no limit].
    #[arg(long, env = "M2M_ORG_QUOTA_PER_DAY", value_name = "N")]
    pub(crate) org_quota_per_day: Option<u64>,
    /// What an exceeded quota does: `enforce` (429 `slow_down` with
    /// `Retry-After`) or `log_only` (issue, audit, count) [default: enforce].
    #[arg(long, env = "M2M_QUOTA_MODE", value_name = "MODE")]
    pub(crate) quota_mode: Option<String>,
    /// Tokens a replica takes from a shared quota counter at once (or 1% of
    /// the limit when that is more): with R replicas a window issues between
    /// limit - R x lease and limit tokens [default: 10].
    #[arg(long, env = "M2M_QUOTA_LEASE", value_name = "N")]
    pub(crate) quota_lease: Option<u64>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Signing algorithm names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SigningAlgorithm {
    /// ECDSA P-256 (the default).
    Es256,
    /// Ed25519.
    Eddsa,
    /// RSA 3072, PKCS#1 v1.5.
    Rs256,
}

impl From<SigningAlgorithm> for m2m_core::Algorithm {
    fn from(alg: SigningAlgorithm) -> Self {
        match alg {
            SigningAlgorithm::Es256 => m2m_core::Algorithm::ES256,
            SigningAlgorithm::Eddsa => m2m_core::Algorithm::EdDSA,
            SigningAlgorithm::Rs256 => m2m_core::Algorithm::RS256,
        }
    }
}

/// `m2m client ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client; prints its secret once.
    Create(Box<ClientCreateArgs>),
    /// List clients.
    List(ClientListArgs),
    /// Show one client and its secrets' ids and dates.
    Show(ClientIdArgs),
    /// Change a client.
    Update(Box<ClientUpdateArgs>),
    /// Delete a client: it gets no new token and its live tokens are revoked.
    Delete(ClientIdArgs),
    /// Manage a client's federated credentials (workload identity
    /// federation: tokens of an external issuer that authenticate it).
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Manage a `private_key_jwt` client's public keys (rotation: add the
    /// new key, move the client to it, remove the old one).
    #[command(subcommand)]
    Key(ClientKeyCommand),
}

/// `m2m client key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientKeyCommand {
    /// Add a public key (a JWK file; at most 10 keys).
    Add(ClientKeyAddArgs),
    /// List a client's public keys.
    List(ClientKeyListArgs),
    /// Remove one key by its kid (the last key stays).
    Remove(ClientKeyRemoveArgs),
}

/// `m2m client key add`.
#[derive(Debug, Args)]
pub(crate) struct ClientKeyAddArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// A file with one public JWK (no private members); its `kid` defaults
    /// to its RFC 7638 thumbprint.
    #[arg(long, value_name = "FILE")]
    pub(crate) jwk_file: std::path::PathBuf,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m client key list`.
#[derive(Debug, Args)]
pub(crate) struct ClientKeyListArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m client key remove`.
#[derive(Debug, Args)]
pub(crate) struct ClientKeyRemoveArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// The key's kid.
    pub(crate) kid: String,
}

/// `m2m client federation ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum FederationCommand {
    /// Trust tokens of an external issuer for a client (at most 20 entries).
    Add(FederationAddArgs),
    /// List a client's federated credentials.
    List(FederationListArgs),
    /// Remove one federated credential.
    Remove(FederationRemoveArgs),
}

/// `m2m client federation add`.
#[derive(Debug, Args)]
pub(crate) struct FederationAddArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// The external issuer, exactly as its tokens' `iss`.
    #[arg(long)]
    pub(crate) issuer: String,
    /// The tokens' `sub`: exact, or a pattern where `*` matches any run of
    /// characters (e.g. `repo:acme/app:ref:refs/heads/*`).
    #[arg(long)]
    pub(crate) subject: String,
    /// The audience the tokens must carry (default: this issuer's identifier).
    #[arg(long)]
    pub(crate) audience: Option<String>,
    /// A claim condition NAME=VALUE (repeatable); NAME is a claim or, when
    /// it starts with `/`, a JSON Pointer (e.g. `/kubernetes.io/namespace=ci`).
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub(crate) claims: Vec<String>,
    /// A file with the issuer's JWK Set, for an issuer whose discovery is
    /// not reachable (e.g. a Kubernetes cluster's `/openid/v1/jwks`).
    #[arg(long, value_name = "FILE")]
    pub(crate) jwks_file: Option<std::path::PathBuf>,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m client federation list`.
#[derive(Debug, Args)]
pub(crate) struct FederationListArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m client federation remove`.
#[derive(Debug, Args)]
pub(crate) struct FederationRemoveArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// The federated credential's id.
    pub(crate) id: String,
}

/// `m2m client create`.
#[derive(Debug, Args)]
pub(crate) struct ClientCreateArgs {
    /// A name for people.
    #[arg(long)]
    pub(crate) name: String,
    /// org, user or service.
    #[arg(long)]
    pub(crate) kind: String,
    /// Organization id (org and user clients).
    #[arg(long)]
    pub(crate) org_id: Option<String>,
    /// User id (user clients).
    #[arg(long)]
    pub(crate) user_id: Option<String>,
    /// Allowed scope; repeat, or separate with spaces.
    #[arg(long = "scope", value_delimiter = ' ')]
    pub(crate) scopes: Vec<String>,
    /// Allowed audience; repeat (service clients need one).
    #[arg(long = "audience", value_delimiter = ' ')]
    pub(crate) audiences: Vec<String>,
    /// Token lifetime in seconds (300 to 86400).
    #[arg(long)]
    pub(crate) ttl: Option<u64>,
    /// Redirect URI (user clients); repeat.
    #[arg(long = "redirect-uri", value_delimiter = ' ')]
    pub(crate) redirect_uris: Vec<String>,
    /// client_secret_basic (the default), client_secret_post, none (a
    /// public user client, which gets no secret and must use PKCE), or
    /// private_key_jwt (no secret: give --jwks-file or --jwks-uri).
    #[arg(long, value_name = "METHOD")]
    pub(crate) token_endpoint_auth_method: Option<String>,
    /// A file with the client's public keys as a JWK Set (private_key_jwt).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    pub(crate) jwks_file: Option<std::path::PathBuf>,
    /// An https URL where the client publishes its public keys (private_key_jwt).
    #[arg(long, value_name = "URL")]
    pub(crate) jwks_uri: Option<String>,
    /// Require a DPoP proof (RFC 9449) on every token request of the client,
    /// so all its access tokens are bound to a key (`dpop_bound_access_tokens`).
    #[arg(long)]
    pub(crate) dpop_bound: bool,
    /// Token exchange (RFC 8693): let the client act for this subject, a
    /// client id or `org:ORG`; repeat. Sets its `token_exchange` policy.
    #[arg(long = "exchange-subject", value_name = "ID|org:ORG")]
    pub(crate) exchange_subjects: Vec<String>,
    /// An audience the client's exchanged tokens may have (default: its
    /// own audiences); repeat. Needs --exchange-subject.
    #[arg(
        long = "exchange-audience",
        value_name = "URI",
        requires = "exchange_subjects"
    )]
    pub(crate) exchange_audiences: Vec<String>,
    /// The deepest delegation chain its exchanged tokens may carry, its own
    /// delegation included (1 to 8; default 1). Needs --exchange-subject.
    #[arg(
        long = "exchange-max-depth",
        value_name = "N",
        requires = "exchange_subjects"
    )]
    pub(crate) exchange_max_depth: Option<u8>,
    #[command(flatten)]
    pub(crate) quota: ClientQuotaArgs,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A client's own token quota (its `quota` field): each window given
/// replaces the server's default for that window; the others keep it.
#[derive(Debug, Args)]
pub(crate) struct ClientQuotaArgs {
    /// The client's tokens per minute (1 to 1000000000).
    #[arg(long, value_name = "N")]
    pub(crate) quota_per_minute: Option<u64>,
    /// The client's tokens per hour (1 to 1000000000).
    #[arg(long, value_name = "N")]
    pub(crate) quota_per_hour: Option<u64>,
    /// The client's tokens per UTC day (1 to 1000000000).
    #[arg(long, value_name = "N")]
    pub(crate) quota_per_day: Option<u64>,
    /// What the client's exceeded quota does: `enforce` or `log_only`
    /// (default: the server's --quota-mode).
    #[arg(long, value_name = "enforce|log_only")]
    pub(crate) quota_mode: Option<String>,
}

/// The paging and output flags of the list commands (`client list`, `audit`).
#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// At most this many per page.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// Start at this cursor (from a previous page).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only events about this client.
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// Only events of this kind (`auth.failed`, `tokens.issued`, ...).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only events at or after this RFC 3339 time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events before this RFC 3339 time.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Paging and output.
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// `m2m client list`.
#[derive(Debug, Args)]
pub(crate) struct ClientListArgs {
    /// Only this organization's clients.
    #[arg(long)]
    pub(crate) org_id: Option<String>,
    /// Only clients of this kind.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Paging and output.
    #[command(flatten)]
    pub(crate) page: PageArgs,
}

/// A command on one client.
#[derive(Debug, Args)]
pub(crate) struct ClientIdArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m client update`.
#[derive(Debug, Args)]
pub(crate) struct ClientUpdateArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Replace the allowed scopes; repeat.
    #[arg(long = "scope", value_delimiter = ' ')]
    pub(crate) scopes: Option<Vec<String>>,
    /// Replace the allowed audiences; repeat.
    #[arg(long = "audience", value_delimiter = ' ')]
    pub(crate) audiences: Option<Vec<String>>,
    /// New token lifetime in seconds.
    #[arg(long)]
    pub(crate) ttl: Option<u64>,
    /// client_secret_basic, client_secret_post, or none (a public user
    /// client; remove its secrets first).
    #[arg(long, value_name = "METHOD")]
    pub(crate) token_endpoint_auth_method: Option<String>,
    /// Require a DPoP proof on every token request of the client.
    #[arg(long, conflicts_with = "no_dpop_bound")]
    pub(crate) dpop_bound: bool,
    /// Stop requiring DPoP proofs (the client may get Bearer tokens again).
    #[arg(long)]
    pub(crate) no_dpop_bound: bool,
    /// Token exchange (RFC 8693): let the client act for this subject, a
    /// client id or `org:ORG`; repeat. Replaces its whole `token_exchange` policy.
    #[arg(long = "exchange-subject", value_name = "ID|org:ORG")]
    pub(crate) exchange_subjects: Vec<String>,
    /// An audience the client's exchanged tokens may have (default: its
    /// own audiences); repeat. Needs --exchange-subject.
    #[arg(
        long = "exchange-audience",
        value_name = "URI",
        requires = "exchange_subjects"
    )]
    pub(crate) exchange_audiences: Vec<String>,
    /// The deepest delegation chain its exchanged tokens may carry, its own
    /// delegation included (1 to 8; default 1). Needs --exchange-subject.
    #[arg(
        long = "exchange-max-depth",
        value_name = "N",
        requires = "exchange_subjects"
    )]
    pub(crate) exchange_max_depth: Option<u8>,
    /// Remove the client's token-exchange policy (its exchanged tokens are revoked).
    #[arg(long, conflicts_with = "exchange_subjects")]
    pub(crate) no_exchange: bool,
    /// The client's quota override; on update it replaces the whole
    /// override.
    #[command(flatten)]
    pub(crate) quota: ClientQuotaArgs,
    /// Remove the client's quota override: the server's defaults apply.
    #[arg(long, conflicts_with_all = ["quota_per_minute", "quota_per_hour", "quota_per_day", "quota_mode"])]
    pub(crate) no_quota: bool,
    /// Enable the client.
    #[arg(long, conflicts_with = "disable")]
    pub(crate) enable: bool,
    /// Disable the client (its live tokens are revoked).
    #[arg(long)]
    pub(crate) disable: bool,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m secret ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// Add a secret to a client (at most five live); prints it once.
    Add(SecretAddArgs),
    /// Remove one secret.
    Remove(SecretRemoveArgs),
}

/// `m2m secret add`.
#[derive(Debug, Args)]
pub(crate) struct SecretAddArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// When the secret stops working (RFC 3339).
    #[arg(long)]
    pub(crate) expires_at: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m secret remove`.
#[derive(Debug, Args)]
pub(crate) struct SecretRemoveArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// The secret id.
    pub(crate) secret_id: String,
}

/// `m2m key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Start a signing-key rotation.
    Rotate {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a signing key at once (it leaked): it stops signing and leaves
    /// the JWKS, a new key signs if it was the only signer, and every token
    /// it signed is refused.
    Revoke {
        /// The key's kid (see the JWKS, or a token's header). A kid is
        /// base64url and may begin with `-`: it is taken as written.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `m2m grant ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// List a user-level client's grants (revoked ones too).
    List(GrantListArgs),
    /// Revoke a grant: its refresh tokens stop working and its access tokens
    /// enter the revocation feed.
    Revoke(GrantRevokeArgs),
}

/// `m2m grant list`.
#[derive(Debug, Args)]
pub(crate) struct GrantListArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// Only this user's grants.
    #[arg(long)]
    pub(crate) user_id: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m grant revoke`.
#[derive(Debug, Args)]
pub(crate) struct GrantRevokeArgs {
    /// The client id.
    pub(crate) client_id: String,
    /// The grant id (from `m2m grant list`).
    pub(crate) grant_id: String,
}

/// `m2m token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The client id.
    #[arg(long, env = "M2M_CLIENT_ID")]
    pub(crate) client_id: String,
    /// The client secret (prefer the environment variable to the flag: flags show in `ps`).
    #[arg(long, env = "M2M_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: String,
    /// Scope to ask for; repeat. Default: all the client's scopes.
    #[arg(long = "scope", value_delimiter = ' ')]
    pub(crate) scopes: Vec<String>,
    /// Audience to ask for (RFC 8707 resource).
    #[arg(long)]
    pub(crate) audience: Option<String>,
    /// Print the whole token response as JSON instead of the bare token.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `m2m verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The access token, or `-` (preferred) to read it from standard input.
    pub(crate) token: String,
    /// JWKS URL [default: <endpoint>/.well-known/jwks.json].
    #[arg(long)]
    pub(crate) jwks: Option<String>,
    /// Expected audience [default: the issuer URL, the issuer's default audience].
    #[arg(long)]
    pub(crate) audience: Option<String>,
    /// Expected issuer [default: read from <endpoint>'s metadata].
    #[arg(long)]
    pub(crate) issuer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kid `m2m key revoke` was given, as clap parsed it.
    fn revoked_kid(args: &[&str]) -> Result<(String, bool), clap::Error> {
        let cli = Cli::try_parse_from(["m2m", "key", "revoke"].iter().chain(args))?;
        match cli.command {
            Command::Key(KeyCommand::Revoke { kid, json }) => Ok((kid, json)),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_kid_that_begins_with_a_hyphen_is_taken_as_written() {
        // One RFC 7638 thumbprint in 64 begins with '-'.
        let kid = "-O2Sixd-DD6QKWcT7m35UJcUGaEzEfICJFKTk8kZeuM";
        assert_eq!(revoked_kid(&[kid]).unwrap(), (kid.to_owned(), false));
        assert_eq!(
            revoked_kid(&[kid, "--json"]).unwrap(),
            (kid.to_owned(), true)
        );
        assert_eq!(
            revoked_kid(&["--json", kid]).unwrap(),
            (kid.to_owned(), true)
        );
        assert_eq!(revoked_kid(&["--", kid]).unwrap(), (kid.to_owned(), false));
    }
}

/// `m2m org ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// An organization's token quota override.
    #[command(subcommand)]
    Quota(OrgQuotaCommand),
}

/// `m2m org quota ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum OrgQuotaCommand {
    /// Set (replace) the organization's quota override: each window given
    /// replaces the server's default org quota for that window.
    Set(OrgQuotaSetArgs),
    /// Show the organization's quota override.
    Show(OrgIdArgs),
    /// Remove the organization's quota override: the default applies.
    Clear(OrgIdArgs),
}

/// `m2m org quota set`.
#[derive(Debug, Args)]
pub(crate) struct OrgQuotaSetArgs {
    /// The organization id.
    pub(crate) org_id: String,
    /// Tokens per minute for the organization's clients together.
    #[arg(long, value_name = "N")]
    pub(crate) per_minute: Option<u64>,
    /// Tokens per hour for the organization's clients together.
    #[arg(long, value_name = "N")]
    pub(crate) per_hour: Option<u64>,
    /// Tokens per UTC day for the organization's clients together.
    #[arg(long, value_name = "N")]
    pub(crate) per_day: Option<u64>,
    /// What the exceeded quota does: `enforce` or `log_only` (default: the
    /// server's --quota-mode).
    #[arg(long, value_name = "enforce|log_only")]
    pub(crate) mode: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// An organization id, and the output flag.
#[derive(Debug, Args)]
pub(crate) struct OrgIdArgs {
    /// The organization id.
    pub(crate) org_id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

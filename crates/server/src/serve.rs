//! `m2m serve`: open the store, start the issuer, bootstrap on an empty
//! database, serve HTTP until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use m2m_core::RotationPolicy;
use m2m_issuer::consent::DevConsent;
use m2m_issuer::{ClientMetadataPolicy, Issuer, RegistrationPolicy};
use m2m_store_sql::SqlStore;
use tokio::net::TcpListener;

use crate::cli::{LogFormat, ServeArgs};
use crate::config::{ClientMetadataConfig, RegistrationConfig, ServeConfig, sqlite_path};
use crate::masterkey::{self, Source};
use crate::metrics::{self, Metrics};

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(8);

/// Runs the server until a shutdown signal.
pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let config = ServeConfig::resolve(&args)?;
    init_logging(config.log_format);

    // A ready file left by an earlier run must not be taken for this one's.
    if let Some(path) = &config.ready_file {
        remove_ready_file(path)?;
    }
    // Bind first: a busy port is reported before anything is written.
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr().context("listener address")?;
    let issuer_url = config.issuer_url(local);

    let is_postgres =
        config.database.starts_with("postgres://") || config.database.starts_with("postgresql://");
    let sqlite_file = sqlite_path(&config.database);
    // Whatever of these this start creates, a failed start removes again
    // (such as a new database whose bootstrap finds an admin file in the way).
    let mut watched = vec![config.bootstrap_admin_file.clone()];
    if let Some(db) = &sqlite_file {
        watched.push(masterkey::key_file(db));
        watched.push(db.clone());
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut sidecar = db.as_os_str().to_owned();
            sidecar.push(suffix);
            watched.push(PathBuf::from(sidecar));
        }
    }
    let created = NewFiles::watch(watched);

    let Started { store, issuer, app } =
        match start(&config, &issuer_url, is_postgres, sqlite_file.as_deref()).await {
            Ok(started) => started,
            Err(e) => {
                created.remove();
                return Err(e);
            }
        };

    tracing::info!(listen = %local, issuer = %issuer_url, database = %redact(&config.database), "m2m serving");
    if !config.trusted_proxies.is_empty() {
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(trusted_proxies = %proxies.join(","), "failed authentication is throttled by the address these proxies forward");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = config.limits;
    let mut server = tokio::spawn(async move {
        crate::conn::run(listener, app, limits, stop_rx).await;
        Ok::<(), std::io::Error>(())
    });
    let _ready = match config
        .ready_file
        .as_deref()
        .map(|path| ReadyFile::write(path, local))
    {
        None => None,
        Some(Ok(ready)) => Some(ready),
        Some(Err(e)) => {
            server.abort();
            let _ = server.await;
            issuer.flush_audit().await;
            store.close().await;
            created.remove();
            return Err(e);
        }
    };

    tokio::select! {
        result = &mut server => {
            result.context("server task")?.context("server failed")?;
        }
        () = shutdown_signal() => {
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(DRAIN, &mut server).await {
                Ok(result) => result.context("server task")?.context("server failed")?,
                Err(_) => {
                    tracing::warn!("in-flight requests did not finish within {DRAIN:?}; exiting anyway");
                    server.abort();
                }
            }
        }
    }
    issuer.flush_audit().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// What a successful start hands to the serving loop.
struct Started {
    store: SqlStore,
    issuer: Issuer,
    app: Router,
}

/// Opens the store (making the key file if needed), starts the issuer,
/// bootstraps an empty database and builds the app. On failure the store is
/// closed, so the caller can remove the files this start created.
async fn start(
    config: &ServeConfig,
    issuer_url: &str,
    is_postgres: bool,
    sqlite_file: Option<&Path>,
) -> Result<Started> {
    let (master, source) =
        masterkey::load(std::env::var(masterkey::ENV).ok(), sqlite_file, is_postgres)?;
    match &source {
        Source::Env => tracing::info!("signing keys are encrypted under {}", masterkey::ENV),
        Source::File(path) => {
            tracing::info!(path = %path.display(), "signing keys are encrypted under the key file")
        }
        Source::Generated(path) => tracing::warn!(
            path = %path.display(),
            "{} is not set: generated a key file beside the database to encrypt signing keys; keep it safe and out of backups that leave this machine, or set {} from a secret manager",
            masterkey::ENV,
            masterkey::ENV
        ),
        Source::Ephemeral => tracing::warn!(
            "{} is not set and the database is in memory: using a random key for this process only",
            masterkey::ENV
        ),
    }

    let store = SqlStore::connect(&config.database)
        .await
        .map_err(|e| anyhow!("cannot open the database: {e}"))?;
    match start_on(config, issuer_url, master, &store).await {
        Ok((issuer, app)) => Ok(Started { store, issuer, app }),
        Err(e) => {
            store.close().await;
            Err(e)
        }
    }
}

/// The registration policy of `--registration`, after saying at startup
/// what it allows. Registered clients are user-level: without
/// `--dev-consent` the server has no consent step and refuses to start.
fn registration_policy(
    config: &ServeConfig,
    registration: &RegistrationConfig,
) -> Result<RegistrationPolicy> {
    if !config.dev_consent {
        bail!(
            "--registration registers user-level clients, which need a consent step: m2m serve \
             has only --dev-consent (development); a host with its own consent handler embeds \
             m2m-issuer and sets IssuerBuilder::dynamic_registration"
        );
    }
    tracing::warn!(
        org_id = %registration.org_id,
        public_only = registration.public_only,
        initial_access_token = registration.initial_access_token.is_some(),
        rate_per_minute = registration.rate_per_minute,
        "--registration: dynamic client registration is on at POST /oauth/register; {}",
        if registration.initial_access_token.is_some() {
            "only holders of the initial access token may register"
        } else {
            "ANYONE who can reach the server may register a user-level client"
        }
    );
    let mut policy = RegistrationPolicy::new(registration.org_id.clone())
        .audiences(registration.audiences.iter().cloned())
        .public_only(registration.public_only)
        .rate_per_minute(registration.rate_per_minute);
    if let Some(scopes) = &registration.scopes {
        policy = policy.scopes(scopes.iter().cloned());
    }
    if let Some(token) = &registration.initial_access_token {
        policy = policy.initial_access_token(token.clone());
    }
    Ok(policy)
}

/// The policy of the `--federation-*` flags.
fn federation_policy(federation: &crate::config::FederationConfig) -> m2m_issuer::FederationPolicy {
    let mut policy = m2m_issuer::FederationPolicy::new();
    for network in &federation.allow_networks {
        policy = policy.allow_network(*network);
    }
    if let Some(pem) = &federation.extra_roots_pem {
        policy = policy.extra_root_pem(pem.clone());
    }
    if let Some(seconds) = federation.max_token_lifetime {
        policy = policy.max_token_lifetime(seconds);
    }
    policy
}

/// The policy of `--client-metadata-documents`, after saying at startup what
/// it allows. Its clients are user-level: without `--dev-consent` the server
/// has no consent step and refuses to start.
fn client_metadata_policy(
    config: &ServeConfig,
    documents: &ClientMetadataConfig,
) -> Result<ClientMetadataPolicy> {
    if !config.dev_consent {
        bail!(
            "--client-metadata-documents registers user-level clients, which need a consent \
             step: m2m serve has only --dev-consent (development); a host with its own consent \
             handler embeds m2m-issuer and sets IssuerBuilder::client_metadata_documents"
        );
    }
    if documents.audiences.is_empty() {
        tracing::warn!(
            "--client-metadata-documents without --client-metadata-audience: such clients get no token"
        );
    }
    if documents.scopes.is_empty() && config.scopes_supported.is_none() {
        tracing::warn!(
            "--client-metadata-documents without --client-metadata-scope or --scopes-supported: such clients get no scope"
        );
    }
    tracing::info!(
        hosts = ?documents.hosts,
        scopes = ?documents.scopes,
        audiences = ?documents.audiences,
        allow_networks = documents.allow_networks.len(),
        extra_roots = documents.extra_roots_pem.is_some(),
        "--client-metadata-documents: https client_ids are fetched as Client ID Metadata Documents"
    );
    let mut policy = ClientMetadataPolicy::new();
    for host in &documents.hosts {
        policy = policy.host(host.clone());
    }
    for scope in &documents.scopes {
        policy = policy.scope(scope.clone());
    }
    for audience in &documents.audiences {
        policy = policy.audience(audience.clone());
    }
    for network in &documents.allow_networks {
        policy = policy.allow_network(*network);
    }
    if let Some(pem) = &documents.extra_roots_pem {
        policy = policy.extra_root_pem(pem.clone());
    }
    Ok(policy)
}

/// The part of [`start`] that runs on an open store.
async fn start_on(
    config: &ServeConfig,
    issuer_url: &str,
    master: masterkey::MasterKey,
    store: &SqlStore,
) -> Result<(Issuer, Router)> {
    let policy = RotationPolicy {
        prepublish_secs: config.key_prepublish_secs,
        ..RotationPolicy::default()
    };
    let mut builder = Issuer::builder(issuer_url.to_owned(), store.clone());
    if config.dev_consent {
        tracing::warn!(
            "--dev-consent: user-level clients are on and every authorization request is granted WITHOUT LOGIN; development only"
        );
        builder = builder.consent(Arc::new(DevConsent::new("dev-user", "dev-org")));
    }
    if let Some(scopes) = &config.scopes_supported {
        builder = builder.scopes_supported(scopes.iter().cloned());
    }
    if let Some(documents) = &config.client_metadata {
        builder = builder.client_metadata_documents(client_metadata_policy(config, documents)?);
    }
    builder = builder.federation(federation_policy(&config.federation));
    if config.dpop_nonce {
        builder = builder.dpop_nonce(dpop_nonce_secret(&master.0), DPOP_NONCE_SLOT_SECS);
    }
    builder = builder.quotas(config.quotas);
    if let Some(registration) = &config.registration {
        builder = builder.dynamic_registration(registration_policy(config, registration)?);
    }
    let issuer = builder
        .algorithm(config.algorithm.into())
        .master_key(master.0)
        .jwks_max_age(config.jwks_max_age_secs)
        .rotation_policy(policy)
        .key_check_interval(Duration::from_secs(config.key_refresh_interval_secs))
        .trusted_proxies(config.trusted_proxies.iter().copied())
        .token_audit(config.token_audit)
        .audit_retention(config.audit_retention)
        .build()
        .await
        .map_err(|e| anyhow!("cannot start the issuer: {e}"))?;

    // Refuse before bootstrapping, or the new admin credentials would be lost.
    let empty = {
        use m2m_issuer::store::Store as _;
        store
            .list_clients(&Default::default(), None, 1)
            .await
            .map_err(|e| anyhow!("cannot read the database: {e}"))?
            .items
            .is_empty()
    };
    if empty {
        bootstrap(&issuer, store, &config.bootstrap_admin_file).await?;
    } else {
        tracing::info!("database has clients already: bootstrap skipped");
    }

    let metrics = Arc::new(Metrics::for_issuer(&issuer));
    let app = Router::new()
        .merge(issuer.router())
        .merge(crate::console::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready).with_state(store.clone()))
        .route(
            "/metrics",
            get(metrics::serve).with_state(Arc::clone(&metrics)),
        )
        .route("/openapi.json", get(crate::openapi::serve))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&metrics),
            metrics::record,
        ));
    Ok((issuer, app))
}

fn admin_file_in_the_way(path: &Path) -> anyhow::Error {
    anyhow!(
        "{} exists already but the database is empty; move the file away and restart",
        path.display()
    )
}

/// Files that did not exist when a start began; [`NewFiles::remove`]
/// deletes those that exist now, so a failed start leaves nothing behind.
struct NewFiles(Vec<PathBuf>);

impl NewFiles {
    fn watch(paths: Vec<PathBuf>) -> Self {
        NewFiles(paths.into_iter().filter(|path| !path.exists()).collect())
    }

    fn remove(self) {
        for path in self.0 {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cannot remove a file this failed start created"
                ),
                _ => {}
            }
        }
    }
}

/// `--ready-file`: the URL the server listens on, one line, written once it
/// accepts requests and removed when it stops.
struct ReadyFile(PathBuf);

impl ReadyFile {
    fn write(path: &Path, local: SocketAddr) -> Result<Self> {
        // Written whole under another name, then renamed: a reader never sees half a line.
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, format!("http://{local}\n"))
            .and_then(|()| std::fs::rename(&partial, path))
            .with_context(|| format!("cannot write the ready file {}", path.display()))?;
        Ok(ReadyFile(path.to_owned()))
    }
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn remove_ready_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove the old ready file {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `GET /readyz`: 200 when the database answers.
async fn ready(State(store): State<SqlStore>) -> (StatusCode, &'static str) {
    use m2m_issuer::store::Store as _;
    match store.list_keys().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Creates the admin client of an empty database and writes its
/// credentials to `path`. The file is created first (exclusively, 0600), so
/// a path that cannot be written fails the start before any client exists;
/// if creating the client or writing the file fails after that, both are
/// undone, and the next start bootstraps again.
async fn bootstrap(issuer: &Issuer, store: &SqlStore, path: &Path) -> Result<()> {
    use std::io::Write as _;
    if path.exists() {
        return Err(admin_file_in_the_way(path));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = masterkey::create_private(path)?;
    let remove_file = || {
        let _ = std::fs::remove_file(path);
    };
    let (client_id, secret) = match issuer.bootstrap_admin().await {
        Ok(Some(created)) => created,
        Ok(None) => {
            // Another replica bootstrapped between our check and now.
            remove_file();
            tracing::info!("database has clients already: bootstrap skipped");
            return Ok(());
        }
        Err(e) => {
            remove_file();
            return Err(anyhow!("cannot create the bootstrap admin client: {e}"));
        }
    };
    let json = serde_json::json!({
        "client_id": client_id.as_str(),
        "client_secret": secret.expose(),
    });
    if let Err(e) = file
        .write_all(json.to_string().as_bytes())
        .and_then(|()| file.sync_all())
    {
        remove_file();
        use m2m_issuer::store::Store as _;
        let revocation = m2m_core::RevokedClient::new(client_id.clone(), issuer.now());
        if let Err(undo) = store.delete_client(&client_id, &revocation).await {
            tracing::error!(%client_id, error = %undo, "cannot delete the bootstrap admin client whose credentials were not written; delete it by hand");
        }
        return Err(anyhow!("cannot write {}: {e}", path.display()));
    }
    tracing::info!(
        path = %path.display(),
        %client_id,
        "empty database: created the admin client and wrote its credentials (mode 0600)"
    );
    Ok(())
}

/// The database URL without its password, for the log: the password of the
/// userinfo (`user:pass@`), of a `password=` query parameter (any case), and
/// of a libpq `key=value` string (`host=h password=pw`, `password='a b'`).
fn redact(url: &str) -> String {
    if let Some(scheme) = url.find("://") {
        let (head, rest) = url.split_at(scheme + 3);
        // The userinfo ends at the last '@' before the path or query.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let authority = match authority.rfind('@') {
            Some(at) => match authority[..at].split_once(':') {
                Some((user, _)) => format!("{user}:***{}", &authority[at..]),
                None => authority.to_owned(),
            },
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let (query, fragment) = query
                    .split_once('#')
                    .map_or((query, None), |(q, f)| (q, Some(f)));
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                            format!("{key}=***")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect();
                let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
                format!("{path}?{}{fragment}", query.join("&"))
            }
            None => tail.to_owned(),
        };
        return format!("{head}{authority}{tail}");
    }
    redact_key_value(url)
}

/// Redacts `password=...` in a libpq `key=value` connection string, where a
/// value is a bare word or single-quoted with backslash escapes.
fn redact_key_value(conninfo: &str) -> String {
    let mut out = String::with_capacity(conninfo.len());
    let mut rest = conninfo;
    while !rest.is_empty() {
        let spaces = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..spaces]);
        rest = &rest[spaces..];
        let Some(eq) = rest.find('=') else {
            out.push_str(rest);
            break;
        };
        let key = rest[..eq].trim_end();
        out.push_str(&rest[..=eq]);
        rest = rest[eq + 1..].trim_start();
        // The value: quoted, or up to the next whitespace.
        let end = if rest.starts_with('\'') {
            let mut escaped = false;
            rest.char_indices()
                .skip(1)
                .find(|&(_, c)| {
                    let closes = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map_or(rest.len(), |(i, _)| i + 1)
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        if key.eq_ignore_ascii_case("password") {
            out.push_str("***");
        } else {
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        // Colour codes only for a person at a terminal, never into a log file.
        LogFormat::Text => {
            use std::io::IsTerminal as _;
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init()
        }
    };
}

/// How long one DPoP nonce slot lasts: a nonce is accepted in its slot and
/// the next, so for 5 to 10 minutes.
const DPOP_NONCE_SLOT_SECS: u64 = 300;

/// The DPoP nonce secret: an HMAC of a fixed label under the master key, so
/// every replica (which must share the master key) derives the same one, and
/// it is independent of the keys the master key seals.
fn dpop_nonce_secret(master: &[u8; 32]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master);
    let tag = ring::hmac::sign(&key, b"m2m-auth dpop nonce secret v1");
    let mut secret = [0; 32];
    secret.copy_from_slice(tag.as_ref());
    secret
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://m2m.db"), "sqlite://m2m.db");
        assert_eq!(
            redact("sqlite://m2m.db?mode=rwc"),
            "sqlite://m2m.db?mode=rwc"
        );
    }

    #[test]
    fn password_query_parameters_are_redacted_in_any_case() {
        assert_eq!(
            redact("postgres://u@h/db?password=pw&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact("postgresql://h/db?sslmode=require&PassWord=pw"),
            "postgresql://h/db?sslmode=require&PassWord=***"
        );
        assert_eq!(
            redact("postgres://u:a@b@h/db?password=x#f"),
            "postgres://u:***@h/db?password=***#f"
        );
    }

    #[test]
    fn libpq_key_value_passwords_are_redacted() {
        assert_eq!(
            redact("host=h user=u password=pw dbname=d"),
            "host=h user=u password=*** dbname=d"
        );
        assert_eq!(
            redact("host=h PASSWORD = 'a b\\' c' dbname=d"),
            "host=h PASSWORD =*** dbname=d"
        );
        assert_eq!(redact("host=h dbname=d"), "host=h dbname=d");
    }
}

//! `m2m serve`'s settings: flags and `M2M_*` variables beat the `--config`
//! TOML file, which beats the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use m2m_issuer::Cidr;
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs, SigningAlgorithm};
use crate::conn::Limits;

/// The shortest initial access token `--registration-token-file` may hold.
const MIN_REGISTRATION_TOKEN: usize = 16;

/// `--registration` and its policy flags (flags beat the file); `None` when off.
fn resolve_registration(
    args: &ServeArgs,
    file: &mut FileConfig,
) -> Result<Option<RegistrationConfig>> {
    let on = args.registration || file.registration.unwrap_or(false);
    let org = args
        .registration_org
        .clone()
        .or(file.registration_org.take());
    let scopes = if args.registration_scope.is_empty() {
        file.registration_scope.take()
    } else {
        Some(args.registration_scope.clone())
    }
    .map(|scopes| scopes.into_iter().filter(|s| !s.is_empty()).collect());
    let audiences = if args.registration_audience.is_empty() {
        file.registration_audience.take().unwrap_or_default()
    } else {
        args.registration_audience.clone()
    };
    let public_only =
        args.registration_public_only || file.registration_public_only.unwrap_or(false);
    let token_file = args
        .registration_token_file
        .clone()
        .or(file.registration_token_file.take());
    let rate = args.registration_rate.or(file.registration_rate);
    if !on {
        if org.is_some()
            || scopes.is_some()
            || !audiences.is_empty()
            || public_only
            || token_file.is_some()
            || rate.is_some()
        {
            bail!("the --registration-* settings need --registration");
        }
        return Ok(None);
    }
    let Some(org_id) = org else {
        bail!(
            "--registration needs --registration-org ORG: the organization every \
             dynamically registered client belongs to"
        );
    };
    let rate_per_minute = rate.unwrap_or(10);
    if rate_per_minute == 0 {
        bail!("--registration-rate must be at least 1");
    }
    let initial_access_token = match token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("cannot read --registration-token-file {}", path.display())
            })?;
            let token = text.trim();
            if token.len() < MIN_REGISTRATION_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                bail!(
                    "--registration-token-file {} must hold one token of at least \
                     {MIN_REGISTRATION_TOKEN} printable characters",
                    path.display()
                );
            }
            Some(token.to_owned())
        }
    };
    Ok(Some(RegistrationConfig {
        org_id,
        scopes,
        audiences,
        public_only,
        initial_access_token,
        rate_per_minute,
    }))
}

/// The default database: a SQLite file in the working directory.
pub(crate) const DEFAULT_DATABASE: &str = "sqlite://m2m.db?mode=rwc";
/// The default listen address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The smallest `--max-header-bytes`: room for a request line and the
/// headers of an ordinary request with a bearer token.
const MIN_HEADER_BYTES: usize = 1024;
/// The default bootstrap admin file.
pub(crate) const DEFAULT_ADMIN_FILE: &str = "./m2m-admin.json";

/// The settings `serve` runs with.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) listen: String,
    /// The issuer URL if one was set; see [`ServeConfig::issuer_url`].
    issuer: Option<String>,
    pub(crate) ready_file: Option<PathBuf>,
    pub(crate) database: String,
    pub(crate) bootstrap_admin_file: PathBuf,
    pub(crate) log_format: LogFormat,
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) jwks_max_age_secs: u64,
    pub(crate) key_prepublish_secs: u64,
    pub(crate) key_refresh_interval_secs: u64,
    pub(crate) dev_consent: bool,
    /// `--dpop-nonce`: DPoP server nonces at the token endpoint.
    pub(crate) dpop_nonce: bool,
    /// `--quota-*`: token quotas.
    pub(crate) quotas: m2m_issuer::QuotaConfig,
    pub(crate) scopes_supported: Option<Vec<String>>,
    pub(crate) trusted_proxies: Vec<Cidr>,
    pub(crate) token_audit: m2m_issuer::TokenAudit,
    pub(crate) audit_retention: Option<Duration>,
    pub(crate) limits: Limits,
    /// Dynamic client registration, when on.
    pub(crate) registration: Option<RegistrationConfig>,
    /// Client ID Metadata Documents, when on.
    pub(crate) client_metadata: Option<ClientMetadataConfig>,
    /// Workload identity federation's fetch policy and token lifetime.
    pub(crate) federation: FederationConfig,
}

/// `--federation-*`: how external issuers are reached, how long their tokens live.
#[derive(Debug, Clone, Default)]
pub(crate) struct FederationConfig {
    pub(crate) allow_networks: Vec<Cidr>,
    /// The extra roots read from `--federation-ca-file`.
    pub(crate) extra_roots_pem: Option<Vec<u8>>,
    pub(crate) max_token_lifetime: Option<u64>,
}

fn resolve_federation(args: &ServeArgs) -> Result<FederationConfig> {
    let extra_roots_pem = match &args.federation_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read --federation-ca-file {}", path.display()))?,
        ),
        None => None,
    };
    if args.federation_max_token_lifetime == Some(0) {
        bail!("--federation-max-token-lifetime must be at least 1 second");
    }
    Ok(FederationConfig {
        allow_networks: args.federation_allow_network.clone(),
        extra_roots_pem,
        max_token_lifetime: args.federation_max_token_lifetime,
    })
}

/// `--client-metadata-documents` and its policy (flags and environment
/// only).
#[derive(Debug, Clone)]
pub(crate) struct ClientMetadataConfig {
    pub(crate) hosts: Vec<String>,
    /// Empty: the `--scopes-supported` list.
    pub(crate) scopes: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) allow_networks: Vec<Cidr>,
    /// The extra roots read from `--client-metadata-ca-file`.
    pub(crate) extra_roots_pem: Option<Vec<u8>>,
}

/// `--client-metadata-documents` and its policy flags; `None` when off.
fn resolve_client_metadata(args: &ServeArgs) -> Result<Option<ClientMetadataConfig>> {
    if !args.client_metadata_documents {
        if !args.client_metadata_host.is_empty()
            || !args.client_metadata_scope.is_empty()
            || !args.client_metadata_audience.is_empty()
            || !args.client_metadata_allow_network.is_empty()
            || args.client_metadata_ca_file.is_some()
        {
            bail!("the --client-metadata-* settings need --client-metadata-documents");
        }
        return Ok(None);
    }
    let extra_roots_pem = match &args.client_metadata_ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| {
            format!("cannot read --client-metadata-ca-file {}", path.display())
        })?),
        None => None,
    };
    Ok(Some(ClientMetadataConfig {
        hosts: args.client_metadata_host.clone(),
        scopes: args.client_metadata_scope.clone(),
        audiences: args.client_metadata_audience.clone(),
        allow_networks: args.client_metadata_allow_network.clone(),
        extra_roots_pem,
    }))
}

/// `--registration` and its policy.
#[derive(Clone)]
pub(crate) struct RegistrationConfig {
    pub(crate) org_id: String,
    /// None: the `--scopes-supported` list.
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) audiences: Vec<String>,
    pub(crate) public_only: bool,
    /// The initial access token read from `--registration-token-file`.
    pub(crate) initial_access_token: Option<String>,
    pub(crate) rate_per_minute: u32,
}

impl std::fmt::Debug for RegistrationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationConfig")
            .field("org_id", &self.org_id)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("public_only", &self.public_only)
            .field(
                "initial_access_token",
                &self.initial_access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("rate_per_minute", &self.rate_per_minute)
            .finish()
    }
}

/// The `--config` file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    ready_file: Option<PathBuf>,
    issuer: Option<String>,
    database: Option<String>,
    bootstrap_admin_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    algorithm: Option<SigningAlgorithm>,
    jwks_max_age: Option<u64>,
    key_prepublish: Option<u64>,
    key_refresh_interval: Option<u64>,
    dev_consent: Option<bool>,
    dpop_nonce: Option<bool>,
    quota_per_minute: Option<u64>,
    quota_per_hour: Option<u64>,
    quota_per_day: Option<u64>,
    org_quota_per_minute: Option<u64>,
    org_quota_per_hour: Option<u64>,
    org_quota_per_day: Option<u64>,
    quota_mode: Option<String>,
    quota_lease: Option<u64>,
    scopes_supported: Option<Vec<String>>,
    trusted_proxy: Option<Vec<String>>,
    token_audit: Option<String>,
    audit_retention_days: Option<u64>,
    header_read_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_connections: Option<usize>,
    max_header_bytes: Option<usize>,
    registration: Option<bool>,
    registration_org: Option<String>,
    registration_scope: Option<Vec<String>>,
    registration_audience: Option<Vec<String>>,
    registration_public_only: Option<bool>,
    registration_token_file: Option<PathBuf>,
    registration_rate: Option<u32>,
}

impl ServeConfig {
    /// Resolves the settings from flags/env, the config file and defaults.
    pub(crate) fn resolve(args: &ServeArgs) -> Result<Self> {
        let mut file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let registration = resolve_registration(args, &mut file)?;
        let quotas = quotas(args, &file)?;
        let client_metadata = resolve_client_metadata(args)?;
        let federation = resolve_federation(args)?;
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        // The default issuer URL needs the bound port (`--listen 127.0.0.1:0`),
        // so it is made after binding, by `issuer_url`.
        let issuer = args
            .issuer
            .clone()
            .or(file.issuer)
            .map(|issuer| issuer.trim_end_matches('/').to_owned());
        if let Some(issuer) = &issuer
            && !(issuer.starts_with("http://") || issuer.starts_with("https://"))
        {
            bail!("the issuer URL must start with http:// or https://, got {issuer:?}");
        }
        let trusted_proxies = if args.trusted_proxy.is_empty() {
            file.trusted_proxy
                .unwrap_or_default()
                .iter()
                .map(|text| text.parse::<Cidr>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("invalid trusted_proxy in the config file: {e}"))?
        } else {
            args.trusted_proxy.clone()
        };
        let token_audit = match args.token_audit.clone().or(file.token_audit) {
            Some(mode) => mode
                .parse::<m2m_issuer::TokenAudit>()
                .map_err(|e| anyhow::anyhow!("--token-audit: {e}"))?,
            None => m2m_issuer::TokenAudit::default(),
        };
        let audit_retention = match args
            .audit_retention_days
            .or(file.audit_retention_days)
            .unwrap_or(90)
        {
            0 => None,
            days => Some(Duration::from_secs(days.saturating_mul(86_400))),
        };
        let header_read_timeout = args
            .header_read_timeout
            .or(file.header_read_timeout)
            .unwrap_or(10);
        let idle_timeout = args.idle_timeout.or(file.idle_timeout).unwrap_or(60);
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(4096);
        let max_header_bytes = args
            .max_header_bytes
            .or(file.max_header_bytes)
            .unwrap_or(16 * 1024);
        for (name, value) in [
            ("header-read-timeout", header_read_timeout),
            ("idle-timeout", idle_timeout),
            ("max-connections", max_connections as u64),
        ] {
            if value == 0 {
                bail!("--{name} must be at least 1");
            }
        }
        if max_header_bytes < MIN_HEADER_BYTES {
            bail!("--max-header-bytes must be at least {MIN_HEADER_BYTES}, got {max_header_bytes}");
        }
        let limits = Limits {
            header_read_timeout: Duration::from_secs(header_read_timeout),
            idle_timeout: Duration::from_secs(idle_timeout),
            max_connections,
            max_header_bytes,
        };
        Ok(ServeConfig {
            registration,
            client_metadata,
            federation,
            limits,
            listen,
            trusted_proxies,
            token_audit,
            audit_retention,
            issuer,
            ready_file: args.ready_file.clone().or(file.ready_file),
            database: args
                .database
                .clone()
                .or(file.database)
                .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            bootstrap_admin_file: args
                .bootstrap_admin_file
                .clone()
                .or(file.bootstrap_admin_file)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_ADMIN_FILE)),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            algorithm: args
                .algorithm
                .or(file.algorithm)
                .unwrap_or(SigningAlgorithm::Es256),
            jwks_max_age_secs: args.jwks_max_age.or(file.jwks_max_age).unwrap_or(300),
            key_prepublish_secs: args.key_prepublish.or(file.key_prepublish).unwrap_or(3_600),
            key_refresh_interval_secs: args
                .key_refresh_interval
                .or(file.key_refresh_interval)
                .unwrap_or(60)
                .max(1),
            dev_consent: args.dev_consent || file.dev_consent.unwrap_or(false),
            dpop_nonce: args.dpop_nonce || file.dpop_nonce.unwrap_or(false),
            quotas,
            scopes_supported: if args.scopes_supported.is_empty() {
                file.scopes_supported
            } else {
                Some(
                    args.scopes_supported
                        .iter()
                        .filter(|s| !s.is_empty())
                        .cloned()
                        .collect(),
                )
            },
        })
    }

    /// The issuer URL: the one set, else `http://<listen>` with the port the
    /// listener was given (`127.0.0.1:0` becomes `http://127.0.0.1:43121`).
    pub(crate) fn issuer_url(&self, bound: SocketAddr) -> String {
        if let Some(issuer) = &self.issuer {
            return issuer.clone();
        }
        match self.listen.rsplit_once(':') {
            Some((host, _)) => format!("http://{host}:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }
}

fn read_file_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        // toml's Display spans several lines (the position, the source line,
        // a caret, then the message); make one line of the position and the
        // message, which names the key (e.g. "unknown field `colour`, expected
        // one of ...").
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                anyhow::anyhow!(
                    "invalid config file {}: line {line}, column {column}: {message}",
                    path.display()
                )
            }
            None => anyhow::anyhow!("invalid config file {}: {message}", path.display()),
        }
    })
}

/// The file path of a SQLite URL (`sqlite://m2m.db?mode=rwc` → `m2m.db`), or
/// `None` for PostgreSQL and in-memory SQLite.
pub(crate) fn sqlite_path(database: &str) -> Option<PathBuf> {
    let rest = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// `--quota-*` (flags beat the file's keys): checked here so a bad value
/// stops `serve` with the flag's name.
fn quotas(args: &ServeArgs, file: &FileConfig) -> Result<m2m_issuer::QuotaConfig> {
    use m2m_issuer::{MAX_QUOTA, MAX_QUOTA_LEASE, QuotaConfig, QuotaLimits, QuotaMode};
    let limit = |flag: &str, arg: Option<u64>, key: Option<u64>| -> Result<Option<u64>> {
        match arg.or(key) {
            Some(n) if !(1..=MAX_QUOTA).contains(&n) => {
                bail!("--{flag} must be between 1 and {MAX_QUOTA}, got {n}")
            }
            n => Ok(n),
        }
    };
    let mode = match args.quota_mode.as_deref().or(file.quota_mode.as_deref()) {
        None | Some("enforce") => QuotaMode::Enforce,
        Some("log_only") => QuotaMode::LogOnly,
        Some(other) => bail!("--quota-mode must be enforce or log_only, got {other:?}"),
    };
    let lease = args.quota_lease.or(file.quota_lease).unwrap_or(10);
    if !(1..=MAX_QUOTA_LEASE).contains(&lease) {
        bail!("--quota-lease must be between 1 and {MAX_QUOTA_LEASE}, got {lease}");
    }
    Ok(QuotaConfig {
        client: QuotaLimits {
            per_minute: limit(
                "quota-per-minute",
                args.quota_per_minute,
                file.quota_per_minute,
            )?,
            per_hour: limit("quota-per-hour", args.quota_per_hour, file.quota_per_hour)?,
            per_day: limit("quota-per-day", args.quota_per_day, file.quota_per_day)?,
        },
        org: QuotaLimits {
            per_minute: limit(
                "org-quota-per-minute",
                args.org_quota_per_minute,
                file.org_quota_per_minute,
            )?,
            per_hour: limit(
                "org-quota-per-hour",
                args.org_quota_per_hour,
                file.org_quota_per_hour,
            )?,
            per_day: limit(
                "org-quota-per-day",
                args.org_quota_per_day,
                file.org_quota_per_day,
            )?,
        },
        mode,
        lease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://m2m.db?mode=rwc"),
            Some("m2m.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/m2m.db"),
            Some("/var/lib/m2m.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("m2m-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m2m.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\ndatabase = \"sqlite://x.db\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            database: Some("sqlite://flag.db".into()),
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let config = ServeConfig::resolve(&args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9999");
        assert_eq!(config.database, "sqlite://flag.db");
        let bound: SocketAddr = "127.0.0.1:9999".parse().unwrap();
        assert_eq!(config.issuer_url(bound), "http://127.0.0.1:9999");
        assert_eq!(config.log_format, LogFormat::Text);
        std::fs::write(&path, "listen = 5\n").unwrap();
        let err = ServeConfig::resolve(&args).unwrap_err().to_string();
        assert!(err.starts_with("invalid config file"), "{err}");
        assert!(!err.contains('\n'));
        // An unknown key (a typo, or a setting that does not exist) is refused,
        // by name and position, instead of being ignored.
        std::fs::write(&path, "listen = \"127.0.0.1:0\"\ncolour = \"blue\"\n").unwrap();
        let err = ServeConfig::resolve(&args).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid config file {}: line 2, column 1: unknown field `colour`, expected one of",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("`key_refresh_interval`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        std::fs::write(&path, "trusted_proxy = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        let config = ServeConfig::resolve(&args).unwrap();
        let proxies: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "::1/128"]);
        let flagged = ServeArgs {
            trusted_proxy: vec!["192.0.2.0/24".parse().unwrap()],
            ..args.clone()
        };
        let config = ServeConfig::resolve(&flagged).unwrap();
        assert_eq!(config.trusted_proxies.len(), 1, "flags beat the file");
        std::fs::write(&path, "trusted_proxy = [\"10.0.0.0/33\"]\n").unwrap();
        let err = ServeConfig::resolve(&args).unwrap_err().to_string();
        assert!(
            err.contains("trusted_proxy") && err.contains("10.0.0.0/33"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn connection_limits_have_defaults_file_keys_and_flags() {
        let defaults = ServeConfig::resolve(&ServeArgs::default()).unwrap().limits;
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.idle_timeout, Duration::from_secs(60));
        assert_eq!(defaults.max_connections, 4096);
        assert_eq!(defaults.max_header_bytes, 16 * 1024);
        let dir = std::env::temp_dir().join(format!("m2m-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m2m.toml");
        std::fs::write(
            &path,
            "header_read_timeout = 3\nidle_timeout = 4\nmax_connections = 5\nmax_header_bytes = 2048\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let file = ServeConfig::resolve(&args).unwrap().limits;
        assert_eq!(file.header_read_timeout, Duration::from_secs(3));
        assert_eq!(file.idle_timeout, Duration::from_secs(4));
        assert_eq!(file.max_connections, 5);
        assert_eq!(file.max_header_bytes, 2048);
        let flagged = ServeArgs {
            max_connections: Some(7),
            ..args.clone()
        };
        assert_eq!(
            ServeConfig::resolve(&flagged)
                .unwrap()
                .limits
                .max_connections,
            7
        );
        std::fs::write(&path, "max_header_bytes = 100\n").unwrap();
        let err = ServeConfig::resolve(&args).unwrap_err().to_string();
        assert!(
            err.contains("--max-header-bytes must be at least 1024"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_default_issuer_has_the_bound_port() {
        let resolve = |args: ServeArgs| ServeConfig::resolve(&args).unwrap();
        let bound: SocketAddr = "127.0.0.1:43121".parse().unwrap();
        let any_port = resolve(ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            ..ServeArgs::default()
        });
        assert_eq!(any_port.issuer_url(bound), "http://127.0.0.1:43121");
        let named_host = resolve(ServeArgs {
            listen: Some("localhost:0".into()),
            ..ServeArgs::default()
        });
        assert_eq!(named_host.issuer_url(bound), "http://localhost:43121");
        let v6 = resolve(ServeArgs {
            listen: Some("[::1]:0".into()),
            ..ServeArgs::default()
        });
        let bound_v6: SocketAddr = "[::1]:43121".parse().unwrap();
        assert_eq!(v6.issuer_url(bound_v6), "http://[::1]:43121");
        let set = resolve(ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            issuer: Some("https://auth.example.com/".into()),
            ..ServeArgs::default()
        });
        assert_eq!(set.issuer_url(bound), "https://auth.example.com");
        let default = resolve(ServeArgs::default());
        let bound_default: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(default.issuer_url(bound_default), "http://127.0.0.1:8080");
    }
}

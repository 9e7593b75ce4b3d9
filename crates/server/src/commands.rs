//! The admin commands, `token` and `verify`: thin clients of the HTTP API.

use anyhow::{Context, Result, anyhow, bail};
use http::Method;
use serde_json::{Map, Value, json};

use crate::cli::{
    AuditArgs, ClientCommand, ClientCreateArgs, ClientKeyCommand, ClientListArgs, ClientQuotaArgs,
    ClientUpdateArgs, FederationAddArgs, FederationCommand, GrantCommand, KeyCommand, OrgCommand,
    OrgQuotaCommand, PageArgs, SecretCommand, TokenArgs, VerifyArgs,
};
use crate::http::{Admin, Http, fetch_token, url};
use crate::output::{print_client, print_json, print_table};

/// Splits repeated and space-separated values into one list.
fn words(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(' '))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Percent-encodes one path segment or query value.
fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|pair| pair.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// `m2m org ...`.
pub(crate) async fn org(admin: &Admin, command: OrgCommand) -> Result<()> {
    let OrgCommand::Quota(command) = command;
    match command {
        OrgQuotaCommand::Set(args) => {
            let quota = quota_body(&ClientQuotaArgs {
                quota_per_minute: args.per_minute,
                quota_per_hour: args.per_hour,
                quota_per_day: args.per_day,
                quota_mode: args.mode,
            })
            .unwrap_or_else(|| json!({}));
            let path = format!("/admin/orgs/{}/quota", encode(&args.org_id));
            let stored = admin.call(Method::PUT, &path, Some(&quota)).await?;
            print_quota(&stored, args.json)
        }
        OrgQuotaCommand::Show(args) => {
            let path = format!("/admin/orgs/{}/quota", encode(&args.org_id));
            let stored = admin.call(Method::GET, &path, None).await?;
            print_quota(&stored, args.json)
        }
        OrgQuotaCommand::Clear(args) => {
            let path = format!("/admin/orgs/{}/quota", encode(&args.org_id));
            admin.call(Method::DELETE, &path, None).await?;
            if args.json {
                print_json(&json!({"cleared": args.org_id}))
            } else {
                println!("cleared the quota override of {}", args.org_id);
                Ok(())
            }
        }
    }
}

/// A quota override as `name: value` lines, or its JSON.
fn print_quota(quota: &Value, json: bool) -> Result<()> {
    if json {
        return print_json(quota);
    }
    if let Some(members) = quota.as_object() {
        for (name, value) in members {
            println!(
                "{name}: {}",
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            );
        }
    }
    Ok(())
}

/// `m2m client ...`.
pub(crate) async fn client(admin: &Admin, command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Create(args) => create_client(admin, *args).await,
        ClientCommand::List(args) => list_clients(admin, args).await,
        ClientCommand::Show(args) => {
            let client = admin
                .call(
                    Method::GET,
                    &format!("/admin/clients/{}", encode(&args.client_id)),
                    None,
                )
                .await?;
            if args.json {
                print_json(&client)
            } else {
                print_client(&client);
                Ok(())
            }
        }
        ClientCommand::Update(args) => update_client(admin, *args).await,
        ClientCommand::Federation(command) => federation(admin, command).await,
        ClientCommand::Key(command) => client_keys(admin, command).await,
        ClientCommand::Delete(args) => {
            admin
                .call(
                    Method::DELETE,
                    &format!("/admin/clients/{}", encode(&args.client_id)),
                    None,
                )
                .await?;
            if args.json {
                print_json(&json!({"deleted": args.client_id}))
            } else {
                println!("deleted {}", args.client_id);
                Ok(())
            }
        }
    }
}

async fn create_client(admin: &Admin, args: ClientCreateArgs) -> Result<()> {
    let mut body = Map::new();
    body.insert("name".into(), json!(args.name));
    body.insert("kind".into(), json!(args.kind));
    body.insert("scopes".into(), json!(words(&args.scopes)));
    if let Some(org_id) = args.org_id {
        body.insert("org_id".into(), json!(org_id));
    }
    if let Some(user_id) = args.user_id {
        body.insert("user_id".into(), json!(user_id));
    }
    if !args.audiences.is_empty() {
        body.insert("audiences".into(), json!(words(&args.audiences)));
    }
    if let Some(ttl) = args.ttl {
        body.insert("token_ttl_seconds".into(), json!(ttl));
    }
    if !args.redirect_uris.is_empty() {
        body.insert("redirect_uris".into(), json!(words(&args.redirect_uris)));
    }
    if let Some(method) = args.token_endpoint_auth_method {
        body.insert("token_endpoint_auth_method".into(), json!(method));
    }
    if let Some(path) = &args.jwks_file {
        body.insert("jwks".into(), read_json(path)?);
    }
    if let Some(uri) = args.jwks_uri {
        body.insert("jwks_uri".into(), json!(uri));
    }
    if args.dpop_bound {
        body.insert("dpop_bound_access_tokens".into(), json!(true));
    }
    if let Some(policy) = exchange_policy(
        &args.exchange_subjects,
        &args.exchange_audiences,
        args.exchange_max_depth,
    ) {
        body.insert("token_exchange".into(), policy);
    }
    if let Some(quota) = quota_body(&args.quota) {
        body.insert("quota".into(), quota);
    }
    let created = admin
        .call(Method::POST, "/admin/clients", Some(&Value::Object(body)))
        .await?;
    if args.json {
        return print_json(&created);
    }
    print_client(&created);
    println!();
    if created.get("client_secret").is_none() {
        println!("a public client: no secret (it sends its client_id and uses PKCE)");
        return Ok(());
    }
    // The secret's id is what `m2m secret remove` takes, so it is shown too.
    println!("secret_id:     {}", text(&created["secret_id"]));
    println!("client_secret: {}", text(&created["client_secret"]));
    println!("(shown once: store it now)");
    Ok(())
}

/// The `quota` override the `--quota-*` flags give, if any (checked by the
/// server).
fn quota_body(args: &ClientQuotaArgs) -> Option<Value> {
    let mut quota = Map::new();
    for (name, value) in [
        ("per_minute", args.quota_per_minute),
        ("per_hour", args.quota_per_hour),
        ("per_day", args.quota_per_day),
    ] {
        if let Some(value) = value {
            quota.insert(name.into(), json!(value));
        }
    }
    if let Some(mode) = &args.quota_mode {
        quota.insert("mode".into(), json!(mode));
    }
    (!quota.is_empty()).then_some(Value::Object(quota))
}

/// The `token_exchange` policy the `--exchange-*` flags give, if any.
fn exchange_policy(
    subjects: &[String],
    audiences: &[String],
    max_depth: Option<u8>,
) -> Option<Value> {
    if subjects.is_empty() {
        return None;
    }
    let mut policy = json!({"subjects": subjects});
    if !audiences.is_empty() {
        policy["audiences"] = json!(audiences);
    }
    if let Some(depth) = max_depth {
        policy["max_depth"] = json!(depth);
    }
    Some(policy)
}

async fn list_clients(admin: &Admin, args: ClientListArgs) -> Result<()> {
    let filters = [("org_id", args.org_id), ("kind", args.kind)];
    list_page(
        admin,
        "/admin/clients",
        filters,
        args.page,
        &["CLIENT_ID", "NAME", "KIND", "ORG_ID", "ENABLED", "SCOPES"],
        |c| {
            vec![
                text(&c["client_id"]),
                text(&c["name"]),
                text(&c["kind"]),
                text(&c["org_id"]),
                if c["enabled"].as_bool() == Some(false) {
                    "no".into()
                } else {
                    "yes".into()
                },
                scopes_text(&c["scopes"]),
            ]
        },
    )
    .await
}

/// Gets one page of a list endpoint at `path`, with the `filters` given
/// and the `page` flags, and prints it: the raw JSON with `--json`, else a
/// table with a row per item, then the flag that gets the next page.
async fn list_page<const N: usize>(
    admin: &Admin,
    path: &str,
    filters: [(&str, Option<String>); N],
    page: PageArgs,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> Result<()> {
    let query: Vec<(&str, String)> = filters
        .into_iter()
        .chain([
            ("limit", page.limit.map(|n| n.to_string())),
            ("cursor", page.cursor),
        ])
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
    let mut path = path.to_owned();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&serde_urlencoded::to_string(&query)?);
    }
    let listed = admin.call(Method::GET, &path, None).await?;
    if page.json {
        return print_json(&listed);
    }
    let rows: Vec<Vec<String>> = listed["items"]
        .as_array()
        .map(|items| items.iter().map(&row).collect())
        .unwrap_or_default();
    print_table(headers, &rows);
    if let Some(next) = listed["next_cursor"].as_str() {
        println!("more: --cursor {next}");
    }
    Ok(())
}

async fn update_client(admin: &Admin, args: ClientUpdateArgs) -> Result<()> {
    let mut body = Map::new();
    if let Some(name) = args.name {
        body.insert("name".into(), json!(name));
    }
    if let Some(scopes) = args.scopes {
        body.insert("scopes".into(), json!(words(&scopes)));
    }
    if let Some(audiences) = args.audiences {
        body.insert("audiences".into(), json!(words(&audiences)));
    }
    if let Some(ttl) = args.ttl {
        body.insert("token_ttl_seconds".into(), json!(ttl));
    }
    if let Some(method) = args.token_endpoint_auth_method {
        body.insert("token_endpoint_auth_method".into(), json!(method));
    }
    if args.dpop_bound {
        body.insert("dpop_bound_access_tokens".into(), json!(true));
    }
    if args.no_dpop_bound {
        body.insert("dpop_bound_access_tokens".into(), json!(false));
    }
    if let Some(policy) = exchange_policy(
        &args.exchange_subjects,
        &args.exchange_audiences,
        args.exchange_max_depth,
    ) {
        body.insert("token_exchange".into(), policy);
    }
    if args.no_exchange {
        body.insert("token_exchange".into(), Value::Null);
    }
    if let Some(quota) = quota_body(&args.quota) {
        body.insert("quota".into(), quota);
    }
    if args.no_quota {
        body.insert("quota".into(), Value::Null);
    }
    if args.enable {
        body.insert("enabled".into(), json!(true));
    }
    if args.disable {
        body.insert("enabled".into(), json!(false));
    }
    if body.is_empty() {
        bail!(
            "nothing to change: give at least one of --name, --scope, --audience, --ttl, \
             --token-endpoint-auth-method, --dpop-bound, --no-dpop-bound, --exchange-subject, \
             --no-exchange, --enable, --disable"
        );
    }
    let updated = admin
        .call(
            Method::PATCH,
            &format!("/admin/clients/{}", encode(&args.client_id)),
            Some(&Value::Object(body)),
        )
        .await?;
    if args.json {
        print_json(&updated)
    } else {
        print_client(&updated);
        Ok(())
    }
}

/// A JSON file's value, with the file named in errors.
fn read_json(path: &std::path::Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `m2m client key ...`: a `private_key_jwt` client's public keys.
async fn client_keys(admin: &Admin, command: ClientKeyCommand) -> Result<()> {
    match command {
        ClientKeyCommand::Add(args) => {
            let jwk = read_json(&args.jwk_file)?;
            let added = admin
                .call(
                    Method::POST,
                    &format!("/admin/clients/{}/jwks", encode(&args.client_id)),
                    Some(&jwk),
                )
                .await?;
            if args.json {
                return print_json(&added);
            }
            println!("added key {} to {}", text(&added["kid"]), args.client_id);
            Ok(())
        }
        ClientKeyCommand::List(args) => {
            let client = admin
                .call(
                    Method::GET,
                    &format!("/admin/clients/{}", encode(&args.client_id)),
                    None,
                )
                .await?;
            let keys = client["jwks"]["keys"].clone();
            if args.json {
                return print_json(&json!({"keys": keys, "jwks_uri": client["jwks_uri"]}));
            }
            if let Some(uri) = client["jwks_uri"].as_str() {
                println!("keys published at {uri}");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = keys
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    let alg = if k["alg"].is_string() {
                        text(&k["alg"])
                    } else {
                        format!("{} {}", text(&k["kty"]), text(&k["crv"]))
                            .trim()
                            .to_owned()
                    };
                    vec![text(&k["kid"]), alg]
                })
                .collect();
            print_table(&["KID", "ALG"], &rows);
            Ok(())
        }
        ClientKeyCommand::Remove(args) => {
            admin
                .call(
                    Method::DELETE,
                    &format!(
                        "/admin/clients/{}/jwks/{}",
                        encode(&args.client_id),
                        encode(&args.kid)
                    ),
                    None,
                )
                .await?;
            println!("removed key {} of {}", args.kid, args.client_id);
            Ok(())
        }
    }
}

/// `m2m client federation ...`.
async fn federation(admin: &Admin, command: FederationCommand) -> Result<()> {
    match command {
        FederationCommand::Add(args) => add_federated(admin, args).await,
        FederationCommand::List(args) => {
            let listed = admin
                .call(
                    Method::GET,
                    &format!(
                        "/admin/clients/{}/federated-credentials",
                        encode(&args.client_id)
                    ),
                    None,
                )
                .await?;
            if args.json {
                return print_json(&listed);
            }
            let rows: Vec<Vec<String>> = listed["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    let claims = e["claims"]
                        .as_object()
                        .map(|c| {
                            c.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    vec![
                        text(&e["id"]),
                        text(&e["issuer"]),
                        text(&e["subject"]),
                        text(&e["audience"]),
                        claims,
                        if e.get("jwks").is_some() {
                            "inline"
                        } else {
                            "discovery"
                        }
                        .to_owned(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "ISSUER", "SUBJECT", "AUDIENCE", "CLAIMS", "KEYS"],
                &rows,
            );
            Ok(())
        }
        FederationCommand::Remove(args) => {
            admin
                .call(
                    Method::DELETE,
                    &format!(
                        "/admin/clients/{}/federated-credentials/{}",
                        encode(&args.client_id),
                        encode(&args.id)
                    ),
                    None,
                )
                .await?;
            println!(
                "removed federated credential {} of {}",
                args.id, args.client_id
            );
            Ok(())
        }
    }
}

async fn add_federated(admin: &Admin, args: FederationAddArgs) -> Result<()> {
    let mut claims = Map::new();
    for pair in &args.claims {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--claim takes NAME=VALUE, got `{pair}`"))?;
        if claims
            .insert(name.to_owned(), Value::String(value.to_owned()))
            .is_some()
        {
            bail!("--claim {name} is given twice");
        }
    }
    let mut body = json!({
        "issuer": args.issuer,
        "subject": args.subject,
        "claims": claims,
    });
    if let Some(audience) = &args.audience {
        body["audience"] = json!(audience);
    }
    if let Some(path) = &args.jwks_file {
        body["jwks"] = read_json(path)?;
    }
    let created = admin
        .call(
            Method::POST,
            &format!(
                "/admin/clients/{}/federated-credentials",
                encode(&args.client_id)
            ),
            Some(&body),
        )
        .await?;
    if args.json {
        return print_json(&created);
    }
    println!("id:       {}", text(&created["id"]));
    println!("issuer:   {}", text(&created["issuer"]));
    println!("subject:  {}", text(&created["subject"]));
    println!("audience: {}", text(&created["audience"]));
    Ok(())
}

/// `m2m secret ...`.
pub(crate) async fn secret(admin: &Admin, command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Add(args) => {
            let body = match &args.expires_at {
                Some(at) => json!({"expires_at": at}),
                None => json!({}),
            };
            let created = admin
                .call(
                    Method::POST,
                    &format!("/admin/clients/{}/secrets", encode(&args.client_id)),
                    Some(&body),
                )
                .await?;
            if args.json {
                return print_json(&created);
            }
            println!("secret_id:     {}", text(&created["secret_id"]));
            println!("client_secret: {}", text(&created["client_secret"]));
            if let Some(at) = created["expires_at"].as_str() {
                println!("expires_at:    {at}");
            }
            println!("(shown once: store it now)");
            Ok(())
        }
        SecretCommand::Remove(args) => {
            admin
                .call(
                    Method::DELETE,
                    &format!(
                        "/admin/clients/{}/secrets/{}",
                        encode(&args.client_id),
                        encode(&args.secret_id)
                    ),
                    None,
                )
                .await?;
            println!("removed secret {} of {}", args.secret_id, args.client_id);
            Ok(())
        }
    }
}

/// `m2m key ...`.
pub(crate) async fn key(admin: &Admin, command: KeyCommand) -> Result<()> {
    let (result, json) = match command {
        KeyCommand::Rotate { json } => (
            admin.call(Method::POST, "/admin/keys/rotate", None).await?,
            json,
        ),
        KeyCommand::Revoke { kid, json } => (
            admin
                .call(
                    Method::POST,
                    &format!("/admin/keys/{}/revoke", encode(&kid)),
                    None,
                )
                .await?,
            json,
        ),
    };
    if json {
        print_json(&result)
    } else {
        let rows: Vec<Vec<String>> = result
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| *k != "superseded")
                    .map(|(k, v)| vec![k.clone(), text(v)])
                    .collect()
            })
            .unwrap_or_default();
        print_table(&["FIELD", "VALUE"], &rows);
        // A rotation before the pending key signed replaced it: say so.
        if let Some(kid) = result["superseded"].as_str() {
            println!("superseded pending key {kid}");
        }
        Ok(())
    }
}

/// `m2m grant ...`.
pub(crate) async fn grant(admin: &Admin, command: GrantCommand) -> Result<()> {
    match command {
        GrantCommand::List(args) => {
            let mut path = format!("/admin/clients/{}/grants", encode(&args.client_id));
            if let Some(user_id) = &args.user_id {
                path.push_str("?user_id=");
                path.push_str(&encode(user_id));
            }
            let page = admin.call(Method::GET, &path, None).await?;
            if args.json {
                return print_json(&page);
            }
            let rows: Vec<Vec<String>> = page["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|g| {
                            vec![
                                text(&g["grant_id"]),
                                text(&g["user_id"]),
                                text(&g["org_id"]),
                                scopes_text(&g["scopes"]),
                                text(&g["created_at"]),
                                text(&g["revoked_at"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            print_table(
                &[
                    "GRANT_ID",
                    "USER_ID",
                    "ORG_ID",
                    "SCOPES",
                    "CREATED_AT",
                    "REVOKED_AT",
                ],
                &rows,
            );
            Ok(())
        }
        GrantCommand::Revoke(args) => {
            admin
                .call(
                    Method::DELETE,
                    &format!(
                        "/admin/clients/{}/grants/{}",
                        encode(&args.client_id),
                        encode(&args.grant_id)
                    ),
                    None,
                )
                .await?;
            println!("revoked grant {} of {}", args.grant_id, args.client_id);
            Ok(())
        }
    }
}

/// `m2m audit`: audit events and token aggregates, newest first.
pub(crate) async fn audit(admin: &Admin, args: AuditArgs) -> Result<()> {
    let filters = [
        ("client_id", args.client_id),
        ("kind", args.kind),
        ("since", args.since),
        ("until", args.until),
    ];
    list_page(
        admin,
        "/admin/audit",
        filters,
        args.page,
        &["AT", "KIND", "CLIENT_ID", "ACTOR", "DETAIL"],
        |e| {
            let detail = if e["kind"] == "tokens.issued" {
                format!(
                    "count={} scopes={} first_jti={} last_jti={}",
                    e["detail"]["count"],
                    scopes_text(&e["detail"]["scopes"]),
                    text(&e["detail"]["first_jti"]),
                    text(&e["detail"]["last_jti"]),
                )
            } else {
                e["detail"].to_string()
            };
            vec![
                text(&e["at"]),
                text(&e["kind"]),
                text(&e["client_id"]),
                text(&e["actor"]),
                detail,
            ]
        },
    )
    .await
}

/// `m2m token`: prints the bare access token (or the whole response with --json).
pub(crate) async fn token(endpoint: &str, args: TokenArgs) -> Result<()> {
    let http = Http::new()?;
    let scopes = words(&args.scopes);
    let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
    let response = fetch_token(
        &http,
        endpoint,
        &args.client_id,
        &args.client_secret,
        scope.as_deref(),
        args.audience.as_deref(),
    )
    .await?;
    if args.json {
        return print_json(&response);
    }
    let token = response["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("the token response has no access_token"))?;
    println!("{token}");
    Ok(())
}

/// `m2m verify`: exit 0 and the claims as JSON, or an error (exit 1).
pub(crate) async fn verify(endpoint: &str, args: VerifyArgs) -> Result<()> {
    let token = if args.token == "-" {
        read_token_from_stdin()?
    } else {
        args.token
    };
    let http = Http::new()?;
    let issuer = match args.issuer {
        Some(issuer) => issuer,
        None => {
            let metadata = get_json(
                &http,
                &url(endpoint, "/.well-known/oauth-authorization-server"),
            )
            .await
            .context("cannot read the issuer's metadata; pass --issuer")?;
            metadata["issuer"]
                .as_str()
                .ok_or_else(|| anyhow!("the metadata has no issuer; pass --issuer"))?
                .to_owned()
        }
    };
    let jwks_url = args
        .jwks
        .unwrap_or_else(|| url(endpoint, "/.well-known/jwks.json"));
    if let Some(host) = cleartext_remote_host(&jwks_url) {
        eprintln!(
            "warning: the JWKS is fetched over plain http from {host}, which is not loopback; anyone on the path can serve their own keys: use https"
        );
    }
    let jwks: m2m_core::JwkSet = serde_json::from_value(get_json(&http, &jwks_url).await?)
        .with_context(|| format!("{jwks_url} is not a JWK Set"))?;
    let keys = m2m_core::KeySet::from_jwk_set(&jwks)
        .with_context(|| format!("{jwks_url} has an unusable key"))?;
    let audience = args.audience.unwrap_or_else(|| issuer.clone());
    let validation = m2m_core::Validation::new(issuer, audience);
    let verified = validation
        .verify(token.trim(), &keys, m2m_core::now_unix())
        .map_err(|e| anyhow!("invalid token: {e}"))?;
    print_json(&serde_json::to_value(&verified.claims)?)
}

/// The host of an `http://` URL whose host is not this machine (127.0.0.0/8,
/// ::1, `localhost`); `None` for https, loopback, or what does not parse.
fn cleartext_remote_host(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    };
    (!loopback).then(|| host.to_owned())
}

/// `m2m verify -`: the token from standard input (one token, surrounding
/// whitespace ignored), so it shows in neither `ps` nor shell history.
fn read_token_from_stdin() -> Result<String> {
    use std::io::Read as _;
    let mut token = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut token)
        .context("cannot read the token from standard input")?;
    if token.trim().is_empty() {
        bail!("no token on standard input");
    }
    Ok(token)
}

async fn get_json(http: &Http, url: &str) -> Result<Value> {
    let response = http
        .send(Method::GET, url, &[], None)
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status;
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    serde_json::from_slice(&response.body).with_context(|| format!("{url} did not answer JSON"))
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn scopes_text(value: &Value) -> String {
    value
        .as_array()
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| text(value))
}

#[cfg(test)]
mod verify_tests {
    use super::cleartext_remote_host;

    #[test]
    fn only_plain_http_to_another_host_is_cleartext_remote() {
        for url in [
            "http://127.0.0.1:8080/.well-known/jwks.json",
            "http://127.1.2.3/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost:8080/jwks",
            "https://auth.example.com/jwks",
        ] {
            assert_eq!(cleartext_remote_host(url), None, "{url}");
        }
        assert_eq!(
            cleartext_remote_host("http://auth.example.com/jwks").as_deref(),
            Some("auth.example.com")
        );
        assert_eq!(
            cleartext_remote_host("http://[2001:db8::1]:80/jwks").as_deref(),
            Some("[2001:db8::1]")
        );
    }
}

//! The rules of a Client ID Metadata Document
//! (draft-ietf-oauth-client-id-metadata-document): what its URL may be
//! ([`check_url`]), and what the fetched JSON must say ([`read_document`]).

use m2m_core::ScopeSet;
use serde_json::Value;
use url::Url;

use super::DocumentError;
use crate::domain::error::RegistryError;
use crate::domain::registration;

/// Longest client_id URL accepted (ids are at most 256 printable ASCII).
pub(crate) const MAX_URL_LEN: usize = m2m_core::MAX_ID_LEN;

/// Whether `client_id` is meant as a metadata document URL: it names a
/// scheme. Registered ids (`m2m_...`) never do.
pub(crate) fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Checks a client_id URL (draft §3): at most 256 printable ASCII
/// characters, `https`, a path other than `/`, no fragment, no user name or
/// password, no dot segments, and in the canonical form a URL parser gives
/// it (lowercase host, no default port, no `127.1` shorthand): so that the
/// document's `client_id` can be compared byte for byte.
pub(crate) fn check_url(client_id: &str) -> Result<Url, DocumentError> {
    let refuse = |why: &'static str| Err(DocumentError::BadUrl(why));
    if client_id.len() > MAX_URL_LEN || m2m_core::validate_id(client_id).is_err() {
        return refuse("it must be at most 256 printable ASCII characters");
    }
    if !client_id.starts_with("https://") {
        return refuse("it must be an https URL");
    }
    if client_id.contains('#') {
        return refuse("it must not have a fragment");
    }
    let Ok(url) = Url::parse(client_id) else {
        return refuse("it is not a valid URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("it must not hold a user name or password");
    }
    let raw_path = client_id["https://".len()..]
        .find('/')
        .map_or("", |i| &client_id["https://".len() + i..]);
    let raw_path = raw_path.split(['?']).next().unwrap_or_default();
    let dot_segment = raw_path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    });
    if dot_segment {
        return refuse("its path must not have . or .. segments");
    }
    if url.path() == "/" || url.path().is_empty() {
        return refuse("it must have a path, like https://example.com/client.json");
    }
    if url.as_str() != client_id {
        return refuse(
            "it must be in canonical form (lowercase host, no default port, no encoded \
             characters that need none)",
        );
    }
    Ok(url)
}

/// Whether `host` matches `pattern`: the same host, or for `*.example.com`
/// any host under `example.com` (not `example.com` itself).
pub(crate) fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .strip_suffix(parent)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => pattern == host,
    }
}

/// Whether a `Content-Type` is JSON (`application/json` or a `+json` type).
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// What a valid document says about its client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DocumentClient {
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    /// The document's `scope`, if it has one: it narrows what the client may ask.
    pub(crate) scope: Option<ScopeSet>,
}

fn strings<'a>(value: &'a Value, field: &'static str) -> Result<Vec<&'a str>, DocumentError> {
    let invalid = || DocumentError::Invalid(format!("{field} must be an array of strings"));
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|v| v.as_str().ok_or_else(invalid))
        .collect()
}

/// A registration rule's refusal, as a document's.
fn invalid_from(error: RegistryError) -> DocumentError {
    match error {
        RegistryError::Invalid(why) => DocumentError::Invalid(why.into_owned()),
        _ => DocumentError::Invalid("it breaks a registration rule".into()),
    }
}

/// Reads a fetched document for the client `url`.
pub(crate) fn read_document(body: &[u8], url: &Url) -> Result<DocumentClient, DocumentError> {
    let invalid = |why: &str| Err(DocumentError::Invalid(why.to_owned()));
    let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(body) else {
        return invalid("it is not a JSON object");
    };
    match document.get("client_id").and_then(Value::as_str) {
        Some(id) if id == url.as_str() => {}
        Some(_) => return invalid("its client_id is not exactly the URL it was fetched from"),
        None => return invalid("it has no client_id"),
    }
    if document.contains_key("client_secret") || document.contains_key("client_secret_expires_at") {
        return invalid("it must not hold a client secret");
    }
    match document.get("token_endpoint_auth_method") {
        None => {}
        Some(Value::String(method)) if method == "none" => {}
        Some(Value::String(method)) if method == "private_key_jwt" => {
            return invalid(
                "token_endpoint_auth_method private_key_jwt is not supported yet: use none",
            );
        }
        Some(_) => {
            return invalid(
                "token_endpoint_auth_method must be none (such a client has no secret)",
            );
        }
    }
    if let Some(grants) = document.get("grant_types") {
        let grants = strings(grants, "grant_types")?;
        if !grants.contains(&"authorization_code")
            || grants
                .iter()
                .any(|g| !matches!(*g, "authorization_code" | "refresh_token"))
        {
            return invalid("grant_types must be authorization_code, and refresh_token if any");
        }
    }
    if let Some(types) = document.get("response_types") {
        let types = strings(types, "response_types")?;
        if types.is_empty() || types.iter().any(|t| *t != "code") {
            return invalid("response_types must be [\"code\"]");
        }
    }
    let redirect_uris: Vec<String> = match document.get("redirect_uris") {
        None => return invalid("it has no redirect_uris"),
        Some(uris) => strings(uris, "redirect_uris")?
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    if redirect_uris.is_empty() {
        return invalid("redirect_uris must not be empty");
    }
    let redirect_uris = registration::check_redirect_uris(&redirect_uris).map_err(invalid_from)?;
    let name = match document.get("client_name") {
        None => url.host_str().unwrap_or_default().to_owned(),
        Some(Value::String(name)) => registration::check_name(name).map_err(invalid_from)?,
        Some(_) => return invalid("client_name must be a string"),
    };
    let scope = match document.get("scope") {
        None => None,
        Some(Value::String(scope)) => Some(ScopeSet::parse(scope).map_err(|e| {
            DocumentError::Invalid(format!("scope is not a space-separated scope list: {e}"))
        })?),
        Some(_) => return invalid("scope must be a string"),
    };
    Ok(DocumentClient {
        name,
        redirect_uris,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_draft_rules() {
        for good in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/client",
            "https://app.example.com/c?v=1",
            "https://127.0.0.1:9443/client.json",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/client.json#x",
            "https://user@app.example.com/client.json",
            "https://user:pw@app.example.com/client.json",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/./client.json",
            "https://app.example.com/a/%2e%2E/client.json",
            "https://App.example.com/client.json",
            "https://app.example.com:443/client.json",
            "https://127.1/client.json",
            "https://app.example.com/client json",
            "ftp://app.example.com/client.json",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(240));
        assert!(check_url(&long).is_err());
    }

    #[test]
    fn host_patterns_match_exactly_or_below_a_wildcard() {
        assert!(host_matches("app.example.com", "app.example.com"));
        assert!(!host_matches("app.example.com", "evil-app.example.com"));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "b.a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert!(!host_matches("*.example.com", ".example.com"));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/oauth-client+json")));
        assert!(!is_json(Some("text/html")));
        assert!(!is_json(Some("text/json+html")));
        assert!(!is_json(None));
    }
}

//! [`ResourceUri`]: the canonical URI of a protected resource (RFC 8707 §2,
//! RFC 9728 §1.2), which is both the `aud` its tokens must carry and the
//! `resource` of its Protected Resource Metadata.
//!
//! The canonical form is the one the MCP authorization specification
//! describes: scheme and host in lower case, no default port, no fragment,
//! no trailing slash for the root, dot segments removed and percent-encoding
//! normalized (RFC 3986 §6.2.2).

use std::fmt;
use std::str::FromStr;

use url::Url;

/// The longest resource URI accepted, in bytes.
pub const MAX_RESOURCE_LEN: usize = 1024;

/// The well-known path of Protected Resource Metadata (RFC 9728 §3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The canonical URI of a protected resource.
///
/// Accepted: an absolute `https` URL with a host, or `http` when the host is
/// this machine (`127.0.0.0/8`, `::1`, `localhost`), for development and
/// tests. Refused: a fragment, a query, userinfo (`user@`), whitespace,
/// control characters or backslashes anywhere, and anything longer than
/// [`MAX_RESOURCE_LEN`] bytes.
///
/// ```
/// use m2m_guard::ResourceUri;
///
/// let mcp: ResourceUri = "HTTPS://API.Example.COM:443/mcp".parse()?;
/// assert_eq!(mcp.as_str(), "https://api.example.com/mcp");
/// assert_eq!(
///     mcp.metadata_url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert_eq!(mcp.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
///
/// let root: ResourceUri = "https://api.example.com/".parse()?;
/// assert_eq!(root.as_str(), "https://api.example.com");
/// assert_eq!(root.metadata_path(), "/.well-known/oauth-protected-resource");
///
/// // Lookalikes stay apart.
/// let evil: ResourceUri = "https://api.example.com.evil.com/mcp".parse()?;
/// assert_ne!(evil, mcp);
///
/// assert!("https://api.example.com/mcp#top".parse::<ResourceUri>().is_err());
/// assert!("http://api.example.com/mcp".parse::<ResourceUri>().is_err());
/// assert!("http://127.0.0.1:3001/mcp".parse::<ResourceUri>().is_ok());
/// # Ok::<(), m2m_guard::InvalidResource>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceUri {
    canonical: Box<str>,
    /// Where the path starts in `canonical` (its length for the root).
    path_start: usize,
}

/// Why a resource URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidResource {
    /// Longer than [`MAX_RESOURCE_LEN`] bytes.
    TooLong,
    /// Whitespace, a control character or a backslash.
    BadCharacter,
    /// Not an absolute `scheme://host...` URL (the reason).
    NotAbsolute(String),
    /// Neither `https` nor, for a loopback host, `http`.
    Scheme,
    /// It has a fragment (`#...`), which RFC 8707 §2 forbids.
    Fragment,
    /// It has a query (`?...`); RFC 8707 §2 advises against one, and this
    /// guard does not take one.
    Query,
    /// It has userinfo (`user@host`).
    UserInfo,
}

impl fmt::Display for InvalidResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidResource::TooLong => write!(f, "longer than {MAX_RESOURCE_LEN} bytes"),
            InvalidResource::BadCharacter => {
                f.write_str("it contains whitespace, a control character or a backslash")
            }
            InvalidResource::NotAbsolute(why) => write!(f, "not an absolute URL: {why}"),
            InvalidResource::Scheme => {
                f.write_str("the scheme must be https (http only for a loopback host)")
            }
            InvalidResource::Fragment => f.write_str("a resource URI has no fragment"),
            InvalidResource::Query => f.write_str("a resource URI has no query"),
            InvalidResource::UserInfo => f.write_str("a resource URI has no userinfo"),
        }
    }
}

impl std::error::Error for InvalidResource {}

impl ResourceUri {
    /// Validates `uri` and puts it in canonical form.
    pub fn parse(uri: &str) -> Result<Self, InvalidResource> {
        if uri.len() > MAX_RESOURCE_LEN {
            return Err(InvalidResource::TooLong);
        }
        // The URL parser would silently drop tabs and newlines, trim spaces
        // and read `\` as `/`: refuse them instead of guessing.
        if uri
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(InvalidResource::BadCharacter);
        }
        let authority = raw_authority(uri)?;
        if authority.contains('@') {
            return Err(InvalidResource::UserInfo);
        }
        if uri.contains('#') {
            return Err(InvalidResource::Fragment);
        }
        if uri.contains('?') {
            return Err(InvalidResource::Query);
        }
        let url = Url::parse(uri).map_err(|e| InvalidResource::NotAbsolute(e.to_string()))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| InvalidResource::NotAbsolute("no host".to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => return Err(InvalidResource::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidResource::UserInfo);
        }
        let mut canonical = format!("{}://{host}", url.scheme());
        if let Some(port) = url.port() {
            canonical.push_str(&format!(":{port}"));
        }
        let path_start = canonical.len();
        let path = normalize_percent_encoding(url.path());
        if path != "/" {
            canonical.push_str(&path);
        }
        if canonical.len() > MAX_RESOURCE_LEN {
            return Err(InvalidResource::TooLong);
        }
        Ok(ResourceUri {
            canonical: canonical.into_boxed_str(),
            path_start,
        })
    }

    /// The canonical URI: the `aud` tokens must carry and the metadata's
    /// `resource`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The path of the resource (`""` for the root, else from its `/`).
    pub fn path(&self) -> &str {
        &self.canonical[self.path_start..]
    }

    /// Whether this is the root of its origin (no path).
    pub fn is_root(&self) -> bool {
        self.path().is_empty()
    }

    /// Where the Protected Resource Metadata is served on this resource's
    /// host (RFC 9728 §3.1): the well-known path, then the resource's path.
    pub fn metadata_path(&self) -> String {
        format!("{WELL_KNOWN_PATH}{}", self.path())
    }

    /// The absolute URL of the Protected Resource Metadata, which every 401
    /// names in `resource_metadata` (RFC 9728 §5.1).
    pub fn metadata_url(&self) -> String {
        format!(
            "{}{}",
            &self.canonical[..self.path_start],
            self.metadata_path()
        )
    }

    /// The `aud` values a token for this resource may carry: the canonical
    /// URI, and for the root also the same with its `/` (the two are one
    /// URI by RFC 3986 §6.2.3, and MCP clients send either).
    pub fn audiences(&self) -> Vec<String> {
        let mut audiences = vec![self.canonical.to_string()];
        if self.is_root() {
            audiences.push(format!("{}/", self.canonical));
        }
        audiences
    }
}

impl FromStr for ResourceUri {
    type Err = InvalidResource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceUri::parse(s)
    }
}

impl AsRef<str> for ResourceUri {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceUri").field(&self.canonical).finish()
    }
}

/// The authority of `uri` as written: after `scheme://`, up to the first
/// `/`, `?` or `#`. Refuses what the URL parser would otherwise accept
/// leniently (`https:host`, `https:///host`).
fn raw_authority(uri: &str) -> Result<&str, InvalidResource> {
    let not_absolute = || InvalidResource::NotAbsolute("expected scheme://host".to_owned());
    let (scheme, rest) = uri.split_once("://").ok_or_else(not_absolute)?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(not_absolute());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() {
        return Err(not_absolute());
    }
    Ok(authority)
}

/// Whether the URL's host is this machine: 127.0.0.0/8, ::1 or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.")
        }
        None => false,
    }
}

/// RFC 3986 §6.2.2.2: decodes percent-encoded unreserved characters and
/// writes the hex digits of the others in upper case.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let byte = (hi * 16 + lo) as u8;
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // The URL parser's output is ASCII, so byte by byte is char by char.
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(uri: &str) -> Result<String, InvalidResource> {
        ResourceUri::parse(uri).map(|r| r.to_string())
    }

    #[test]
    fn canonical_forms() {
        for (input, expected) in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com/", "https://api.example.com"),
            ("HTTPS://API.EXAMPLE.COM/mcp", "https://api.example.com/mcp"),
            (
                "https://api.example.com:443/mcp",
                "https://api.example.com/mcp",
            ),
            (
                "https://api.example.com:8443",
                "https://api.example.com:8443",
            ),
            (
                "https://api.example.com/a/../mcp",
                "https://api.example.com/mcp",
            ),
            (
                "https://api.example.com/mcp/",
                "https://api.example.com/mcp/",
            ),
            (
                "https://api.example.com/%7emcp",
                "https://api.example.com/~mcp",
            ),
            (
                "https://api.example.com/a%2fb",
                "https://api.example.com/a%2Fb",
            ),
            (
                "https://bücher.example/mcp",
                "https://xn--bcher-kva.example/mcp",
            ),
            ("http://127.0.0.1:3001/mcp", "http://127.0.0.1:3001/mcp"),
            ("http://localhost:80/mcp", "http://localhost/mcp"),
            ("http://[::1]:3001/mcp", "http://[::1]:3001/mcp"),
        ] {
            assert_eq!(canonical(input).as_deref(), Ok(expected), "{input}");
            // Canonical forms are fixed points.
            assert_eq!(canonical(expected).as_deref(), Ok(expected), "{expected}");
        }
    }

    #[test]
    fn refusals() {
        use InvalidResource::*;
        for (input, why) in [
            ("https://api.example.com/mcp#x", Fragment),
            ("https://api.example.com/mcp#", Fragment),
            ("https://api.example.com/mcp?x=1", Query),
            ("https://user@api.example.com/mcp", UserInfo),
            ("https://user:pw@api.example.com/mcp", UserInfo),
            ("https://@api.example.com/mcp", UserInfo),
            ("http://api.example.com/mcp", Scheme),
            ("http://10.0.0.1/mcp", Scheme),
            ("ftp://api.example.com/mcp", Scheme),
            ("https://api.example.com\\@evil.com", BadCharacter),
            ("https://api.exa\nmple.com/mcp", BadCharacter),
            (" https://api.example.com", BadCharacter),
        ] {
            assert_eq!(canonical(input), Err(why), "{input}");
        }
        for input in [
            "api.example.com/mcp",
            "/mcp",
            "https:api.example.com",
            "https:///api.example.com",
            "https://",
            "1https://api.example.com",
            "",
        ] {
            assert!(
                matches!(canonical(input), Err(NotAbsolute(_))),
                "{input}: {:?}",
                canonical(input)
            );
        }
        let long = format!("https://api.example.com/{}", "a".repeat(MAX_RESOURCE_LEN));
        assert_eq!(canonical(&long), Err(TooLong));
    }

    #[test]
    fn metadata_urls() {
        let root = ResourceUri::parse("https://api.example.com").unwrap();
        assert_eq!(
            root.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.audiences(),
            ["https://api.example.com", "https://api.example.com/"]
        );
        let nested = ResourceUri::parse("http://127.0.0.1:9/tenant/mcp").unwrap();
        assert_eq!(
            nested.metadata_url(),
            "http://127.0.0.1:9/.well-known/oauth-protected-resource/tenant/mcp"
        );
        assert_eq!(nested.audiences(), ["http://127.0.0.1:9/tenant/mcp"]);
    }
}

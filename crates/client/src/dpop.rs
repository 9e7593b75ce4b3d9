//! DPoP (RFC 9449) for a client: a [`DpopKey`] proves possession of a key
//! pair with every token request and every resource request, so a token the
//! issuer binds to it (`cnf.jkt`) is useless to anyone who copies it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderMap, HeaderValue, Uri};
use m2m_core::{Algorithm, MAX_NONCE_LEN, PublicJwk, SigningKey};

use crate::error::Error;
use crate::source::AccessToken;

/// The `DPoP` request header (RFC 9449 §4.1).
pub const DPOP_HEADER: &str = "dpop";
/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// How many origins' nonces a key remembers; past that, the oldest answer is
/// forgotten first (a nonce forgotten costs one `use_dpop_nonce` round trip).
const MAX_ORIGINS: usize = 64;

/// A DPoP key pair (ES256 or EdDSA), generated in memory with ring and never
/// written anywhere, with the server nonces it was given, per origin.
///
/// Cheap to clone: clones share the key and the nonces, so a
/// [`TokenSource`](crate::TokenSource) built with
/// [`dpop`](crate::TokenSourceBuilder::dpop) and the code calling resources
/// see the same nonces. `Debug` prints the algorithm and the public key's
/// thumbprint only.
///
/// ```
/// use m2m_client::DpopKey;
/// use m2m_core::Algorithm;
///
/// let key = DpopKey::generate(Algorithm::ES256)?;
/// // The RFC 7638 thumbprint a bound token's `cnf.jkt` names.
/// assert_eq!(key.thumbprint().len(), 43);
/// assert!(!format!("{key:?}").contains("\"d\""));
/// let proof = key.proof("POST", "https://auth.example.com/oauth/token", None)?;
/// assert_eq!(proof.split('.').count(), 3);
/// # Ok::<(), m2m_client::Error>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    key: SigningKey,
    jkt: String,
    /// The latest nonce each origin gave, with the order they came in.
    nonces: Mutex<Nonces>,
}

#[derive(Default)]
struct Nonces {
    by_origin: HashMap<String, (u64, String)>,
    next: u64,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.inner.key.algorithm().as_str())
            .field("jkt", &self.inner.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new key pair for `alg`: [`Algorithm::ES256`] or [`Algorithm::EdDSA`]
    /// (an RSA proof key would make every proof 300 bytes longer and every
    /// signature far slower, for nothing).
    pub fn generate(alg: Algorithm) -> Result<Self, Error> {
        if !matches!(alg, Algorithm::ES256 | Algorithm::EdDSA) {
            return Err(Error::Config(format!(
                "a DPoP key is ES256 or EdDSA, not {}",
                alg.as_str()
            )));
        }
        let key = SigningKey::generate(alg).map_err(|e| Error::Config(e.to_string()))?;
        Self::from_signing_key(key)
    }

    /// Uses an existing ES256 or EdDSA key (e.g. one kept in a secret store,
    /// so tokens stay usable across restarts).
    pub fn from_signing_key(key: SigningKey) -> Result<Self, Error> {
        if !matches!(key.algorithm(), Algorithm::ES256 | Algorithm::EdDSA) {
            return Err(Error::Config(format!(
                "a DPoP key is ES256 or EdDSA, not {}",
                key.algorithm().as_str()
            )));
        }
        let jkt = key
            .public_jwk()
            .thumbprint()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(DpopKey {
            inner: Arc::new(KeyInner {
                key,
                jkt,
                nonces: Mutex::new(Nonces::default()),
            }),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.key.algorithm()
    }

    /// The public key's RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to it.
    pub fn thumbprint(&self) -> &str {
        &self.inner.jkt
    }

    /// The public key, as it appears in every proof's header.
    pub fn public_jwk(&self) -> &PublicJwk {
        self.inner.key.public_jwk()
    }

    /// A fresh proof for one request: a random `jti`, `iat` now, `htm` =
    /// `method`, `htu` = `url` (its query and fragment dropped), `ath` =
    /// the hash of `access_token` when given, and the nonce last received
    /// from `url`'s origin, if any.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error::Config(format!("the system clock is before 1970: {e}")))?
            .as_secs();
        let jti = m2m_core::random_id("").map_err(|e| Error::Config(e.to_string()))?;
        let nonce = origin(url).and_then(|o| self.nonce_for(&o));
        let ath = access_token.map(m2m_core::access_token_hash);
        m2m_core::sign_proof(
            &self.inner.key,
            method,
            url,
            now,
            &jti,
            ath.as_deref(),
            nonce.as_deref(),
        )
        .map_err(|e| Error::Config(format!("cannot sign a DPoP proof for {url:?}: {e}")))
    }

    /// The two headers of a resource request presenting `token`:
    /// `Authorization: DPoP <token>` and `DPoP: <proof>`, the proof made for
    /// `method` and `url` with `ath`. Refused if `token` is not DPoP-bound
    /// (its `token_type` was `Bearer`).
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        token: &AccessToken,
    ) -> Result<DpopHeaders, Error> {
        if !token.is_dpop() {
            return Err(Error::Dpop(
                "the access token is a Bearer token, not DPoP-bound: send it as Bearer".into(),
            ));
        }
        let proof = self.proof(method, url, Some(token.secret()))?;
        let invalid = |_| Error::InvalidResponse("the access token is not a valid header".into());
        Ok(DpopHeaders {
            authorization: HeaderValue::try_from(format!("DPoP {}", token.secret()))
                .map_err(invalid)?,
            dpop: HeaderValue::try_from(proof).map_err(invalid)?,
        })
    }

    /// Remembers the `DPoP-Nonce` of a response from `url` (RFC 9449 §8.2:
    /// a server may send a new one in any response), for the next proofs to
    /// that origin. Returns whether one was taken: a nonce longer than 256
    /// bytes or with characters outside RFC 9449's `NQCHAR` is ignored.
    pub fn remember_nonce(&self, url: &str, headers: &HeaderMap) -> bool {
        let Some(nonce) = nonce_header(headers) else {
            return false;
        };
        let Some(origin) = origin(url) else {
            return false;
        };
        let mut nonces = self
            .inner
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Nonces { by_origin, next } = &mut *nonces;
        *next += 1;
        if by_origin.len() >= MAX_ORIGINS
            && !by_origin.contains_key(&origin)
            && let Some(oldest) = by_origin
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(o, _)| o.clone())
        {
            by_origin.remove(&oldest);
        }
        by_origin.insert(origin, (*next, nonce.to_owned()));
        true
    }

    /// Handles a resource's answer to a DPoP request to `url`: remembers
    /// any `DPoP-Nonce` it carries, and returns `true` when it is a 401
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"` challenge with a
    /// usable nonce, i.e. when the request should be sent once more with a
    /// new proof ([`DpopKey::headers`] again). Send it once only: a server
    /// that asks again is refusing.
    pub fn nonce_challenge(&self, url: &str, status: u16, headers: &HeaderMap) -> bool {
        let took = self.remember_nonce(url, headers);
        took && status == 401 && asks_for_nonce(headers)
    }

    fn nonce_for(&self, origin: &str) -> Option<String> {
        let nonces = self
            .inner
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        nonces.by_origin.get(origin).map(|(_, n)| n.clone())
    }
}

/// The headers of one DPoP resource request. `Debug` prints neither the
/// token nor the proof.
#[derive(Clone)]
pub struct DpopHeaders {
    /// `Authorization: DPoP <token>`.
    pub authorization: HeaderValue,
    /// `DPoP: <proof>`, made for this request's method and URL, with `ath`.
    pub dpop: HeaderValue,
}

impl DpopHeaders {
    /// Sets both headers on `headers`, replacing any `Authorization` or `DPoP` there.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(http::header::AUTHORIZATION, self.authorization.clone());
        headers.insert(DPOP_HEADER, self.dpop.clone());
    }
}

impl fmt::Debug for DpopHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopHeaders").finish_non_exhaustive()
    }
}

/// The one `DPoP-Nonce` of a response, if it is a valid nonce.
fn nonce_header(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(DPOP_NONCE_HEADER).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let nonce = value.to_str().ok()?;
    // NQCHAR = %x21 / %x23-5B / %x5D-7E (RFC 9449 §8.1).
    let nqchar = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    (!nonce.is_empty() && nonce.len() <= MAX_NONCE_LEN && nonce.bytes().all(nqchar))
        .then_some(nonce)
}

/// Whether a `WWW-Authenticate` challenge is DPoP's `use_dpop_nonce` (the
/// error exists only for DPoP, RFC 9449 §9).
fn asks_for_nonce(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("dpop")
                && (v.contains("error=\"use_dpop_nonce\"") || v.contains("error=use_dpop_nonce"))
        })
}

/// `scheme://host:port` of an http(s) URL, lowercased, with the port always
/// present, so that nonces are kept per origin whatever the URL's spelling.
pub(crate) fn origin(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(default);
    Some(format!("{scheme}://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_ignore_spelling_and_paths() {
        assert_eq!(
            origin("https://API.example.com/a?b").as_deref(),
            Some("https://api.example.com:443")
        );
        assert_eq!(
            origin("https://api.example.com:443/x"),
            origin("https://api.example.com/y")
        );
        assert_ne!(
            origin("http://api.example.com/"),
            origin("https://api.example.com/")
        );
        assert_eq!(origin("ftp://x/"), None);
        assert_eq!(origin("not a url"), None);
    }

    #[test]
    fn nonces_are_kept_per_origin_bounded_and_checked() {
        let key = DpopKey::generate(Algorithm::EdDSA).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(DPOP_NONCE_HEADER, "n-1".parse().unwrap());
        assert!(key.remember_nonce("https://a.test/x", &headers));
        assert_eq!(key.nonce_for("https://a.test:443").as_deref(), Some("n-1"));
        assert_eq!(key.nonce_for("https://b.test:443"), None);
        // Quotes, backslashes, spaces and oversized nonces are refused.
        for bad in ["a\"b", "a\\b", "a b", &"n".repeat(MAX_NONCE_LEN + 1)] {
            headers.insert(DPOP_NONCE_HEADER, bad.parse().unwrap());
            assert!(!key.remember_nonce("https://a.test/x", &headers), "{bad}");
        }
        // Two DPoP-Nonce headers: neither is taken.
        headers.insert(DPOP_NONCE_HEADER, "n-2".parse().unwrap());
        headers.append(DPOP_NONCE_HEADER, "n-3".parse().unwrap());
        assert!(!key.remember_nonce("https://a.test/x", &headers));
        assert_eq!(key.nonce_for("https://a.test:443").as_deref(), Some("n-1"));
        // Bounded: the oldest origin goes first.
        let mut one = HeaderMap::new();
        one.insert(DPOP_NONCE_HEADER, "n".parse().unwrap());
        for i in 0..MAX_ORIGINS {
            assert!(key.remember_nonce(&format!("https://h{i}.test/"), &one));
        }
        assert_eq!(
            key.inner.nonces.lock().unwrap().by_origin.len(),
            MAX_ORIGINS
        );
        assert_eq!(key.nonce_for("https://a.test:443"), None);
        assert!(key.nonce_for("https://h0.test:443").is_some());
    }

    #[test]
    fn a_challenge_needs_401_use_dpop_nonce_and_a_nonce() {
        let key = DpopKey::generate(Algorithm::ES256).unwrap();
        let url = "https://api.test/invoices";
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::WWW_AUTHENTICATE,
            r#"Bearer realm="api""#.parse().unwrap(),
        );
        headers.append(
            http::header::WWW_AUTHENTICATE,
            r#"DPoP error="use_dpop_nonce", algs="ES256""#.parse().unwrap(),
        );
        assert!(!key.nonce_challenge(url, 401, &headers), "no nonce");
        headers.insert(DPOP_NONCE_HEADER, "n-1".parse().unwrap());
        assert!(!key.nonce_challenge(url, 403, &headers), "not 401");
        assert!(key.nonce_challenge(url, 401, &headers));
        let mut other = HeaderMap::new();
        other.insert(DPOP_NONCE_HEADER, "n-2".parse().unwrap());
        other.insert(
            http::header::WWW_AUTHENTICATE,
            r#"DPoP error="invalid_dpop_proof""#.parse().unwrap(),
        );
        assert!(!key.nonce_challenge(url, 401, &other));
        // The nonce of any response is still remembered.
        assert_eq!(
            key.nonce_for("https://api.test:443").as_deref(),
            Some("n-2")
        );
    }

    #[test]
    fn rsa_is_refused_and_debug_shows_no_secret() {
        assert!(matches!(
            DpopKey::generate(Algorithm::RS256),
            Err(Error::Config(_))
        ));
        let key = DpopKey::generate(Algorithm::ES256).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(key.thumbprint()), "{debug}");
        assert!(
            !debug.contains("pkcs8") && !debug.contains("\"d\""),
            "{debug}"
        );
    }
}

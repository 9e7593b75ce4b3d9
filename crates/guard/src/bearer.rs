//! The access token of a request: the `Authorization` header only (RFC 6750
//! §2.1), with the `Bearer` or the `DPoP` scheme (RFC 9449 §7.1). Tokens in a
//! query string or a form body (RFC 6750 §2.2, §2.3) are never read.

use http::{HeaderMap, header};

/// The `Authorization` header is present with the Bearer scheme but is not a
/// well-formed credential: repeated, not UTF-8, empty, or holding white space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// How the token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1), with a `DPoP` proof header.
    Dpop,
}

/// The Bearer token of `headers`; see [`credential`].
#[cfg(test)]
pub(crate) fn token(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    match credential(headers)? {
        Some((Scheme::Bearer, token)) => Ok(Some(token)),
        _ => Ok(None),
    }
}

/// The token of `headers` and its scheme: `Ok(None)` when there is no
/// `Authorization` header or its scheme is another (`Basic`, ...), `Err` when
/// it is a malformed Bearer or DPoP credential. The scheme is
/// case-insensitive (RFC 7235 §2.1).
pub(crate) fn credential(headers: &HeaderMap) -> Result<Option<(Scheme, &str)>, Malformed> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed);
    }
    // Header values hold no control characters but may hold bytes >= 0x80;
    // UTF-8 is checked fast, and anything not base64url fails verification.
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| Malformed)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("Bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("DPoP") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = rest.trim_matches(' ');
    if token.is_empty() || has_blank(token.as_bytes()) {
        return Err(Malformed);
    }
    Ok(Some((scheme, token)))
}

/// Whether `bytes` holds a space or a tab: one fold over the whole slice
/// with no early exit, which the compiler turns into vector compares. This
/// runs on every request over a whole token; two `memchr` scans of a
/// ~630-byte token cost about three times as many instructions. Not
/// inlined: inlined into [`credential`], the loop was left scalar.
#[inline(never)]
fn has_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(false, |found, &b| found | (b == b' ') | (b == b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(token(&HeaderMap::new()), Ok(None));
        assert_eq!(token(&headers("Bearer abc")), Ok(Some("abc")));
        assert_eq!(token(&headers("bearer abc")), Ok(Some("abc")));
        assert_eq!(token(&headers("BEARER  abc")), Ok(Some("abc")));
        assert_eq!(token(&headers("Basic dXNlcjpwdw==")), Ok(None));
        assert_eq!(token(&headers("Bearer")), Err(Malformed));
        assert_eq!(token(&headers("Bearer a b")), Err(Malformed));
        assert_eq!(token(&headers("Bearer a\tb")), Err(Malformed));
        let mut twice = headers("Bearer a");
        twice.append(header::AUTHORIZATION, "Bearer b".parse().unwrap());
        assert_eq!(token(&twice), Err(Malformed));
        let mut latin1 = HeaderMap::new();
        latin1.insert(
            header::AUTHORIZATION,
            http::HeaderValue::from_bytes(b"Bearer \xe9").unwrap(),
        );
        assert_eq!(token(&latin1), Err(Malformed));
    }

    #[test]
    fn a_blank_anywhere_in_a_long_token_is_found() {
        let long = "a".repeat(700);
        assert!(!has_blank(long.as_bytes()));
        for at in [0, 1, 31, 32, 33, 63, 64, 650, 698, 699] {
            for blank in [b' ', b'\t'] {
                let mut bytes = long.clone().into_bytes();
                bytes[at] = blank;
                assert!(has_blank(&bytes), "{blank} at {at}");
            }
        }
        assert!(!has_blank(b""));
        let value = format!("Bearer {}\tx", "b".repeat(100));
        assert_eq!(token(&headers(&value)), Err(Malformed));
        let value = format!("Bearer {}", "b".repeat(100));
        assert_eq!(token(&headers(&value)), Ok(Some(&value[7..])));
    }

    #[test]
    fn dpop_scheme() {
        assert_eq!(
            credential(&headers("DPoP abc")),
            Ok(Some((Scheme::Dpop, "abc")))
        );
        assert_eq!(
            credential(&headers("dpop abc")),
            Ok(Some((Scheme::Dpop, "abc")))
        );
        assert_eq!(token(&headers("DPoP abc")), Ok(None));
        assert_eq!(credential(&headers("DPoP")), Err(Malformed));
    }
}

//! The source address of a request, as the throttle and the audit log see
//! it: the TCP peer, unless the peer is a trusted proxy; then the first
//! untrusted address of `Forwarded` (RFC 7239 `for=`) or `X-Forwarded-For`,
//! read right to left past trusted hops (the hops a client wrote itself are
//! further left, where the reading has stopped).
//!
//! Anything that cannot be read (an element that is not an address, like
//! `for=unknown` or an obfuscated name, a header that is not text, a syntax
//! error) counts as the peer: never a failure of the request. A request
//! that carries both headers is believed only if both name the same
//! client, since a proxy that sets one passes the other through from the
//! client unchanged.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::Cidr;

const FORWARDED: &str = "forwarded";
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The address that `peer`'s request is counted under.
pub(crate) fn source_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded = headers
        .contains_key(FORWARDED)
        .then(|| client(hops(headers, FORWARDED, forwarded_for), &is_trusted));
    let x_forwarded_for = headers
        .contains_key(X_FORWARDED_FOR)
        .then(|| client(hops(headers, X_FORWARDED_FOR, node), &is_trusted));
    let found = match (forwarded, x_forwarded_for) {
        (Some(a), Some(b)) if a == b => a,
        (Some(_), Some(_)) => None,
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => None,
    };
    found.unwrap_or(peer)
}

/// Every hop of every field `name`, left to right; `None` for a hop whose
/// address cannot be read, and `None` for the whole if a field is not text.
fn hops(
    headers: &HeaderMap,
    name: &str,
    read: fn(&str) -> Option<IpAddr>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        hops.extend(split_outside_quotes(value, ',').into_iter().map(read));
    }
    Some(hops)
}

/// Right to left: the first hop not in the trusted set; the leftmost if all
/// are trusted; `None` if that hop cannot be read.
fn client(
    hops: Option<Vec<Option<IpAddr>>>,
    is_trusted: &impl Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    let hops = hops?;
    let mut last = None;
    for hop in hops.iter().rev() {
        let address = (*hop)?;
        if !is_trusted(address) {
            return Some(address);
        }
        last = Some(address);
    }
    last
}

/// `text` cut at each `separator` that is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The `for=` node of one RFC 7239 element (`for=192.0.2.60;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';') {
        let (name, value) = pair.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => value,
            };
            found = Some(node(value)?);
        }
    }
    found
}

/// One node: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(peer: &str, trusted: &[&str], headers: &[(&str, &[u8])]) -> String {
        let trusted: Vec<Cidr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        source_address(peer.parse().unwrap(), &map, &trusted).to_string()
    }

    const PROXY: &[&str] = &["10.0.0.0/8", "fd00::/8"];

    #[test]
    fn an_untrusted_peer_is_the_source_whatever_it_says() {
        let spoof: &[(&str, &[u8])] = &[
            ("x-forwarded-for", b"203.0.113.7"),
            ("forwarded", b"for=203.0.113.7"),
        ];
        assert_eq!(source("198.51.100.1", &[], spoof), "198.51.100.1");
        assert_eq!(source("198.51.100.1", PROXY, spoof), "198.51.100.1");
        assert_eq!(source("10.0.0.1", &[], spoof), "10.0.0.1");
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right() {
        let xff = |v: &'static [u8]| source("10.0.0.1", PROXY, &[("x-forwarded-for", v)]);
        assert_eq!(xff(b"203.0.113.7"), "203.0.113.7");
        assert_eq!(xff(b"1.1.1.1, 203.0.113.7, 10.0.0.9"), "203.0.113.7");
        assert_eq!(xff(b"10.0.0.3, 10.0.0.2"), "10.0.0.3", "all trusted");
        assert_eq!(xff(b"2001:db8::5"), "2001:db8::5");
        assert_eq!(xff(b"[2001:db8::5]:443, fd00::1"), "2001:db8::5");
        assert_eq!(xff(b"192.0.2.1:5555"), "192.0.2.1");
        // What the client wrote left of the hop its proxy added is not read.
        assert_eq!(xff(b"garbage, 203.0.113.7"), "203.0.113.7");
        let fwd = |v: &'static [u8]| source("fd00::1", PROXY, &[("forwarded", v)]);
        assert_eq!(fwd(b"for=192.0.2.60;proto=https;by=10.0.0.1"), "192.0.2.60");
        assert_eq!(
            fwd(b"For=\"[2001:db8:cafe::17]:4711\""),
            "2001:db8:cafe::17"
        );
        assert_eq!(
            fwd(b"for=1.2.3.4, for=192.0.2.43, for=10.1.1.1"),
            "192.0.2.43"
        );
        assert_eq!(fwd(b"for=\"_x,y\", for=192.0.2.43"), "192.0.2.43");
        // Several fields are one list, in order.
        assert_eq!(
            source(
                "10.0.0.1",
                PROXY,
                &[
                    ("x-forwarded-for", b"192.0.2.1"),
                    ("x-forwarded-for", b"10.0.0.5")
                ]
            ),
            "192.0.2.1"
        );
    }

    #[test]
    fn what_cannot_be_read_counts_as_the_peer() {
        let xff = |v: &'static [u8]| source("10.0.0.1", PROXY, &[("x-forwarded-for", v)]);
        for bad in [
            &b""[..],
            b"unknown",
            b"203.0.113.7, nonsense",
            b"1.2.3.4,",
            b"\xff\xfe",
        ] {
            assert_eq!(xff(bad), "10.0.0.1", "{}", String::from_utf8_lossy(bad));
        }
        let fwd = |v: &'static [u8]| source("10.0.0.1", PROXY, &[("forwarded", v)]);
        for bad in [
            &b"for=unknown"[..],
            b"for=_hidden",
            b"proto=https",
            b"for=192.0.2.1;for=192.0.2.2",
            b"for=\"192.0.2.1",
            b"for",
            b"for=[2001:db8::1",
        ] {
            assert_eq!(fwd(bad), "10.0.0.1", "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn both_headers_count_only_when_they_agree() {
        let both = |f: &'static [u8], x: &'static [u8]| {
            source(
                "10.0.0.1",
                PROXY,
                &[("forwarded", f), ("x-forwarded-for", x)],
            )
        };
        assert_eq!(both(b"for=192.0.2.1", b"192.0.2.1"), "192.0.2.1");
        assert_eq!(both(b"for=192.0.2.1", b"192.0.2.2"), "10.0.0.1");
    }
}

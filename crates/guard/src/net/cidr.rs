//! [`Cidr`]: an IP network (the issuer's trusted proxies, the networks an
//! [`AddressPolicy`](super::AddressPolicy) lets through anyway).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or
/// one address (`192.0.2.1`, a /32 or /128). IPv4-mapped IPv6 addresses
/// match as the IPv4 address they carry.
///
/// ```
/// use m2m_guard::net::Cidr;
/// let net: Cidr = "10.1.0.0/16".parse()?;
/// assert!(net.contains("10.1.200.3".parse()?));
/// assert!(net.contains("::ffff:10.1.0.9".parse()?));
/// assert!(!net.contains("10.2.0.1".parse()?));
/// assert_eq!(net.to_string(), "10.1.0.0/16");
/// assert!("10.1.0.0/33".parse::<Cidr>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `address` is in this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask32(a.to_bits(), self.prefix) == net.to_bits(),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask128(a.to_bits(), self.prefix) == net.to_bits(),
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 as IPv4, anything else as is.
pub(crate) fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn mask32(bits: u32, prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix))
        .map_or(0, |mask| bits & mask)
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix))
        .map_or(0, |mask| bits & mask)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A string that is not an IP address or network in CIDR notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCidr(String);

impl fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an IP address or a network like 10.0.0.0/8 or fd00::/8",
            self.0
        )
    }
}

impl std::error::Error for InvalidCidr {}

impl FromStr for Cidr {
    type Err = InvalidCidr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidCidr(text.chars().take(64).collect());
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let written = address.parse::<IpAddr>().map_err(|_| invalid())?;
        let max = if written.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
            Some(_) => return Err(invalid()),
        };
        // `::ffff:a.b.c.d/n` is the IPv4 network a.b.c.d/(n - 96).
        let address = canonical(written);
        let prefix = match (written, address) {
            (IpAddr::V6(_), IpAddr::V4(_)) => prefix.checked_sub(96).ok_or_else(invalid)?,
            _ => prefix,
        };
        let network = match address {
            IpAddr::V4(a) => IpAddr::V4(mask32(a.to_bits(), prefix).into()),
            IpAddr::V6(a) => IpAddr::V6(mask128(a.to_bits(), prefix).into()),
        };
        Ok(Cidr { network, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_match_their_addresses_only() {
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
        assert!(cidr("192.0.2.1").contains(ip("192.0.2.1")));
        assert!(!cidr("192.0.2.1").contains(ip("192.0.2.2")));
        assert!(cidr("192.0.2.1").contains(ip("::ffff:192.0.2.1")));
        assert!(cidr("::ffff:192.0.2.0/120").contains(ip("192.0.2.77")));
        assert_eq!(cidr("::ffff:192.0.2.0/120").to_string(), "192.0.2.0/24");
        assert!("::ffff:192.0.2.0/95".parse::<Cidr>().is_err());
        assert!(cidr("fd00::/8").contains(ip("fdab::1")));
        assert!(!cidr("fd00::/8").contains(ip("fe80::1")));
        assert!(cidr("2001:db8:1::/48").contains(ip("2001:db8:1:ffff::1")));
        assert!(!cidr("2001:db8:1::/48").contains(ip("2001:db8:2::1")));
        assert_eq!(cidr("10.9.8.7/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr(" ::1 ").to_string(), "::1/128");
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0/8",
            "host",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let message = "nope/1".parse::<Cidr>().unwrap_err().to_string();
        assert!(message.contains("\"nope/1\""), "{message}");
    }
}

//! [`reserved_range`]: the special-purpose ranges (RFC 6890 and the IANA
//! special-purpose registries) that an outgoing request must not reach
//! unless the operator allows them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose address range: not a public host on the Internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReservedRange {
    /// `0.0.0.0/8` ("this network", `0.0.0.0` among it) and `::`.
    Unspecified,
    /// `127.0.0.0/8` and `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), unique local
    /// `fc00::/7` and the deprecated site-local `fec0::/10`.
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16` and `fe80::/10`.
    LinkLocal,
    /// The cloud instance-metadata endpoints `169.254.169.254` and
    /// `fd00:ec2::254`.
    CloudMetadata,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15` (RFC 2544).
    Benchmarking,
    /// Any other special-purpose range: `192.0.0.0/24`, `192.88.99.0/24`,
    /// `240.0.0.0/4`, `::/96`, `64:ff9b:1::/48`, `100::/64`, `2001::/23`.
    Reserved,
}

impl ReservedRange {
    /// A short name for error messages (`"a private address"`).
    pub fn describe(self) -> &'static str {
        match self {
            ReservedRange::Unspecified => "an unspecified address",
            ReservedRange::Loopback => "a loopback address",
            ReservedRange::Private => "a private address",
            ReservedRange::SharedAddressSpace => "a carrier-grade NAT address",
            ReservedRange::LinkLocal => "a link-local address",
            ReservedRange::CloudMetadata => "a cloud metadata address",
            ReservedRange::Multicast => "a multicast address",
            ReservedRange::Broadcast => "the broadcast address",
            ReservedRange::Documentation => "a documentation address",
            ReservedRange::Benchmarking => "a benchmarking address",
            ReservedRange::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for ReservedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The special-purpose range `address` is in, or `None` for an ordinary
/// public address. IPv6 forms that carry an IPv4 address (IPv4-mapped
/// `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`)
/// are judged by the IPv4 address they carry.
///
/// ```
/// use m2m_guard::net::{ReservedRange, reserved_range};
/// assert_eq!(reserved_range("10.1.2.3".parse()?), Some(ReservedRange::Private));
/// assert_eq!(reserved_range("::ffff:127.0.0.1".parse()?), Some(ReservedRange::Loopback));
/// assert_eq!(reserved_range("93.184.215.14".parse()?), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reserved_range(address: IpAddr) -> Option<ReservedRange> {
    match address {
        IpAddr::V4(v4) => reserved_v4(v4),
        IpAddr::V6(v6) => reserved_v6(v6),
    }
}

fn in_v4(address: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    address.to_bits() & mask == u32::from_be_bytes(network) & mask
}

fn reserved_v4(a: Ipv4Addr) -> Option<ReservedRange> {
    use ReservedRange::*;
    let table: &[([u8; 4], u32, ReservedRange)] = &[
        ([169, 254, 169, 254], 32, CloudMetadata),
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    table
        .iter()
        .find(|(network, prefix, _)| in_v4(a, *network, *prefix))
        .map(|(_, _, range)| *range)
}

fn in_v6(address: Ipv6Addr, network: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    address.to_bits() & mask == network.to_bits() & mask
}

fn reserved_v6(a: Ipv6Addr) -> Option<ReservedRange> {
    use ReservedRange::*;
    let bits = a.to_bits();
    // Forms that carry an IPv4 address are judged by it.
    if let Some(v4) = a.to_ipv4_mapped() {
        return reserved_v4(v4);
    }
    if in_v6(a, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return reserved_v4(Ipv4Addr::from_bits(bits as u32));
    }
    if in_v6(a, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return reserved_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    if a.is_unspecified() {
        return Some(Unspecified);
    }
    if a.is_loopback() {
        return Some(Loopback);
    }
    let table: &[(Ipv6Addr, u32, ReservedRange)] = &[
        (
            Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
            128,
            CloudMetadata,
        ),
        // IPv4-compatible (deprecated), `::a.b.c.d`.
        (Ipv6Addr::UNSPECIFIED, 96, Reserved),
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Reserved),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Reserved),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Documentation,
        ),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, Reserved),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            Documentation,
        ),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Private),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Private),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
    ];
    table
        .iter()
        .find(|(network, prefix, _)| in_v6(a, *network, *prefix))
        .map(|(_, _, range)| *range)
}

#[cfg(test)]
mod tests {
    use super::ReservedRange::*;
    use super::*;

    fn range(text: &str) -> Option<ReservedRange> {
        reserved_range(text.parse().unwrap_or_else(|_| panic!("{text}")))
    }

    #[test]
    fn every_ipv4_range_is_named() {
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.255.1.2", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.254", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", CloudMetadata),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("192.88.99.1", Reserved),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (address, expected) in cases {
            assert_eq!(range(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn public_ipv4_neighbours_of_the_ranges_pass() {
        for address in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert_eq!(range(address), None, "{address}");
        }
    }

    #[test]
    fn every_ipv6_range_is_named() {
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::2", Reserved),
            ("::7f00:1", Reserved),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fd00:ec2::254", CloudMetadata),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001::1", Reserved),
            ("2001:2::1", Reserved),
            ("100::1", Reserved),
            ("64:ff9b:1::1", Reserved),
        ];
        for (address, expected) in cases {
            assert_eq!(range(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:172.16.5.4", Private),
            ("::ffff:192.168.0.1", Private),
            ("::ffff:100.64.0.1", SharedAddressSpace),
            ("::ffff:169.254.169.254", CloudMetadata),
            ("::ffff:169.254.1.1", LinkLocal),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:224.0.0.1", Multicast),
            ("::ffff:255.255.255.255", Broadcast),
            ("::ffff:192.0.2.1", Documentation),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", CloudMetadata),
            ("2002:7f00:1::", Loopback),
            ("2002:a00:1::1", Private),
        ];
        for (address, expected) in cases {
            assert_eq!(range(address), Some(expected), "{address}");
        }
        assert_eq!(range("::ffff:93.184.215.14"), None);
        assert_eq!(range("64:ff9b::5db8:d70e"), None);
    }

    #[test]
    fn public_ipv6_passes() {
        for address in ["2606:4700::1111", "2a00:1450:4001::200e", "2001:200::1"] {
            assert_eq!(range(address), None, "{address}");
        }
    }
}

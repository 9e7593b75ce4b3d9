//! [`AddressPolicy`]: public addresses only, but for the operator's
//! allow-list.

use std::fmt;
use std::net::IpAddr;

use super::cidr::Cidr;
use super::reserved::{ReservedRange, reserved_range};

/// Which addresses a fetch may connect to: every public address, and the
/// special-purpose ones ([`reserved_range`]) only when they are in one of
/// the allowed networks (for tests and private deployments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<Cidr>,
}

impl AddressPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        AddressPolicy::default()
    }

    /// Also lets through the addresses of `networks`, whatever range they are in.
    #[must_use]
    pub fn allow(mut self, networks: impl IntoIterator<Item = Cidr>) -> Self {
        self.allowed.extend(networks);
        self
    }

    /// The networks let through although reserved.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allowed
    }

    /// Whether a connection to `address` is allowed.
    pub fn check(&self, address: IpAddr) -> Result<(), BlockedAddress> {
        match reserved_range(address) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|net| net.contains(address)) => Ok(()),
            Some(range) => Err(BlockedAddress { address, range }),
        }
    }
}

/// A fetch was refused because the host is, or resolves to, an address the
/// [`AddressPolicy`] does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedAddress {
    address: IpAddr,
    range: ReservedRange,
}

impl BlockedAddress {
    /// The refused address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The range it is in.
    pub fn range(&self) -> ReservedRange {
        self.range
    }
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.address, self.range)
    }
}

impl std::error::Error for BlockedAddress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_networks_let_reserved_addresses_through_and_only_them() {
        let policy = AddressPolicy::public_only();
        assert!(policy.check("8.8.8.8".parse().unwrap()).is_ok());
        let refused = policy.check("10.1.1.1".parse().unwrap()).unwrap_err();
        assert_eq!(refused.range(), ReservedRange::Private);
        assert_eq!(refused.to_string(), "10.1.1.1 is a private address");

        let policy = policy.allow(["10.1.0.0/16".parse().unwrap()]);
        assert!(policy.check("10.1.1.1".parse().unwrap()).is_ok());
        assert!(policy.check("::ffff:10.1.1.1".parse().unwrap()).is_ok());
        assert!(policy.check("10.2.1.1".parse().unwrap()).is_err());
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_err());
    }
}

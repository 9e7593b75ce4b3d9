//! Which IP addresses an outgoing request may reach: the SSRF rules of
//! every fetch whose URL comes from outside the operator's configuration
//! (the issuer's Client ID Metadata Documents, a client's `jwks_uri`).
//!
//! - [`reserved_range`] names the special-purpose range an address is in
//!   (loopback, private, link-local, CGNAT, cloud metadata, documentation,
//!   multicast, ...), looking through IPv4-mapped, IPv4-compatible, NAT64
//!   and 6to4 IPv6 forms to the IPv4 address they carry.
//! - An [`AddressPolicy`] refuses every such address except those in the
//!   operator's allow-list of [`Cidr`]s.
//! - A [`Fetcher`](crate::fetch::Fetcher) built with a policy resolves
//!   names itself, checks every address an answer holds, and connects only
//!   to those (no second resolution, so no DNS rebinding); an IP-literal
//!   host is checked the same way.
//!
//! ```
//! use m2m_guard::net::{AddressPolicy, ReservedRange};
//! let policy = AddressPolicy::public_only();
//! assert!(policy.check("203.0.114.7".parse()?).is_ok());
//! let refused = policy.check("::ffff:169.254.169.254".parse()?).unwrap_err();
//! assert_eq!(refused.range(), ReservedRange::CloudMetadata);
//!
//! let tests = AddressPolicy::public_only().allow(["127.0.0.0/8".parse()?]);
//! assert!(tests.check("127.0.0.1".parse()?).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cidr;
mod policy;
mod reserved;

pub use cidr::{Cidr, InvalidCidr};
pub use policy::{AddressPolicy, BlockedAddress};
pub use reserved::{ReservedRange, reserved_range};

//! OAuth scopes (RFC 6749 §3.3): one validated [`Scope`], an ordered [`ScopeSet`],
//! and the [`ScopeRequirement`] a route places on a token.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest scope we accept, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;

/// One scope: 1 to 128 printable ASCII characters, excluding space, `"` and `\`.
///
/// By convention scopes read `resource:action`, such as `invoices:read`.
///
/// ```
/// use m2m_core::Scope;
/// let scope: Scope = "invoices:read".parse()?;
/// assert_eq!(scope.as_str(), "invoices:read");
/// assert!("has space".parse::<Scope>().is_err());
/// # Ok::<(), m2m_core::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(Box<str>);

impl Scope {
    /// Validates and wraps a scope.
    pub fn new(text: impl AsRef<str>) -> Result<Self, ScopeError> {
        let text = text.as_ref();
        if text.is_empty() {
            return Err(ScopeError::Empty);
        }
        if text.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong { len: text.len() });
        }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if let Some(bad) = text
            .bytes()
            .find(|&b| !matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        {
            return Err(ScopeError::InvalidCharacter { byte: bad });
        }
        Ok(Scope(text.into()))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::new(s)
    }
}

impl TryFrom<&str> for Scope {
    type Error = ScopeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Scope::new(s)
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Scope::new(s)
    }
}

impl std::borrow::Borrow<str> for Scope {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scope::new(&*text).map_err(serde::de::Error::custom)
    }
}

/// Why a scope was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope is the empty string.
    Empty,
    /// The scope is longer than [`MAX_SCOPE_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The scope holds a byte outside printable ASCII, or a space, `"` or `\`.
    InvalidCharacter {
        /// The first offending byte.
        byte: u8,
    },
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Empty => f.write_str("scope is empty"),
            ScopeError::TooLong { len } => {
                write!(f, "scope is {len} bytes long; the limit is {MAX_SCOPE_LEN}")
            }
            ScopeError::InvalidCharacter { byte } => write!(
                f,
                "scope contains byte 0x{byte:02x}; only printable ASCII other than space, '\"' and '\\' is allowed"
            ),
        }
    }
}

impl std::error::Error for ScopeError {}

/// An ordered, deduplicated set of scopes.
///
/// Its text form is the space-delimited `scope` string of RFC 6749 §3.3; it
/// serializes as that string (use [`ScopeSet::to_vec`] for the `scopes` array).
///
/// ```
/// use m2m_core::ScopeSet;
/// let granted: ScopeSet = "invoices:write invoices:read invoices:read".parse()?;
/// assert_eq!(granted.to_string(), "invoices:read invoices:write");
/// assert!(granted.contains("invoices:read"));
/// assert!("invoices:read".parse::<ScopeSet>()?.is_subset(&granted));
/// # Ok::<(), m2m_core::ScopeError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        ScopeSet(BTreeSet::new())
    }

    /// Parses the space-delimited form. Runs of spaces are tolerated; an empty string is the empty set.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        text.split(' ')
            .filter(|part| !part.is_empty())
            .map(Scope::new)
            .collect()
    }

    /// Adds a scope; returns whether it was new.
    pub fn insert(&mut self, scope: Scope) -> bool {
        self.0.insert(scope)
    }

    /// Whether the set holds the scope named `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that are not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.difference(&other.0).cloned().collect())
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The scopes as strings, in order: the `scopes` claim array.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScopeSet::parse(s)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::collections::btree_set::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(deserializer)?;
        ScopeSet::parse(&text.0).map_err(serde::de::Error::custom)
    }
}

/// A JSON string borrowed from the input when it holds no escapes, else
/// owned. (`Cow<str>`'s own `Deserialize` always copies.) Claims are read
/// on every verification, so a copy saved is an allocation saved per token.
pub(crate) struct Text<'a>(pub(crate) std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// What a route demands of a token's scopes.
///
/// ```
/// use m2m_core::{ScopeRequirement, ScopeSet};
/// let granted: ScopeSet = "invoices:read".parse()?;
/// assert!(ScopeRequirement::any_of(["invoices:read", "invoices:admin"])?.is_met_by(&granted));
/// assert!(!ScopeRequirement::all_of(["invoices:read", "invoices:admin"])?.is_met_by(&granted));
/// # Ok::<(), m2m_core::ScopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequirement {
    /// Every scope listed must be granted. An empty list is always met.
    AllOf(ScopeSet),
    /// At least one scope listed must be granted. An empty list is never met.
    AnyOf(ScopeSet),
}

impl ScopeRequirement {
    /// Requires every one of `scopes`.
    pub fn all_of<I, S>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(ScopeRequirement::AllOf(collect(scopes)?))
    }

    /// Requires at least one of `scopes`.
    pub fn any_of<I, S>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(ScopeRequirement::AnyOf(collect(scopes)?))
    }

    /// Whether `granted` satisfies the requirement.
    pub fn is_met_by(&self, granted: &ScopeSet) -> bool {
        match self {
            ScopeRequirement::AllOf(needed) => needed.is_subset(granted),
            ScopeRequirement::AnyOf(options) => options.iter().any(|s| granted.0.contains(s)),
        }
    }

    /// The scopes named by the requirement (for the `scope` parameter of an
    /// `insufficient_scope` challenge, RFC 6750 §3).
    pub fn scopes(&self) -> &ScopeSet {
        match self {
            ScopeRequirement::AllOf(s) | ScopeRequirement::AnyOf(s) => s,
        }
    }
}

fn collect<I, S>(scopes: I) -> Result<ScopeSet, ScopeError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    scopes.into_iter().map(Scope::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_syntax() {
        assert!(Scope::new("a").is_ok());
        assert!(Scope::new("!#[]~").is_ok());
        assert_eq!(Scope::new(""), Err(ScopeError::Empty));
        assert_eq!(
            Scope::new("x".repeat(129)),
            Err(ScopeError::TooLong { len: 129 })
        );
        assert!(Scope::new("x".repeat(128)).is_ok());
        for bad in ["a b", "a\"b", "a\\b", "é", "a\tb", "a\u{7f}"] {
            assert!(
                matches!(Scope::new(bad), Err(ScopeError::InvalidCharacter { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn set_orders_and_dedups() {
        let set = ScopeSet::parse("  b a  b ").unwrap();
        assert_eq!(set.to_string(), "a b");
        assert_eq!(set.to_vec(), vec!["a", "b"]);
        assert!(ScopeSet::parse("").unwrap().is_empty());
        assert!(ScopeSet::parse("ok a\"b").is_err());
    }

    #[test]
    fn requirements() {
        let granted = ScopeSet::parse("a b").unwrap();
        assert!(
            ScopeRequirement::all_of(["a", "b"])
                .unwrap()
                .is_met_by(&granted)
        );
        assert!(
            !ScopeRequirement::all_of(["a", "c"])
                .unwrap()
                .is_met_by(&granted)
        );
        assert!(
            ScopeRequirement::any_of(["c", "b"])
                .unwrap()
                .is_met_by(&granted)
        );
        assert!(!ScopeRequirement::any_of(["c"]).unwrap().is_met_by(&granted));
        assert!(
            !ScopeRequirement::any_of::<_, &str>([])
                .unwrap()
                .is_met_by(&granted)
        );
        assert!(
            ScopeRequirement::all_of::<_, &str>([])
                .unwrap()
                .is_met_by(&granted)
        );
    }
}

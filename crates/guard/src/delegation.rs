//! How long a delegation chain a route accepts: the one place the `act`
//! depth of a token (RFC 8693 §4.1) is held against a route's limit, set by
//! [`RequireScopesLayer::direct_only`](crate::RequireScopesLayer::direct_only)
//! and [`RequireScopesLayer::max_delegation_depth`](crate::RequireScopesLayer::max_delegation_depth).

use crate::challenge::Rejection;
use crate::extract::Auth;

/// The deepest delegation chain a route accepts; `None`: any chain the token
/// format allows (m2m-core refuses chains deeper than
/// [`MAX_DELEGATION_DEPTH`](m2m_core::MAX_DELEGATION_DEPTH) when it reads a
/// token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DelegationLimit(Option<usize>);

impl DelegationLimit {
    /// This limit, tightened to `max`: the stricter of the two holds.
    pub(crate) fn at_most(self, max: usize) -> Self {
        DelegationLimit(Some(self.0.map_or(max, |held| held.min(max))))
    }

    /// Refuses a token whose chain is deeper than the limit. Runs on every
    /// request, from the cache or not: it reads the verified claims only.
    #[inline]
    pub(crate) fn check(self, auth: &Auth) -> Result<(), Rejection> {
        let Some(max) = self.0 else {
            return Ok(());
        };
        let depth = auth.delegation_depth();
        if depth > max {
            Err(Rejection::DelegationTooDeep { depth, max })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_limit_holds() {
        let limit = DelegationLimit::default().at_most(3).at_most(1).at_most(2);
        assert_eq!(limit, DelegationLimit(Some(1)));
        assert_eq!(DelegationLimit::default(), DelegationLimit(None));
    }
}

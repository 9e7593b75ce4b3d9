//! What every service of one layer shares: the verifier, the responder and
//! the policy, behind one `Arc` (one reference count per request, however
//! many parts).

use std::fmt;
use std::sync::Arc;

use crate::challenge::Responder;
use crate::verifier::Verifier;

pub(super) struct Shared<P> {
    pub(super) verifier: Arc<Verifier>,
    pub(super) responder: Arc<Responder>,
    pub(super) policy: P,
}

impl<P> fmt::Debug for Shared<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("verifier", &self.verifier)
            .field("responder", &self.responder)
            .field("policy", &std::any::type_name::<P>())
            .finish()
    }
}

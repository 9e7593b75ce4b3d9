//! Property tests: scope text round-trips, and verify never panics.

use m2m_core::{Algorithm, ScopeSet, sign};
use proptest::prelude::*;

use crate::common::*;

/// One valid scope: 1-128 chars from %x21 / %x23-5B / %x5D-7E.
fn scope() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[!#-\\[\\]-~]{1,128}").unwrap()
}

proptest! {
    #[test]
    fn scope_sets_round_trip(scopes in proptest::collection::vec(scope(), 0..12)) {
        let text = scopes.join(" ");
        let set = ScopeSet::parse(&text).unwrap();
        let printed = set.to_string();
        prop_assert_eq!(ScopeSet::parse(&printed).unwrap(), set.clone());
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set.clone());
        for s in &scopes {
            prop_assert!(set.contains(s));
        }
    }

    #[test]
    fn scope_parse_never_panics(text in ".{0,300}") {
        let _ = ScopeSet::parse(&text);
    }

    #[test]
    fn verify_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let key = key(Algorithm::ES256);
        let keys = keys_of(&key);
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(validation().verify(&text, &keys, NOW).is_err());
    }

    #[test]
    fn verify_never_panics_on_damaged_tokens(pos in 0usize..1000, byte in any::<u8>()) {
        let key = key(Algorithm::EdDSA);
        let keys = keys_of(&key);
        let token = sign(&key, &claims()).unwrap();
        let mut bytes = token.clone().into_bytes();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let damaged = String::from_utf8_lossy(&bytes).into_owned();
        let result = validation().verify(&damaged, &keys, NOW);
        if damaged != token {
            prop_assert!(result.is_err(), "damaged token accepted: {}", damaged);
        }
    }
}

//! Property tests: scope text round-trips, verify never panics on bytes or
//! damaged tokens, and structure-aware tokens (hostile JSON headers and
//! claims, signed with the fixture keys) are refused or satisfy the validation.

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

// ---------------------------------------------------------------------------
// Structure-aware properties: tokens built as base64url(JSON header) .
// base64url(JSON claims) . base64url(signature), with hostile values of every
// JSON type in every member. Random bytes almost never decode to a JSON
// header, so the properties above cannot reach the header and claim checks;
// these do (a header `alg` holding a multi-byte character once panicked the
// verifier, and only a generator like this one finds that).
// ---------------------------------------------------------------------------

mod structured {
    use std::sync::OnceLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use m2m_core::{
        AccessTokenClaims, Algorithm, KeySet, MAX_SCOPE_LEN, ScopeSet, SigningKey, Validation,
        VerifyError, sign,
    };
    use proptest::prelude::*;
    use proptest::sample::select;

    use crate::common::*;

    /// The three fixture keys, and the key sets a verifier may hold.
    struct Keys {
        signing: Vec<SigningKey>,
        /// All three keys: a token must name its key by `kid`.
        all: KeySet,
        /// Only the first key: a token may omit `kid`.
        single: KeySet,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let signing: Vec<SigningKey> = ALGS.into_iter().map(key).collect();
            let all = KeySet::from_keys(signing.iter().map(SigningKey::verifying_key));
            let single = KeySet::from_keys([signing[0].verifying_key()]);
            Keys {
                signing,
                all,
                single,
            }
        })
    }

    /// Member names a verifier reads or refuses, so generated objects hit them.
    const FIELDS: &[&str] = &[
        "alg",
        "kid",
        "typ",
        "crit",
        "jku",
        "jwk",
        "x5u",
        "x5c",
        "iss",
        "aud",
        "exp",
        "nbf",
        "iat",
        "sub",
        "client_id",
        "oid",
        "uid",
        "scope",
        "scopes",
        "jti",
    ];

    /// Characters that break byte-oriented code: 2-, 3- and 4-byte UTF-8,
    /// NUL, controls, bidi overrides, a BOM, JSON's own metacharacters, and
    /// characters whose case mapping changes their length.
    const NASTY: &[char] = &[
        'é',
        '€',
        '𝄞',
        '\u{0}',
        '\u{1f}',
        '\u{7f}',
        '\u{202e}',
        '\u{feff}',
        '\u{fffd}',
        '"',
        '\\',
        '/',
        ' ',
        'İ',
        'ß',
        '\u{212a}',
        'ǅ',
        '\u{10ffff}',
    ];

    /// Words the verifier compares against, so mutations of them get deep.
    fn known_word() -> impl Strategy<Value = String> {
        let kids: Vec<String> = keys().signing.iter().map(|k| k.kid().to_owned()).collect();
        prop_oneof![
            select(vec![
                "EdDSA",
                "ES256",
                "RS256",
                "none",
                "None",
                "nOnE",
                "HS256",
                "hs512",
                "HS",
                "H",
                "",
                "at+jwt",
                "AT+JWT",
                "application/at+jwt",
                "application/",
                "JWT",
                ISS,
                AUD,
                "invoices:read",
                "m2m_a",
            ])
            .prop_map(str::to_owned),
            select(kids),
        ]
    }

    /// A hostile string: a known word with a nasty character inserted at,
    /// or replacing the character at, any position; arbitrary unicode; or
    /// a known word as is.
    fn hostile_str() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (known_word(), any::<prop::sample::Index>(), select(NASTY), any::<bool>()).prop_map(
                |(word, at, nasty, replace)| {
                    let mut chars: Vec<char> = word.chars().collect();
                    let at = at.index(chars.len() + 1);
                    if replace && at < chars.len() {
                        chars[at] = nasty;
                    } else {
                        chars.insert(at, nasty);
                    }
                    chars.into_iter().collect()
                }
            ),
            2 => known_word(),
            2 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
        ]
    }

    /// A JSON number written as text: huge, negative, fractional, with an
    /// exponent, `-0`, leading zeros (invalid JSON), out of f64 range.
    fn raw_number() -> impl Strategy<Value = String> {
        prop_oneof![
            "-?[0-9]{1,400}",
            "-?[0-9]{1,20}(\\.[0-9]{1,20})?[eE][+-]?[0-9]{1,4}",
            "-?[0-9]{1,3}\\.[0-9]{1,30}",
            select(vec![
                "-0",
                "0",
                "00",
                "1e400",
                "-1e400",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775809",
                "1700003600.0",
                "1.7000036e9",
                "17000036e2",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// A JSON value of any type, rendered as text so that duplicate members
    /// and numbers outside every Rust type survive.
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            1 => Just("null".to_owned()),
            1 => any::<bool>().prop_map(|b| b.to_string()),
            1 => any::<i64>().prop_map(|i| i.to_string()),
            1 => any::<u64>().prop_map(|u| u.to_string()),
            1 => any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
            1 => (NOW - 10_000..NOW + 10_000).prop_map(|t| t.to_string()),
            1 => raw_number(),
            2 => hostile_str().prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                members(inner).prop_map(|m| object(&[], &m)),
            ]
        })
    }

    /// A member name: mostly one the verifier knows, else hostile text.
    fn member_name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => select(FIELDS).prop_map(str::to_owned),
            1 => hostile_str(),
        ]
    }

    /// `(name, raw JSON value)` pairs; names may repeat.
    fn members(
        value: impl Strategy<Value = String>,
    ) -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec((member_name(), value), 0..5)
    }

    /// A JSON object from members written verbatim: duplicates stay duplicates.
    fn object(base: &[(String, String)], extra: &[(String, String)]) -> String {
        let body: Vec<String> = base
            .iter()
            .chain(extra)
            .map(|(name, value)| format!("{}:{value}", serde_json::to_string(name).unwrap()))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    /// A well-formed claims set around NOW, so that acceptance depends on
    /// the times, issuer and audience.
    #[derive(Debug, Clone)]
    struct BaseClaims {
        iss: String,
        aud: Vec<String>,
        aud_as_array: bool,
        exp: u64,
        nbf: Option<u64>,
        iat: u64,
        scope: String,
    }

    fn base_claims() -> impl Strategy<Value = BaseClaims> {
        // Verifiers run at NOW ± 1 h: most tokens are current, some not.
        let issued = NOW - 7_200..NOW + 1_800;
        (
            prop_oneof![5 => Just(ISS.to_owned()), 1 => hostile_str()],
            prop_oneof![
                4 => Just(vec![AUD.to_owned()]),
                1 => prop::collection::vec(prop_oneof![2 => Just(AUD.to_owned()), 1 => hostile_str()], 0..3),
            ],
            any::<bool>(),
            NOW - 1_800..NOW + 7_200,
            proptest::option::of(issued.clone()),
            issued,
            prop_oneof![
                5 => proptest::string::string_regex("[!#-\\[\\]-~]{1,20}( [!#-\\[\\]-~]{1,20}){0,3}").unwrap(),
                1 => hostile_str(),
            ],
        )
            .prop_map(|(iss, aud, aud_as_array, exp, nbf, iat, scope)| BaseClaims {
                iss,
                aud,
                aud_as_array,
                exp,
                nbf,
                iat,
                scope,
            })
    }

    impl BaseClaims {
        fn members(&self) -> Vec<(String, String)> {
            let s = |v: &str| serde_json::to_string(v).unwrap();
            let aud = if self.aud_as_array || self.aud.len() != 1 {
                serde_json::to_string(&self.aud).unwrap()
            } else {
                s(&self.aud[0])
            };
            let mut m = vec![
                ("iss".to_owned(), s(&self.iss)),
                ("sub".to_owned(), s("m2m_a")),
                ("client_id".to_owned(), s("m2m_a")),
                ("aud".to_owned(), aud),
                ("exp".to_owned(), self.exp.to_string()),
                ("iat".to_owned(), self.iat.to_string()),
                ("jti".to_owned(), s("j1")),
                ("scope".to_owned(), s(&self.scope)),
            ];
            if let Some(nbf) = self.nbf {
                m.push(("nbf".to_owned(), nbf.to_string()));
            }
            m
        }

        /// Whether a verifier at `now` with `validation`'s defaults accepts
        /// these claims, worked out independently of the library.
        fn acceptable(&self, now: u64, any_audience: bool) -> bool {
            let leeway = m2m_core::DEFAULT_LEEWAY_SECS;
            let scope_ok = self
                .scope
                .split(' ')
                .filter(|p| !p.is_empty())
                .all(scope_token_ok);
            self.exp + leeway > now
                && self.nbf.is_none_or(|nbf| nbf <= now + leeway)
                && self.iat <= now + leeway
                && self.iss == ISS
                && (any_audience || self.aud.iter().any(|a| a == AUD))
                && scope_ok
        }
    }

    /// RFC 6749 §3.3 scope-token, written out here rather than borrowed.
    fn scope_token_ok(part: &str) -> bool {
        !part.is_empty()
            && part.len() <= MAX_SCOPE_LEN
            && part
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    }

    #[derive(Debug, Clone)]
    enum Sig {
        /// Signed over the produced header.payload with the key the header names.
        Own,
        /// Signed over the produced header.payload with the key at this index.
        Real(usize),
        /// A real signature cut short.
        Truncated(usize, usize),
        /// Arbitrary bytes.
        Bytes(Vec<u8>),
    }

    /// One structured token and what the generator knows about it.
    #[derive(Debug, Clone)]
    struct Case {
        /// The index of the key whose `alg`/`kid` the base header names.
        key: usize,
        /// Start the header from `{"alg","kid","typ"}` of that key, with `alg`
        /// possibly replaced by hostile text.
        header_base: bool,
        alg_override: Option<String>,
        /// Likewise `kid` and `typ`.
        kid_override: Option<String>,
        typ_override: Option<String>,
        header_extra: Vec<(String, String)>,
        claims_base: Option<BaseClaims>,
        claims_extra: Vec<(String, String)>,
        sig: Sig,
        single_key: bool,
        /// The verifier's clock, relative to NOW.
        now: u64,
    }

    impl Case {
        fn header_members(&self) -> Vec<(String, String)> {
            let mut members = Vec::new();
            if self.header_base {
                let key = &keys().signing[self.key];
                let alg = self
                    .alg_override
                    .clone()
                    .unwrap_or_else(|| key.algorithm().as_str().to_owned());
                let s = |v: &str| serde_json::to_string(v).unwrap();
                members.push(("alg".to_owned(), s(&alg)));
                let kid = self.kid_override.as_deref().unwrap_or(key.kid());
                let typ = self.typ_override.as_deref().unwrap_or("at+jwt");
                members.push(("kid".to_owned(), s(kid)));
                members.push(("typ".to_owned(), s(typ)));
            }
            members.extend(self.header_extra.iter().cloned());
            members
        }

        fn token(&self) -> String {
            let header = object(&self.header_members(), &[]);
            let base = self
                .claims_base
                .as_ref()
                .map(BaseClaims::members)
                .unwrap_or_default();
            let claims = object(&base, &self.claims_extra);
            let mut token = format!("{}.{}", B64.encode(header), B64.encode(claims));
            let sig = match &self.sig {
                Sig::Own => keys().signing[self.key].sign(token.as_bytes()).unwrap(),
                Sig::Real(k) => keys().signing[*k].sign(token.as_bytes()).unwrap(),
                Sig::Truncated(k, len) => {
                    let mut sig = keys().signing[*k].sign(token.as_bytes()).unwrap();
                    sig.truncate(len % sig.len());
                    sig
                }
                Sig::Bytes(bytes) => bytes.clone(),
            };
            token.push('.');
            token.push_str(&B64.encode(sig));
            token
        }

        /// The string values of every header member named `name`, decoded
        /// the way a JSON reader sees them.
        fn header_strings(&self, name: &str) -> Vec<String> {
            self.header_members()
                .into_iter()
                .filter(|(n, _)| n == name)
                .filter_map(|(_, v)| serde_json::from_str::<String>(&v).ok())
                .collect()
        }
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            0..3usize,
            prop_oneof![4 => Just(true), 1 => Just(false)],
            prop_oneof![5 => Just(None), 1 => hostile_str().prop_map(Some)],
            prop_oneof![8 => Just(None), 1 => hostile_str().prop_map(Some)],
            prop_oneof![8 => Just(None), 1 => hostile_str().prop_map(Some)],
            prop_oneof![3 => Just(Vec::new()), 1 => members(json_value())],
            prop_oneof![4 => base_claims().prop_map(Some), 1 => Just(None)],
            prop_oneof![3 => Just(Vec::new()), 1 => members(json_value())],
            prop_oneof![
                6 => Just(Sig::Own),
                1 => (0..3usize).prop_map(Sig::Real),
                1 => (0..3usize, any::<usize>()).prop_map(|(k, n)| Sig::Truncated(k, n)),
                1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Sig::Bytes),
            ],
            prop_oneof![3 => Just(false), 1 => Just(true)],
            NOW - 3_600..NOW + 3_600,
        )
            .prop_map(
                |(
                    key,
                    header_base,
                    alg_override,
                    kid_override,
                    typ_override,
                    header_extra,
                    claims_base,
                    claims_extra,
                    sig,
                    single_key,
                    now,
                )| Case {
                    key,
                    header_base,
                    alg_override,
                    kid_override,
                    typ_override,
                    header_extra,
                    claims_base,
                    claims_extra,
                    sig,
                    single_key,
                    now,
                },
            )
    }

    fn is_none_alg(alg: &str) -> bool {
        alg.eq_ignore_ascii_case("none")
    }

    fn is_hmac_alg(alg: &str) -> bool {
        let bytes = alg.as_bytes();
        bytes.len() >= 2 && bytes[..2].eq_ignore_ascii_case(b"HS")
    }

    /// Checks one verification of `case` against what must hold whatever
    /// the input: refusals of `none`, HMAC and unknown keys, and, when the
    /// token is accepted, that its claims and key satisfy `validation`
    /// (`lax`: one that takes any `typ` and any audience).
    fn check(
        case: &Case,
        token: &str,
        validation: &Validation,
        lax: bool,
    ) -> Result<(), TestCaseError> {
        let keys = keys();
        let keyset = if case.single_key {
            &keys.single
        } else {
            &keys.all
        };
        let result = validation.verify(token, keyset, case.now);
        let algs = case.header_strings("alg");
        let kids = case.header_strings("kid");
        if algs.iter().any(|a| is_none_alg(a) || is_hmac_alg(a)) {
            prop_assert!(result.is_err(), "none/HMAC accepted: {:?}", algs);
        }
        if kids.iter().any(|k| !keyset.contains(k)) {
            prop_assert!(result.is_err(), "unknown kid accepted: {:?}", kids);
        }
        let Ok(verified) = result else {
            return Ok(());
        };

        // The key: the one the token names, or the only one trusted.
        let key = match &verified.kid {
            Some(kid) => {
                prop_assert!(kids.contains(kid), "verified kid {} not in header", kid);
                keys.signing
                    .iter()
                    .find(|k| k.kid() == kid)
                    .expect("a trusted kid is a fixture key")
            }
            None => {
                prop_assert!(case.single_key, "no kid accepted with several keys");
                prop_assert!(kids.is_empty());
                &keys.signing[0]
            }
        };
        prop_assert!(keyset.contains(key.kid()));
        prop_assert_eq!(algs, vec![key.algorithm().as_str().to_owned()]);
        if !lax {
            // The strict validation requires `typ` at+jwt, in either form.
            let typs = case.header_strings("typ");
            prop_assert!(
                typs.len() == 1
                    && (typs[0].eq_ignore_ascii_case("at+jwt")
                        || typs[0].eq_ignore_ascii_case("application/at+jwt")),
                "typ {:?} accepted",
                typs
            );
        }
        match &case.sig {
            Sig::Own => prop_assert_eq!(keys.signing[case.key].kid(), key.kid()),
            Sig::Real(k) => prop_assert_eq!(keys.signing[*k].kid(), key.kid()),
            other => prop_assert!(false, "accepted without a real signature: {:?}", other),
        }

        // The claims satisfy the validation, checked field by field.
        let claims = &verified.claims;
        let leeway = validation.leeway_secs();
        prop_assert!(validation.issuers().contains(&claims.iss));
        prop_assert_eq!(claims.iss.as_str(), ISS);
        if !lax {
            prop_assert!(claims.aud.contains(AUD), "audience {:?}", claims.aud);
        }
        prop_assert!(claims.exp.saturating_add(leeway) > case.now, "expired");
        prop_assert!(
            claims
                .nbf
                .is_none_or(|nbf| nbf <= case.now.saturating_add(leeway))
        );
        prop_assert!(claims.iat <= case.now.saturating_add(leeway));
        prop_assert!(validation.check_claims(claims, case.now).is_ok());

        // And they round-trip: through JSON, and through sign and verify.
        let json = serde_json::to_string(claims).unwrap();
        prop_assert_eq!(
            &serde_json::from_str::<AccessTokenClaims>(&json).unwrap(),
            claims
        );
        let resigned = sign(key, claims).unwrap();
        prop_assert_eq!(
            &validation
                .verify(&resigned, keyset, case.now)
                .unwrap()
                .claims,
            claims
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(384))]

        #[test]
        fn structured_tokens_are_refused_or_valid(case in case()) {
            let token = case.token();
            check(&case, &token, &validation(), false)?;
            check(
                &case,
                &token,
                &validation().required_typ(None).any_audience(),
                true,
            )?;
        }

        /// A token the generator made well-formed (base header with the key's
        /// own `alg`, base claims, real signature, no extra members) is
        /// accepted exactly when its times, issuer, audience and scope are
        /// acceptable: claim validation is reached, and decides.
        #[test]
        fn well_formed_tokens_are_accepted_exactly_when_valid(
            key in 0..3usize,
            claims in base_claims(),
            now in NOW - 3_600..NOW + 3_600,
        ) {
            let case = Case {
                key,
                header_base: true,
                alg_override: None,
                kid_override: None,
                typ_override: None,
                header_extra: Vec::new(),
                claims_base: Some(claims.clone()),
                claims_extra: Vec::new(),
                sig: Sig::Real(key),
                single_key: false,
                now,
            };
            let token = case.token();
            let result = validation().verify(&token, &keys().all, now);
            prop_assert_eq!(
                result.is_ok(),
                claims.acceptable(now, false),
                "{:?} for {:?}",
                result,
                claims
            );
            if let Err(e) = &result {
                prop_assert!(
                    !matches!(
                        e,
                        VerifyError::BadSignature
                            | VerifyError::UnknownKid(_)
                            | VerifyError::HeaderJson
                            | VerifyError::AlgorithmMismatch { .. }
                    ),
                    "a well-formed token failed before its claims: {:?}",
                    e
                );
            }
            check(&case, &token, &validation(), false)?;
        }

        /// The header's `alg` alone, hostile, with everything else right:
        /// never a panic, and never anything but the key's own name accepted.
        #[test]
        fn hostile_alg_is_refused_without_panic(key in 0..3usize, alg in hostile_str()) {
            let case = Case {
                key,
                header_base: true,
                alg_override: Some(alg.clone()),
                kid_override: None,
                typ_override: None,
                header_extra: Vec::new(),
                claims_base: Some(BaseClaims {
                    iss: ISS.into(),
                    aud: vec![AUD.into()],
                    aud_as_array: false,
                    exp: NOW + 3_600,
                    nbf: Some(NOW),
                    iat: NOW,
                    scope: "invoices:read".into(),
                }),
                claims_extra: Vec::new(),
                sig: Sig::Real(key),
                single_key: false,
                now: NOW,
            };
            let result = validation().verify(&case.token(), &keys().all, NOW);
            let own = keys().signing[key].algorithm();
            prop_assert_eq!(result.is_ok(), alg == own.as_str(), "{:?}", result);
            if is_none_alg(&alg) {
                prop_assert_eq!(result, Err(VerifyError::NoneAlgorithm));
            } else if is_hmac_alg(&alg) {
                prop_assert_eq!(result, Err(VerifyError::SymmetricAlgorithm));
            } else if Algorithm::from_name(&alg).is_none() {
                prop_assert_eq!(result, Err(VerifyError::UnsupportedAlgorithm(alg)));
            }
        }

        /// Claims decoding never panics on hostile objects, and whatever it
        /// accepts round-trips and satisfies the type's own rules.
        #[test]
        fn claims_decoding_never_panics_and_round_trips(
            base in proptest::option::of(base_claims()),
            extra in members(json_value()),
        ) {
            let base = base.as_ref().map(BaseClaims::members).unwrap_or_default();
            let text = object(&base, &extra);
            let Ok(claims) = serde_json::from_str::<AccessTokenClaims>(&text) else {
                return Ok(());
            };
            let value = serde_json::to_value(&claims).unwrap();
            let scopes: Vec<String> = claims.scope.to_vec();
            prop_assert_eq!(&value["scopes"], &serde_json::json!(scopes));
            let scope_text = claims.scope.to_string();
            prop_assert_eq!(value["scope"].as_str(), Some(scope_text.as_str()));
            prop_assert_eq!(serde_json::from_value::<AccessTokenClaims>(value).unwrap(), claims);
        }

        /// Scope text from valid tokens, spaces and hostile characters:
        /// parsing never panics, accepts exactly the texts whose every part
        /// is a scope-token, and round-trips what it accepts (as text and as
        /// the JSON claim).
        #[test]
        fn scope_text_is_parsed_exactly(
            parts in prop::collection::vec(
                prop_oneof![
                    3 => proptest::string::string_regex("[!#-\\[\\]-~]{1,20}").unwrap(),
                    1 => hostile_str(),
                    1 => Just(String::new()),
                    1 => proptest::string::string_regex("[a-z]{129,140}").unwrap(),
                ],
                0..8,
            ),
        ) {
            let text = parts.join(" ");
            let parsed = ScopeSet::parse(&text);
            let valid = text.split(' ').filter(|p| !p.is_empty()).all(scope_token_ok);
            prop_assert_eq!(parsed.is_ok(), valid, "{:?}", text);
            let from_json = serde_json::from_str::<ScopeSet>(&serde_json::to_string(&text).unwrap());
            prop_assert_eq!(from_json.is_ok(), valid);
            if let Ok(set) = parsed {
                for part in text.split(' ').filter(|p| !p.is_empty()) {
                    prop_assert!(set.contains(part));
                }
                prop_assert_eq!(&ScopeSet::parse(&set.to_string()).unwrap(), &set);
                prop_assert_eq!(from_json.unwrap(), set);
            }
        }

        /// A scope set read from any JSON value never panics.
        #[test]
        fn scope_set_from_any_json_never_panics(value in json_value()) {
            let _ = serde_json::from_str::<ScopeSet>(&value);
        }
    }
}

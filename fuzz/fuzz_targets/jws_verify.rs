//! JWS verification with real keys (EdDSA, ES256, RS256), fed structured
//! tokens: base64url of JSON headers and claims built from hostile values
//! (unicode, huge and negative numbers, floats, nesting, duplicate keys),
//! signed with the real key so that claims validation is reached, or with
//! a truncated or arbitrary signature; or raw bytes.
//!
//! Asserts: no panic; `none`, `HS*` and unknown `kid`s are always refused;
//! an accepted token's header `alg` is the algorithm of the key that
//! verified it.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use m2m_core::{KeySet, SigningKey, Validation};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const NOW: u64 = 1_700_000_000;

struct Keys {
    signing: Vec<SigningKey>,
    all: KeySet,
    single: KeySet,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing: Vec<SigningKey> = [
            include_str!("../../crates/core/tests/fixtures/ed25519.pem"),
            include_str!("../../crates/core/tests/fixtures/p256.pem"),
            include_str!("../../crates/core/tests/fixtures/rsa2048.pem"),
        ]
        .into_iter()
        .map(|pem| SigningKey::from_pkcs8_pem(pem).expect("fixture key"))
        .collect();
        let all = KeySet::from_keys(signing.iter().map(SigningKey::verifying_key));
        let single = KeySet::from_keys([signing[0].verifying_key()]);
        Keys {
            signing,
            all,
            single,
        }
    })
}

/// A JSON value of any type, hostile where it can be.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// A number written out as text: huge, exponent, `-0`, leading zeros...
    RawNumber(Digits),
    Str(String),
    Known(Word),
    Array(Vec<Json>),
    Object(Vec<(Key, Json)>),
}

#[derive(Arbitrary, Debug)]
struct Digits {
    negative: bool,
    digits: Vec<u8>,
    exponent: Option<i32>,
}

/// Values a verifier looks for, so the fuzzer reaches the deeper checks.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    EdDSA,
    ES256,
    RS256,
    None,
    HS256,
    AtJwt,
    AppAtJwt,
    Iss,
    Aud,
    Scope,
    Kid(u8),
}

#[derive(Arbitrary, Debug)]
enum Key {
    Field(Field),
    Other(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Alg,
    Kid,
    Typ,
    Crit,
    Jwk,
    Jku,
    X5u,
    X5c,
    Iss,
    Sub,
    ClientId,
    Aud,
    Exp,
    Iat,
    Nbf,
    Jti,
    Scope,
    Oid,
    Uid,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Alg => "alg",
            Field::Kid => "kid",
            Field::Typ => "typ",
            Field::Crit => "crit",
            Field::Jwk => "jwk",
            Field::Jku => "jku",
            Field::X5u => "x5u",
            Field::X5c => "x5c",
            Field::Iss => "iss",
            Field::Sub => "sub",
            Field::ClientId => "client_id",
            Field::Aud => "aud",
            Field::Exp => "exp",
            Field::Iat => "iat",
            Field::Nbf => "nbf",
            Field::Jti => "jti",
            Field::Scope => "scope",
            Field::Oid => "oid",
            Field::Uid => "uid",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Signature {
    /// Signed with the key at this index over the produced header.payload.
    Real(u8),
    /// A real signature cut to this many bytes.
    Truncated(u8, u16),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Input {
    Structured {
        /// Start from a valid header/claims set and add these members
        /// (raw JSON text, so duplicates stay duplicates).
        base: bool,
        header: Vec<(Key, Json)>,
        claims: Vec<(Key, Json)>,
        signature: Signature,
        single_key: bool,
    },
    Raw(Vec<u8>),
}

fn word(w: Word, keys: &Keys, out: &mut String) {
    let text: String = match w {
        Word::EdDSA => "EdDSA".into(),
        Word::ES256 => "ES256".into(),
        Word::RS256 => "RS256".into(),
        Word::None => "none".into(),
        Word::HS256 => "HS256".into(),
        Word::AtJwt => "at+jwt".into(),
        Word::AppAtJwt => "application/AT+JWT".into(),
        Word::Iss => ISS.into(),
        Word::Aud => AUD.into(),
        Word::Scope => "invoices:read".into(),
        Word::Kid(i) => keys.signing[usize::from(i) % keys.signing.len()]
            .kid()
            .to_owned(),
    };
    out.push_str(&serde_json::to_string(&text).expect("string"));
}

fn write(value: &Json, keys: &Keys, depth: usize, out: &mut String) {
    if depth > 64 {
        out.push_str("null");
        return;
    }
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Uint(u) => out.push_str(&u.to_string()),
        Json::Float(f) => out.push_str(&serde_json::to_string(f).expect("float")),
        Json::RawNumber(d) => {
            if d.negative {
                out.push('-');
            }
            if d.digits.is_empty() {
                out.push('0');
            }
            for digit in d.digits.iter().take(400) {
                out.push(char::from(b'0' + digit % 10));
            }
            if let Some(e) = d.exponent {
                out.push_str(&format!("e{e}"));
            }
        }
        Json::Str(s) => out.push_str(&serde_json::to_string(s).expect("string")),
        Json::Known(w) => word(*w, keys, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, keys, depth + 1, out);
            }
            out.push(']');
        }
        Json::Object(members) => members_into(members, keys, depth + 1, None, out),
    }
}

fn members_into(
    members: &[(Key, Json)],
    keys: &Keys,
    depth: usize,
    base: Option<&str>,
    out: &mut String,
) {
    out.push('{');
    let mut first = true;
    if let Some(base) = base {
        out.push_str(base);
        first = base.is_empty();
    }
    for (key, value) in members {
        if !first {
            out.push(',');
        }
        first = false;
        let name = match key {
            Key::Field(f) => f.name().to_owned(),
            Key::Other(s) => s.clone(),
        };
        out.push_str(&serde_json::to_string(&name).expect("string"));
        out.push(':');
        write(value, keys, depth, out);
    }
    out.push('}');
}

fn build(input: &Input, keys: &Keys) -> (String, bool) {
    match input {
        Input::Raw(bytes) => (String::from_utf8_lossy(bytes).into_owned(), false),
        Input::Structured {
            base,
            header,
            claims,
            signature,
            single_key,
        } => {
            let key_index = match signature {
                Signature::Real(i) | Signature::Truncated(i, _) => {
                    usize::from(*i) % keys.signing.len()
                }
                Signature::Bytes(_) => 0,
            };
            let key = &keys.signing[key_index];
            let (header_base, claims_base) = if *base {
                (
                    format!(
                        r#""alg":"{}","kid":"{}","typ":"at+jwt""#,
                        key.algorithm(),
                        key.kid()
                    ),
                    format!(
                        r#""iss":"{ISS}","sub":"m2m_a","client_id":"m2m_a","aud":"{AUD}","exp":{},"iat":{NOW},"jti":"j","scope":"invoices:read""#,
                        NOW + 3600
                    ),
                )
            } else {
                (String::new(), String::new())
            };
            let mut header_json = String::new();
            members_into(header, keys, 0, Some(&header_base), &mut header_json);
            let mut claims_json = String::new();
            members_into(claims, keys, 0, Some(&claims_base), &mut claims_json);
            let mut token = URL_SAFE_NO_PAD.encode(header_json);
            token.push('.');
            token.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
            let sig = match signature {
                Signature::Real(_) => key.sign(token.as_bytes()).expect("sign"),
                Signature::Truncated(_, len) => {
                    let mut s = key.sign(token.as_bytes()).expect("sign");
                    s.truncate(usize::from(*len) % s.len());
                    s
                }
                Signature::Bytes(b) => b.clone(),
            };
            token.push('.');
            token.push_str(&URL_SAFE_NO_PAD.encode(sig));
            (token, *single_key)
        }
    }
}

fuzz_target!(|input: Input| {
    let keys = keys();
    let (token, single) = build(&input, keys);
    let keyset = if single { &keys.single } else { &keys.all };
    for validation in [
        Validation::new(ISS, AUD),
        Validation::new(ISS, AUD).required_typ(None).any_audience(),
    ] {
        let Ok(verified) = validation.verify(&token, keyset, NOW) else {
            continue;
        };
        // Accepted: the header must name a trusted key (or none, with one
        // key trusted) whose algorithm is the header's `alg`.
        let header_b64 = token.split('.').next().expect("three parts");
        // Only `alg` is read: other members may hold numbers out of f64
        // range, which the verifier rightly skips but a `Value` refuses.
        #[derive(serde::Deserialize)]
        struct Alg {
            alg: String,
        }
        let header: Alg =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).expect("base64"))
                .expect("header JSON");
        let alg = header.alg.as_str();
        assert!(!alg.eq_ignore_ascii_case("none"), "alg none accepted");
        assert!(
            !alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")),
            "HMAC accepted"
        );
        let key = match &verified.kid {
            Some(kid) => keys
                .signing
                .iter()
                .find(|k| k.kid() == kid)
                .expect("accepted kid is a trusted key"),
            None => {
                assert!(single, "no kid accepted with several keys");
                &keys.signing[0]
            }
        };
        assert_eq!(
            alg,
            key.algorithm().to_string(),
            "alg differs from the key's"
        );
    }
});

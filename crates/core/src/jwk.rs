//! Public keys as JSON Web Keys (RFC 7517, 7518 §6, 8037 §2) and their
//! RFC 7638 thumbprints, which m2m-auth uses as `kid`.

use ring::digest;
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::KeyError;

/// One public key in JWK form. Only public members exist on this type: a
/// private JWK cannot be represented, so it cannot be published by mistake.
///
/// Members this type does not name (`key_ops`, `x5c`, ...) are ignored when read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `OKP` (Ed25519), `EC` (P-256) or `RSA`.
    pub kty: String,
    /// Intended use; m2m-auth publishes `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// The algorithm this key is for: `EdDSA`, `ES256`, `RS256` or `PS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id: the RFC 7638 thumbprint for keys that m2m-auth makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve: `Ed25519` or `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// OKP public key, or EC x coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus (base64url, big-endian, no leading zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl PublicJwk {
    /// The RFC 7638 thumbprint (SHA-256, base64url) of the key's required members.
    ///
    /// ```
    /// // RFC 8037 appendix A.3.
    /// let jwk: m2m_core::PublicJwk = serde_json::from_str(
    ///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
    /// ).unwrap();
    /// assert_eq!(jwk.thumbprint()?, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// # Ok::<(), m2m_core::KeyError>(())
    /// ```
    pub fn thumbprint(&self) -> Result<String, KeyError> {
        fn need<'a>(member: &'a Option<String>, name: &'static str) -> Result<&'a str, KeyError> {
            member.as_deref().ok_or(KeyError::MissingMember(name))
        }
        // Required members in lexicographic order, no white space (RFC 7638 §3.2).
        // Member values are base64url or fixed names, so they need no escaping;
        // serde_json::to_string quotes them anyway to stay correct for any input.
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                quote(need(&self.crv, "crv")?),
                quote(need(&self.x, "x")?),
                quote(need(&self.y, "y")?)
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                quote(need(&self.crv, "crv")?),
                quote(need(&self.x, "x")?)
            ),
            "RSA" => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                quote(need(&self.e, "e")?),
                quote(need(&self.n, "n")?)
            ),
            other => return Err(KeyError::UnsupportedKeyType(other.to_owned())),
        };
        Ok(b64::encode(digest::digest(
            &digest::SHA256,
            canonical.as_bytes(),
        )))
    }
}

/// A JWK Set (RFC 7517 §5): what `/.well-known/jwks.json` serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<PublicJwk>,
}

impl JwkSet {
    /// The key with this `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

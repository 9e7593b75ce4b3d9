//! The access token's claims (contract section 3; RFC 9068).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, OrgId, UserId};
use crate::scope::{ScopeSet, Text};

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// A single audience, serialized as a string.
    One(String),
    /// Several audiences, serialized as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Builds the claim from a list: one entry becomes a string, more an array.
    pub fn from_list(mut audiences: Vec<String>) -> Self {
        if audiences.len() == 1 {
            Audience::One(audiences.remove(0))
        } else {
            Audience::Many(audiences)
        }
    }

    /// Whether `audience` is one of the claim's values.
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    /// The audiences, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Audience::One(audience.to_owned())
    }
}

impl From<String> for Audience {
    fn from(audience: String) -> Self {
        Audience::One(audience)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(one) => serializer.serialize_str(one),
            Audience::Many(many) => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut many = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(16));
                while let Some(one) = seq.next_element::<String>()? {
                    many.push(one);
                }
                Ok(Audience::Many(many))
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// The claims of an m2m-auth access token.
///
/// Claims that this type does not name are ignored when a token is read, as
/// RFC 7519 §4 asks; they are not kept. `scope` is the source of truth: the
/// `scopes` array is written from it, and a token whose `scopes` array
/// disagrees with its `scope` string is refused as malformed.
///
/// ```
/// use m2m_core::{AccessTokenClaims, Audience};
/// let claims = AccessTokenClaims {
///     iss: "https://auth.example.com".into(),
///     sub: "m2m_abc".into(),
///     client_id: "m2m_abc".into(),
///     aud: Audience::from("https://api.example.com"),
///     exp: 1_700_003_600,
///     nbf: Some(1_700_000_000),
///     iat: 1_700_000_000,
///     jti: "t1".into(),
///     scope: "invoices:read".parse()?,
///     oid: Some("org_1".into()),
///     uid: None,
///     cnf: None,
///     act: None,
///     may_act: None,
/// };
/// assert!(claims.has_scope("invoices:read"));
/// assert_eq!(claims.org_id().map(|o| o.as_str()), Some("org_1"));
/// let json = serde_json::to_value(&claims).unwrap();
/// assert_eq!(json["scopes"], serde_json::json!(["invoices:read"]));
/// # Ok::<(), m2m_core::ScopeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// Issuer URL, exactly as in the issuer's metadata.
    pub iss: String,
    /// Subject: the client id, or for a user-level client the user id.
    pub sub: String,
    /// The machine client the token was issued to.
    pub client_id: ClientId,
    /// Audience(s) the token is meant for.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch (m2m-auth sets it equal to `iat`).
    pub nbf: Option<u64>,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Unique token id, used by revocation.
    pub jti: String,
    /// Granted scopes (`scope` string; also written as the `scopes` array).
    pub scope: ScopeSet,
    /// Organization id (`oid`).
    pub oid: Option<OrgId>,
    /// User id (`uid`), for user-level clients.
    pub uid: Option<UserId>,
    /// Confirmation (`cnf`, RFC 7800): the DPoP key the token is bound to
    /// (RFC 9449 §6). Omitted from the JSON when absent.
    pub cnf: Option<Confirmation>,
    /// Actor (`act`, RFC 8693 §4.1): for a token obtained by token
    /// exchange, the party acting for the subject, with the earlier actors
    /// of a delegation chain nested inside. `None` for a direct token.
    pub act: Option<Actor>,
    /// Authorized actor (`may_act`, RFC 8693 §4.4): who may exchange this
    /// token to act for its subject. `None`: the issuer's policy decides.
    pub may_act: Option<MayAct>,
}

/// The deepest `act` nesting a token may carry: a deeper chain is refused
/// as malformed when a token is read, so no verifier walks an unbounded
/// chain (the issuer's own policy caps depth far below this).
pub const MAX_DELEGATION_DEPTH: usize = 8;

/// One actor of a delegation chain (the `act` claim, RFC 8693 §4.1).
///
/// The outermost actor is the current one; `act` inside it is the actor
/// before it, and so on. Only the outermost actor's identity matters for
/// access decisions (RFC 8693 §4.1); the inner ones record the chain.
///
/// ```
/// use m2m_core::Actor;
/// let first = Actor::client("m2m_planner");
/// let second = Actor::client("m2m_worker").acting_after(first);
/// assert_eq!(second.depth(), 2);
/// let chain: Vec<&str> = second.chain().map(|a| a.sub.as_str()).collect();
/// assert_eq!(chain, ["m2m_worker", "m2m_planner"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The actor's subject: for an m2m-auth client, its client id.
    pub sub: String,
    /// The actor's client id, when the actor is an OAuth client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// The actor before this one, for a chain of delegations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// An actor that is the client `client_id` (`sub` = `client_id`).
    pub fn client(client_id: impl Into<String>) -> Self {
        let client_id: String = client_id.into();
        Actor {
            sub: client_id.clone(),
            client_id: Some(ClientId::from(client_id)),
            act: None,
        }
    }

    /// This actor, acting after `previous` (which becomes the nested `act`).
    pub fn acting_after(mut self, previous: Actor) -> Self {
        self.act = Some(Box::new(previous));
        self
    }

    /// The actors of the chain, the current (outermost) first.
    pub fn chain(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(Some(self), |actor| actor.act.as_deref())
    }

    /// How many actors the chain holds (1 for a single delegation).
    pub fn depth(&self) -> usize {
        self.chain().count()
    }
}

/// The `may_act` claim (RFC 8693 §4.4): the party allowed to act for the
/// token's subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MayAct {
    /// The allowed actor's subject (for an m2m-auth client, its client id).
    pub sub: String,
    /// The allowed actor's client id, when it is an OAuth client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
}

/// The fields of an [`Actor`] as read.
#[derive(Deserialize)]
struct ActorFields {
    sub: String,
    #[serde(default)]
    client_id: Option<ClientId>,
    #[serde(default)]
    act: Option<Box<Actor>>,
}

/// The fields of a [`MayAct`] as read.
#[derive(Deserialize)]
struct MayActFields {
    sub: String,
    #[serde(default)]
    client_id: Option<ClientId>,
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ActorFields {
            sub,
            client_id,
            act,
        } = from_object(deserializer, "`act`")?;
        Ok(Actor {
            sub,
            client_id,
            act,
        })
    }
}

impl<'de> Deserialize<'de> for MayAct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let MayActFields { sub, client_id } = from_object(deserializer, "`may_act`")?;
        Ok(MayAct { sub, client_id })
    }
}

/// Reads `T` from a JSON object only. serde's derived structs also accept
/// an array of the fields in order (`"act": ["m2m_a"]`), a shape RFC 8693
/// §4.1 and §4.4 do not allow: such a token is refused as malformed.
fn from_object<'de, D, T>(deserializer: D, what: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(std::marker::PhantomData<T>, &'static str);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} as a JSON object", self.1)
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData, what))
}

/// The `cnf` claim of a sender-constrained token (RFC 9449 §6.1): the
/// RFC 7638 thumbprint of the DPoP key. A `cnf` without `jkt` (another
/// confirmation method) is refused when a token is read: this verifier could
/// not enforce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// JWK SHA-256 thumbprint of the key the token is bound to.
    pub jkt: String,
}

impl Confirmation {
    /// A confirmation binding to the key with this thumbprint.
    pub fn jkt(jkt: impl Into<String>) -> Self {
        Confirmation { jkt: jkt.into() }
    }
}

impl AccessTokenClaims {
    /// The organization the token acts for, if any.
    pub fn org_id(&self) -> Option<&OrgId> {
        self.oid.as_ref()
    }

    /// The user the token acts for, if any.
    pub fn user_id(&self) -> Option<&UserId> {
        self.uid.as_ref()
    }

    /// The machine client.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.contains(scope)
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        &self.scope
    }

    /// The thumbprint of the DPoP key the token is bound to, if it is bound.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }

    /// The current actor (outermost `act`), if the token was delegated.
    pub fn actor(&self) -> Option<&Actor> {
        self.act.as_ref()
    }

    /// How many delegations the token carries: 0 for a direct token.
    pub fn delegation_depth(&self) -> usize {
        self.act.as_ref().map_or(0, Actor::depth)
    }
}

/// Serializes a [`ScopeSet`] as a JSON array without building a `Vec`.
struct ScopesArray<'a>(&'a ScopeSet);

impl Serialize for ScopesArray<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for scope in self.0 {
            seq.serialize_element(scope.as_str())?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    iss: &'a str,
    sub: &'a str,
    client_id: &'a ClientId,
    aud: &'a Audience,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    iat: u64,
    jti: &'a str,
    scope: &'a ScopeSet,
    scopes: ScopesArray<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<&'a OrgId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Confirmation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    may_act: Option<&'a MayAct>,
}

impl Serialize for AccessTokenClaims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireOut {
            iss: &self.iss,
            sub: &self.sub,
            client_id: &self.client_id,
            aud: &self.aud,
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: &self.jti,
            scope: &self.scope,
            scopes: ScopesArray(&self.scope),
            oid: self.oid.as_ref(),
            uid: self.uid.as_ref(),
            cnf: self.cnf.as_ref(),
            act: self.act.as_ref(),
            may_act: self.may_act.as_ref(),
        }
        .serialize(serializer)
    }
}

#[derive(Deserialize)]
struct WireIn<'a> {
    iss: String,
    sub: String,
    client_id: ClientId,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    iat: u64,
    jti: String,
    scope: ScopeSet,
    /// Only compared with `scope`, whose members are valid scopes, so it
    /// is read borrowed: a member that is not a valid scope is not in
    /// `scope` and fails the comparison.
    #[serde(default, borrow)]
    scopes: Option<Vec<Text<'a>>>,
    #[serde(default)]
    oid: Option<OrgId>,
    #[serde(default)]
    uid: Option<UserId>,
    #[serde(default)]
    cnf: Option<Confirmation>,
    #[serde(default)]
    act: Option<Actor>,
    #[serde(default)]
    may_act: Option<MayAct>,
}

impl<'de> Deserialize<'de> for AccessTokenClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireIn::deserialize(deserializer)?;
        if let Some(scopes) = wire.scopes {
            let agrees = scopes.len() == wire.scope.len()
                && scopes.iter().all(|s| wire.scope.contains(&s.0));
            if !agrees {
                return Err(de::Error::custom(
                    "the `scopes` array does not match the `scope` string",
                ));
            }
        }
        if wire
            .act
            .as_ref()
            .is_some_and(|act| act.depth() > MAX_DELEGATION_DEPTH)
        {
            return Err(de::Error::custom(format!(
                "`act` is nested deeper than {MAX_DELEGATION_DEPTH}"
            )));
        }
        Ok(AccessTokenClaims {
            iss: wire.iss,
            sub: wire.sub,
            client_id: wire.client_id,
            aud: wire.aud,
            exp: wire.exp,
            nbf: wire.nbf,
            iat: wire.iat,
            jti: wire.jti,
            scope: wire.scope,
            oid: wire.oid,
            uid: wire.uid,
            cnf: wire.cnf,
            act: wire.act,
            may_act: wire.may_act,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://issuer".into(),
            sub: "m2m_a".into(),
            client_id: "m2m_a".into(),
            aud: Audience::Many(vec!["a".into(), "b".into()]),
            exp: 20,
            nbf: Some(10),
            iat: 10,
            jti: "j".into(),
            scope: ScopeSet::parse("x:r y:w").unwrap(),
            oid: Some("o".into()),
            uid: None,
            cnf: None,
            act: None,
            may_act: None,
        }
    }

    #[test]
    fn act_and_may_act_must_be_objects() {
        let mut claims = serde_json::to_value(AccessTokenClaims {
            act: Some(Actor::client("m2m_b").acting_after(Actor::client("m2m_c"))),
            may_act: Some(MayAct {
                sub: "m2m_b".into(),
                client_id: None,
            }),
            ..sample()
        })
        .unwrap();
        assert!(serde_json::from_value::<AccessTokenClaims>(claims.clone()).is_ok());
        for (field, value) in [
            ("act", json!(["m2m_b"])),
            ("act", json!({"sub": "m2m_b", "act": ["m2m_c"]})),
            ("act", json!("m2m_b")),
            ("may_act", json!(["m2m_b", "m2m_b"])),
        ] {
            let mut bad = claims.clone();
            bad[field] = value.clone();
            assert!(
                serde_json::from_value::<AccessTokenClaims>(bad).is_err(),
                "{field}: {value}"
            );
        }
        claims["act"] = json!({"sub": "m2m_b", "extra": 1});
        let read: AccessTokenClaims = serde_json::from_value(claims).unwrap();
        assert_eq!(read.delegation_depth(), 1, "other members are ignored");
    }

    #[test]
    fn act_chains_round_trip_and_are_omitted_when_absent() {
        let mut claims = sample();
        assert!(serde_json::to_value(&claims).unwrap().get("act").is_none());
        assert!(
            serde_json::to_value(&claims)
                .unwrap()
                .get("may_act")
                .is_none()
        );
        assert_eq!(claims.delegation_depth(), 0);
        claims.act = Some(Actor::client("m2m_b").acting_after(Actor::client("m2m_c")));
        claims.may_act = Some(MayAct {
            sub: "m2m_d".into(),
            client_id: None,
        });
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            value["act"],
            json!({"sub": "m2m_b", "client_id": "m2m_b",
                   "act": {"sub": "m2m_c", "client_id": "m2m_c"}})
        );
        assert_eq!(value["may_act"], json!({"sub": "m2m_d"}));
        let back: AccessTokenClaims = serde_json::from_value(value).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.delegation_depth(), 2);
        assert_eq!(back.actor().unwrap().sub, "m2m_b");
    }

    #[test]
    fn act_deeper_than_the_bound_or_not_an_object_is_refused() {
        let nested = |depth: usize| {
            let mut act = json!({"sub": "m2m_0"});
            for i in 1..depth {
                act = json!({"sub": format!("m2m_{i}"), "act": act});
            }
            act
        };
        let mut value = serde_json::to_value(sample()).unwrap();
        value["act"] = nested(MAX_DELEGATION_DEPTH);
        assert!(serde_json::from_value::<AccessTokenClaims>(value.clone()).is_ok());
        value["act"] = nested(MAX_DELEGATION_DEPTH + 1);
        assert!(serde_json::from_value::<AccessTokenClaims>(value.clone()).is_err());
        for hostile in [
            json!("m2m_x"),
            json!([]),
            json!({"client_id": "m2m_x"}),
            json!({"sub": 1}),
        ] {
            value["act"] = hostile;
            assert!(serde_json::from_value::<AccessTokenClaims>(value.clone()).is_err());
        }
        // Far past serde_json's recursion limit: an error, not a stack overflow.
        let deep = format!(
            "{}{}",
            "{\"sub\":\"x\",\"act\":".repeat(10_000),
            "}".repeat(10_000)
        );
        let mut text = serde_json::to_string(&sample()).unwrap();
        text.insert_str(text.len() - 1, &format!(",\"act\":{deep}"));
        assert!(serde_json::from_str::<AccessTokenClaims>(&text).is_err());
    }

    #[test]
    fn cnf_round_trips_and_is_omitted_when_absent() {
        let mut claims = sample();
        assert!(serde_json::to_value(&claims).unwrap().get("cnf").is_none());
        claims.cnf = Some(Confirmation::jkt("abc"));
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(value["cnf"], json!({"jkt": "abc"}));
        let back: AccessTokenClaims = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back.dpop_jkt(), Some("abc"));
        let mut other = value;
        other["cnf"] = json!({"x5t#S256": "abc"});
        assert!(serde_json::from_value::<AccessTokenClaims>(other).is_err());
    }

    #[test]
    fn round_trip_and_wire_names() {
        let claims = sample();
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(value["scope"], "x:r y:w");
        assert_eq!(value["scopes"], json!(["x:r", "y:w"]));
        assert_eq!(value["aud"], json!(["a", "b"]));
        assert_eq!(value["oid"], "o");
        assert!(value.get("uid").is_none());
        let back: AccessTokenClaims = serde_json::from_value(value).unwrap();
        assert_eq!(back, claims);
    }

    #[test]
    fn unknown_claims_are_ignored_and_mismatched_scopes_refused() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["extra"] = json!({"nested": true});
        assert!(serde_json::from_value::<AccessTokenClaims>(value.clone()).is_ok());
        value["scopes"] = json!(["x:r", "admin"]);
        assert!(serde_json::from_value::<AccessTokenClaims>(value).is_err());
    }

    #[test]
    fn audience_forms() {
        let one: Audience = serde_json::from_value(json!("api")).unwrap();
        assert_eq!(one, Audience::One("api".into()));
        assert!(one.contains("api"));
        assert_eq!(
            Audience::from_list(vec!["x".into()]),
            Audience::One("x".into())
        );
        assert!(serde_json::from_value::<Audience>(json!(5)).is_err());
        assert!(serde_json::from_value::<Audience>(json!([5])).is_err());
    }
}

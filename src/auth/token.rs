//! Access tokens: HS256 JWTs with `sub`, `exp`, `iat`, `jti`, `iss`, `ver`
//! and `sid`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "gatehouse";
/// Clock skew tolerated on `exp` and `nbf`; a denylisted token is kept on the
/// list this much longer than its `exp`.
pub const LEEWAY_SECS: u64 = 5;
const LEEWAY_MILLIS: i64 = LEEWAY_SECS as i64 * 1000;
/// Our tokens are about 300 bytes; anything far larger is refused before it
/// is decoded.
const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id as a decimal string.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub iss: String,
    /// The user's token version when the token was issued.
    pub ver: i32,
    /// The session the token belongs to.
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl Claims {
    pub fn user_id(&self) -> Option<i32> {
        // Only the canonical decimal form: "007" or "+7" are not ids we issued.
        let id: i32 = self.sub.parse().ok()?;
        (id.to_string() == self.sub).then_some(id)
    }
}

/// The signing and verification keys, made once from the secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `user_id` at its token version `ver`, in session
    /// `sid`, valid from `now` (Unix seconds).
    pub fn issue(
        &self,
        user_id: i32,
        ver: i32,
        sid: &str,
        now: i64,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user_id.to_string(),
            ver,
            sid: sid.to_owned(),
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: uuid::Uuid::new_v4().to_string(),
            iss: ISSUER.to_owned(),
            nbf: None,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, `exp`, `nbf` and `iss`, and that every
    /// claim has its type. The denylist is the caller's next step.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let decoded = decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        // `crit` names extensions the token insists on; we implement none,
        // so such a token must be refused (RFC 7515, 4.1.11).
        if decoded.header.crit.is_some() {
            return None;
        }
        let claims = decoded.claims;
        let lifetime = u64::try_from(claims.exp.saturating_sub(claims.iat)).ok()?;
        // jsonwebtoken counts the leeway against whole seconds, which lets
        // a token live up to a second longer; this check is exact.
        let valid = claims.user_id().is_some()
            && !claims.jti.is_empty()
            && !claims.sid.is_empty()
            && lifetime <= self.ttl.as_secs()
            && !is_expired(claims.exp, unix_now_millis());
        valid.then_some(claims)
    }
}

/// Whether a token whose `exp` is `exp` (Unix seconds) is refused at
/// `now_ms` (Unix milliseconds): once `exp` plus the leeway has passed.
pub fn is_expired(exp: i64, now_ms: i64) -> bool {
    now_ms > exp.saturating_mul(1000).saturating_add(LEEWAY_MILLIS)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, Duration::from_secs(900))
    }

    fn sign(claims: serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("encode")
    }

    fn valid_claims() -> serde_json::Value {
        let now = unix_now();
        json!({"sub": "7", "exp": now + 60, "iat": now, "jti": "abc", "iss": "gatehouse", "ver": 0, "sid": "s1"})
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let keys = keys();
        let now = unix_now();
        let (token, claims) = keys.issue(42, 3, "s1", now).expect("issue");
        assert_eq!(keys.verify(&token), Some(claims.clone()));
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.iss, "gatehouse");
        assert_eq!(claims.ver, 3);
        assert_eq!(
            uuid::Uuid::parse_str(&claims.jti).map(|u| u.get_version_num()),
            Ok(4)
        );
    }

    #[test]
    fn each_token_gets_its_own_jti() {
        let keys = keys();
        let (_, a) = keys.issue(1, 0, "s1", unix_now()).expect("issue");
        let (_, b) = keys.issue(1, 0, "s1", unix_now()).expect("issue");
        assert_ne!(a.jti, b.jti);
    }

    #[test]
    fn a_hand_made_valid_token_verifies() {
        assert!(
            keys()
                .verify(&sign(valid_claims(), Algorithm::HS256, SECRET))
                .is_some()
        );
    }

    #[test]
    fn other_algorithms_and_keys_are_refused() {
        let keys = keys();
        assert!(
            keys.verify(&sign(valid_claims(), Algorithm::HS384, SECRET))
                .is_none()
        );
        assert!(
            keys.verify(&sign(valid_claims(), Algorithm::HS512, SECRET))
                .is_none()
        );
        assert!(
            keys.verify(&sign(
                valid_claims(),
                Algorithm::HS256,
                b"another key of thirty-two bytes!"
            ))
            .is_none()
        );
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let good = sign(valid_claims(), Algorithm::HS256, SECRET);
        let payload = good.split('.').nth(1).expect("payload");
        for header in [
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
            "eyJhbGciOiJOb05lIiwidHlwIjoiSldUIn0",
        ] {
            assert!(keys().verify(&format!("{header}.{payload}.")).is_none());
        }
        let (head, _) = good.rsplit_once('.').expect("signature");
        assert!(keys().verify(&format!("{head}.")).is_none());
    }

    #[test]
    fn expiry_allows_only_the_leeway() {
        let keys = keys();
        let now = unix_now();
        let mut claims = valid_claims();
        claims["iat"] = json!(now - 63);
        claims["exp"] = json!(now - 3);
        assert!(
            keys.verify(&sign(claims.clone(), Algorithm::HS256, SECRET))
                .is_some()
        );
        claims["exp"] = json!(now - 30);
        assert!(
            keys.verify(&sign(claims, Algorithm::HS256, SECRET))
                .is_none()
        );
    }

    #[test]
    fn the_leeway_ends_to_the_millisecond() {
        let exp = 1_000_000;
        assert!(!is_expired(exp, exp * 1000));
        assert!(!is_expired(exp, exp * 1000 + 5000));
        assert!(is_expired(exp, exp * 1000 + 5001));
        assert!(is_expired(exp, exp * 1000 + 5999));
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let mut claims = valid_claims();
        claims["nbf"] = json!(unix_now() + 60);
        assert!(
            keys()
                .verify(&sign(claims, Algorithm::HS256, SECRET))
                .is_none()
        );
    }

    #[test]
    fn every_claim_is_required_with_its_type() {
        for name in ["sub", "exp", "iat", "jti", "iss", "ver", "sid"] {
            let mut claims = valid_claims();
            claims.as_object_mut().expect("object").remove(name);
            assert!(
                keys()
                    .verify(&sign(claims, Algorithm::HS256, SECRET))
                    .is_none(),
                "without {name}"
            );
        }
        for (name, value) in [
            ("sub", json!(7)),
            ("sub", json!("07")),
            ("sub", json!("seven")),
            ("exp", json!("soon")),
            ("iat", json!("now")),
            ("jti", json!(1)),
            ("jti", json!("")),
            ("iss", json!("someone-else")),
            ("nbf", json!("later")),
            ("ver", json!("0")),
            ("ver", json!(1.5)),
            ("sid", json!(1)),
            ("sid", json!("")),
        ] {
            let mut claims = valid_claims();
            claims[name] = value.clone();
            assert!(
                keys()
                    .verify(&sign(claims, Algorithm::HS256, SECRET))
                    .is_none(),
                "{name} = {value}"
            );
        }
    }

    #[test]
    fn a_crit_header_is_refused() {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp".into()]);
        let token =
            encode(&header, &valid_claims(), &EncodingKey::from_secret(SECRET)).expect("token");
        assert!(keys().verify(&token).is_none());
    }

    #[test]
    fn a_lifetime_past_the_configured_one_is_refused() {
        let now = unix_now();
        let mut claims = valid_claims();
        claims["iat"] = json!(now - 100);
        claims["exp"] = json!(now + 801);
        assert!(
            keys()
                .verify(&sign(claims.clone(), Algorithm::HS256, SECRET))
                .is_none()
        );
        claims["exp"] = json!(now + 800);
        assert!(
            keys()
                .verify(&sign(claims, Algorithm::HS256, SECRET))
                .is_some()
        );
    }

    #[test]
    fn an_oversized_token_is_refused_even_when_signed() {
        let mut claims = valid_claims();
        claims["pad"] = json!("x".repeat(8192));
        assert!(
            keys()
                .verify(&sign(claims, Algorithm::HS256, SECRET))
                .is_none()
        );
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", ".", "..", "a.b.c", "not a token", &"A".repeat(8192)] {
            assert!(keys().verify(token).is_none(), "{token:?}");
        }
    }
}

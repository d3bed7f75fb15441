//! JWTs: reading their parts without checking them, signing claims with a
//! known key, and the claims gatehouse accepts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is before 1970")
        .as_secs()
        .try_into()
        .expect("the clock is past 2262")
}

/// Unpadded base64url, as in JWTs.
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, unpadded (as in JWTs) or padded.
pub fn base64url_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("not base64url ({e}): {text}"))
}

/// The JSON of one part (0 header, 1 claims) of a JWT, without checking it.
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    serde_json::from_slice(&base64url_decode(part))
        .unwrap_or_else(|e| panic!("JWT part {index} is not JSON ({e}): {token}"))
}

/// The claims of a JWT, without checking the signature.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// Signs `claims` with HS256 and `key`.
pub fn sign_token(claims: &Value, key: &[u8]) -> String {
    sign_token_with(jsonwebtoken::Algorithm::HS256, claims, key)
}

pub fn sign_token_with(algorithm: jsonwebtoken::Algorithm, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .expect("failed to sign a token")
}

/// Claims that gatehouse would accept: the user, token version and
/// session of `issued` (a token it issued), with a fresh `jti`, valid for
/// 15 minutes.
pub fn valid_claims(issued: &str) -> Value {
    let real = jwt_claims(issued);
    let now = now();
    json!({
        "sub": real["sub"],
        "iat": now,
        "exp": now + 900,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": "gatehouse",
        "ver": real["ver"],
        "sid": real["sid"],
    })
}

/// A random secret long enough for `GATEHOUSE_SECRET`.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

//! JWTs: reading their parts without checking them, signing claims with a
//! known key, and the claims gatehouse accepts.

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

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url, as in JWTs.
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes unpadded (or padded) base64url.
pub fn base64url_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let sextet = BASE64URL
            .iter()
            .position(|b| *b == c)
            .unwrap_or_else(|| panic!("{c:?} is not base64url in {text}"));
        buffer = ((buffer & 0xffff) << 6) | u32::try_from(sextet).expect("a sextet fits");
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).expect("a byte fits"));
        }
    }
    out
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

/// Claims that gatehouse would accept for user `id`, valid for 15 minutes.
pub fn valid_claims(id: i64) -> Value {
    let now = now();
    json!({
        "sub": id.to_string(),
        "iat": now,
        "exp": now + 900,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iss": "gatehouse",
        "ver": 0,
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

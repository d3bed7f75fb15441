//! `Set-Cookie` headers: finding and parsing them, and the attributes the
//! auth cookie must carry.

use reqwest::Response;
use reqwest::header::{HeaderValue, SET_COOKIE};

use super::constants::AUTH_COOKIE;

/// The raw `Set-Cookie` header that sets cookie `name`, if any.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value: &HeaderValue| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .map(str::to_owned)
}

/// A parsed `Set-Cookie` header.
#[derive(Debug)]
pub struct SetCookie {
    pub raw: String,
    pub value: String,
    attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let value = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        let attributes = parts
            .map(|part| match part.trim().split_once('=') {
                Some((key, value)) => (key.trim().to_ascii_lowercase(), Some(value.to_owned())),
                None => (part.trim().to_ascii_lowercase(), None),
            })
            .collect();
        SetCookie {
            raw: raw.to_owned(),
            value,
            attributes,
        }
    }

    pub fn has(&self, flag: &str) -> bool {
        let flag = flag.to_ascii_lowercase();
        self.attributes.iter().any(|(key, _)| *key == flag)
    }

    pub fn get(&self, attribute: &str) -> Option<&str> {
        let attribute = attribute.to_ascii_lowercase();
        self.attributes
            .iter()
            .find(|(key, _)| *key == attribute)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// The `gatehouse_token` Set-Cookie of a response, parsed; panics without one.
pub fn auth_set_cookie(response: &Response) -> SetCookie {
    let raw = set_cookie(response, AUTH_COOKIE).unwrap_or_else(|| {
        panic!(
            "no {AUTH_COOKIE} cookie set by a {} response; headers: {:?}",
            response.status(),
            response.headers()
        )
    });
    SetCookie::parse(&raw)
}

/// Asserts the attributes of a freshly set auth cookie.
pub fn assert_auth_cookie_attributes(cookie: &SetCookie, max_age: u64, secure: bool) {
    assert!(!cookie.value.is_empty(), "empty token in {}", cookie.raw);
    assert!(cookie.has("HttpOnly"), "no HttpOnly in {}", cookie.raw);
    assert!(
        cookie
            .get("SameSite")
            .is_some_and(|v| v.eq_ignore_ascii_case("Lax")),
        "no SameSite=Lax in {}",
        cookie.raw
    );
    assert_eq!(cookie.get("Path"), Some("/"), "Path in {}", cookie.raw);
    assert_eq!(
        cookie.get("Max-Age"),
        Some(max_age.to_string().as_str()),
        "Max-Age in {}",
        cookie.raw
    );
    assert_eq!(cookie.has("Secure"), secure, "Secure in {}", cookie.raw);
}

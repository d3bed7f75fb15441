//! `Set-Cookie` headers, parsed with the `cookie` crate: finding the one
//! that sets a cookie, and the attributes the auth cookie must carry.

use cookie::{Cookie, SameSite};
use reqwest::Response;
use reqwest::header::SET_COOKIE;

use super::constants::AUTH_COOKIE;

/// A parsed `Set-Cookie` header, and its text for messages.
#[derive(Debug)]
pub struct SetCookie {
    pub raw: String,
    cookie: Cookie<'static>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header; panics if it does not parse.
    pub fn parse(raw: &str) -> SetCookie {
        let cookie = Cookie::parse(raw.to_owned())
            .unwrap_or_else(|e| panic!("Set-Cookie {raw:?} does not parse: {e}"));
        SetCookie {
            raw: raw.to_owned(),
            cookie,
        }
    }

    pub fn name(&self) -> &str {
        self.cookie.name()
    }

    /// The value, without surrounding double quotes.
    pub fn value(&self) -> &str {
        self.cookie.value_trimmed()
    }

    pub fn http_only(&self) -> bool {
        self.cookie.http_only() == Some(true)
    }

    pub fn secure(&self) -> bool {
        self.cookie.secure() == Some(true)
    }

    pub fn same_site(&self) -> Option<SameSite> {
        self.cookie.same_site()
    }

    pub fn path(&self) -> Option<&str> {
        self.cookie.path()
    }

    /// `Max-Age` in seconds (a negative one reads as 0, as browsers take it).
    pub fn max_age(&self) -> Option<i64> {
        self.cookie.max_age().map(|age| age.whole_seconds())
    }
}

/// The `Set-Cookie` header of a response that sets cookie `name`, if any.
/// Panics on a `Set-Cookie` header that does not parse.
pub fn set_cookie(response: &Response, name: &str) -> Option<SetCookie> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| {
            SetCookie::parse(
                value
                    .to_str()
                    .unwrap_or_else(|_| panic!("Set-Cookie is not ASCII: {value:?}")),
            )
        })
        .find(|cookie| cookie.name() == name)
}

/// The `gatehouse_token` Set-Cookie of a response, parsed; panics without one.
pub fn auth_set_cookie(response: &Response) -> SetCookie {
    set_cookie(response, AUTH_COOKIE).unwrap_or_else(|| {
        panic!(
            "no {AUTH_COOKIE} cookie set by a {} response; headers: {:?}",
            response.status(),
            response.headers()
        )
    })
}

/// Asserts the attributes of a freshly set auth cookie.
pub fn assert_auth_cookie_attributes(cookie: &SetCookie, max_age: u64, secure: bool) {
    assert!(!cookie.value().is_empty(), "empty token in {}", cookie.raw);
    assert!(cookie.http_only(), "no HttpOnly in {}", cookie.raw);
    assert_eq!(
        cookie.same_site(),
        Some(SameSite::Lax),
        "no SameSite=Lax in {}",
        cookie.raw
    );
    assert_eq!(cookie.path(), Some("/"), "Path in {}", cookie.raw);
    let max_age = i64::try_from(max_age).expect("Max-Age fits an i64");
    assert_eq!(cookie.max_age(), Some(max_age), "Max-Age in {}", cookie.raw);
    assert_eq!(cookie.secure(), secure, "Secure in {}", cookie.raw);
}

/// Asserts that a Set-Cookie clears the auth cookie: no value, `Max-Age=0`,
/// on the path it was set for.
pub fn assert_clears_auth_cookie(cookie: &SetCookie) {
    assert!(cookie.value().is_empty(), "not cleared: {}", cookie.raw);
    assert_eq!(cookie.max_age(), Some(0), "{}", cookie.raw);
    assert_eq!(cookie.path(), Some("/"), "{}", cookie.raw);
}

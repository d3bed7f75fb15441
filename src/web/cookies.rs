//! Every cookie gatehouse sets or clears, made in one place: the auth
//! cookie carrying the JWT for pages and the device cookie of a browser
//! that has logged in before (the session cookie is actix-session's,
//! configured in `session`).

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite, time};

pub const AUTH_COOKIE: &str = "gatehouse_token";
pub const REFRESH_COOKIE: &str = "gatehouse_refresh";
pub const DEVICE_COOKIE: &str = "gatehouse_device";

/// Makes the auth cookie and the refresh cookie; built once at start.
#[derive(Debug, Clone, Copy)]
pub struct AuthCookies {
    pub secure: bool,
    /// The token's lifetime, which the cookie's `Max-Age` follows.
    pub ttl: Duration,
    /// A remembered session's refresh cookie lives this long; one not
    /// remembered ends with the browser.
    pub remember_for: Duration,
}

impl AuthCookies {
    /// The cookie holding a freshly issued token.
    pub fn holding(&self, token: String) -> Cookie<'static> {
        Cookie::build(AUTH_COOKIE, token)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::seconds(
                i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish()
    }

    /// The same cookie, empty and expired.
    pub fn cleared(&self) -> Cookie<'static> {
        let mut cookie = self.holding(String::new());
        cookie.set_max_age(time::Duration::ZERO);
        cookie
    }

    /// The refresh cookie of a session: with `Max-Age` when remembered,
    /// else without (it ends with the browser).
    pub fn refresh(&self, credential: String, remembered: bool) -> Cookie<'static> {
        let mut cookie = Cookie::build(REFRESH_COOKIE, credential)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .finish();
        if remembered {
            cookie.set_max_age(time::Duration::seconds(
                i64::try_from(self.remember_for.as_secs()).unwrap_or(i64::MAX),
            ));
        }
        cookie
    }

    /// The refresh cookie, empty and expired.
    pub fn refresh_cleared(&self) -> Cookie<'static> {
        let mut cookie = self.refresh(String::new(), false);
        cookie.set_max_age(time::Duration::ZERO);
        cookie
    }
}

/// The device cookie: signed, naming the account this browser logged in
/// to, kept across logout. It proves the browser is the owner's, which
/// exempts it from that account's per-email login limit.
#[derive(Clone)]
pub struct DeviceCookies {
    key: Key,
    secure: bool,
    max_age: Duration,
}

impl DeviceCookies {
    /// `secret` is the app's secret; the signing key is derived from it and
    /// differs from the session's.
    pub fn new(secret: &[u8], secure: bool, max_age: Duration) -> Self {
        let mut master = secret.to_vec();
        master.extend_from_slice(b"\0gatehouse device cookie");
        Self {
            key: Key::derive_from(&master),
            secure,
            max_age,
        }
    }

    /// The cookie for a browser that just logged in to `user_id`.
    pub fn naming(&self, user_id: i32) -> Cookie<'static> {
        let cookie = Cookie::build(DEVICE_COOKIE, user_id.to_string())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(time::Duration::seconds(
                i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        jar.get(DEVICE_COOKIE)
            .cloned()
            .unwrap_or_else(|| Cookie::new(DEVICE_COOKIE, ""))
    }

    /// The account the request's device cookie names, when its signature
    /// holds.
    pub fn account(&self, req: &HttpRequest) -> Option<i32> {
        let cookie = req.cookie(DEVICE_COOKIE)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let verified = jar.signed(&self.key).get(DEVICE_COOKIE)?;
        verified.value().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// A device-cookie maker with a fresh random secret of its own.
    fn device_with_random_secret() -> DeviceCookies {
        let secret: [u8; 64] = rand::random();
        DeviceCookies::new(&secret, true, Duration::from_secs(30 * 86_400))
    }

    #[test]
    fn a_device_cookie_names_its_account_and_cannot_be_forged() {
        let device = device_with_random_secret();
        let cookie = device.naming(42);
        let text = cookie.to_string();
        for part in ["gatehouse_device=", "HttpOnly", "Secure", "Max-Age=2592000"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert_ne!(cookie.value(), "42", "the value is signed");
        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        assert_eq!(device.account(&req), Some(42));

        let forged = cookie.value().replacen("42", "43", 1);
        let req = TestRequest::default()
            .cookie(Cookie::new(DEVICE_COOKIE, forged))
            .to_http_request();
        assert_eq!(device.account(&req), None);
        let bare = TestRequest::default()
            .cookie(Cookie::new(DEVICE_COOKIE, "42"))
            .to_http_request();
        assert_eq!(device.account(&bare), None);
        let other_secret = device_with_random_secret();
        let req = TestRequest::default().cookie(cookie).to_http_request();
        assert_eq!(other_secret.account(&req), None);
    }

    fn cookies(secure: bool) -> AuthCookies {
        AuthCookies {
            secure,
            ttl: Duration::from_secs(900),
            remember_for: Duration::from_secs(2_592_000),
        }
    }

    #[test]
    fn the_refresh_cookie_lasts_only_when_remembered() {
        let remembered = cookies(true).refresh("r".into(), true).to_string();
        for part in [
            "gatehouse_refresh=r",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=2592000",
        ] {
            assert!(remembered.contains(part), "{remembered} lacks {part}");
        }
        let not = cookies(true).refresh("r".into(), false).to_string();
        assert!(!not.contains("Max-Age"), "{not}");
        let cleared = cookies(false).refresh_cleared().to_string();
        assert!(
            cleared.starts_with("gatehouse_refresh=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
    }

    #[test]
    fn the_cookie_has_the_contract_attributes() {
        let text = cookies(true).holding("t".into()).to_string();
        for part in [
            "gatehouse_token=t",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=900",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(
            !cookies(false)
                .holding("t".into())
                .to_string()
                .contains("Secure")
        );
    }

    #[test]
    fn clearing_sends_an_empty_expired_cookie() {
        let text = cookies(false).cleared().to_string();
        assert!(text.starts_with("gatehouse_token=;"), "{text}");
        assert!(text.contains("Max-Age=0"), "{text}");
    }
}

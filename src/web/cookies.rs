//! Every cookie gatehouse sets or clears, made in one place: the auth
//! cookie carrying the JWT for pages (the session cookie is actix-session's,
//! configured in `session`).

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time};

pub const AUTH_COOKIE: &str = "gatehouse_token";

/// Makes the auth cookie; built once at start.
#[derive(Debug, Clone, Copy)]
pub struct AuthCookies {
    pub secure: bool,
    /// The token's lifetime, which the cookie's `Max-Age` follows.
    pub ttl: Duration,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(secure: bool) -> AuthCookies {
        AuthCookies {
            secure,
            ttl: Duration::from_secs(900),
        }
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

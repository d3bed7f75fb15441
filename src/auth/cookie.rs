//! The auth cookie that carries the JWT for pages.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time};

pub const AUTH_COOKIE: &str = "gatehouse_token";

pub fn auth_cookie(token: String, ttl: Duration, secure: bool) -> Cookie<'static> {
    Cookie::build(AUTH_COOKIE, token)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// The same cookie, empty and expired.
pub fn cleared_auth_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = auth_cookie(String::new(), Duration::ZERO, secure);
    cookie.set_max_age(time::Duration::ZERO);
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_has_the_contract_attributes() {
        let text = auth_cookie("t".into(), Duration::from_secs(900), true).to_string();
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
            !auth_cookie("t".into(), Duration::from_secs(900), false)
                .to_string()
                .contains("Secure")
        );
    }

    #[test]
    fn clearing_sends_an_empty_expired_cookie() {
        let text = cleared_auth_cookie(false).to_string();
        assert!(text.starts_with("gatehouse_token=;"), "{text}");
        assert!(text.contains("Max-Age=0"), "{text}");
    }
}

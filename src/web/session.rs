//! The session cookie: flash messages and the CSRF token, nothing that
//! grants access (a cookie-stored session cannot be revoked).

use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::HttpRequest;
use actix_web::cookie::{Key, SameSite};
use rand::distr::{Alphanumeric, SampleString};
use subtle::ConstantTimeEq;

use crate::auth::PendingLogin;
use crate::web::error::AppError;

pub const SESSION_COOKIE: &str = "gatehouse_session";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

pub fn session_middleware(key: Key, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_content_security(CookieContentSecurity::Private)
        .build()
}

/// The session's CSRF token, made when the session has none yet.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return token;
    }
    let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
    // Inserting a String cannot fail to serialize.
    let _ = session.insert(CSRF_KEY, &token);
    token
}

/// Refuses a form post that a browser says came from another site, or whose
/// token is missing or not the session's.
pub fn verify_form(
    req: &HttpRequest,
    session: &Session,
    submitted: Option<&str>,
) -> Result<(), AppError> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !is_same_origin(header("sec-fetch-site"), header("origin"), header("host")) {
        return Err(AppError::Csrf);
    }
    verify_csrf(session, submitted)
}

/// Fetch metadata first (`same-origin`, or `none` for a user's own
/// navigation), else `Origin` against `Host`; a request with neither comes
/// from no browser that would send our cookies cross-site.
pub fn is_same_origin(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
) -> bool {
    if let Some(site) = sec_fetch_site {
        return matches!(site, "same-origin" | "none");
    }
    match origin {
        None => true,
        Some(origin) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
        }
    }
}

/// Refuses a form whose token is missing or not the session's.
pub fn verify_csrf(session: &Session, submitted: Option<&str>) -> Result<(), AppError> {
    let expected = session.get::<String>(CSRF_KEY).ok().flatten();
    match (expected, submitted) {
        (Some(expected), Some(submitted))
            if bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}

/// Drops everything the session held (a planted session does not survive a
/// login or logout) and starts over with a fresh CSRF token.
pub fn restart(session: &Session) {
    session.clear();
    session.renew();
    csrf_token(session);
}

pub fn set_flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(FLASH_KEY, message.into());
}

/// Takes the pending flash message. The session changes (and its cookie is
/// sent again) only when there was one.
pub fn take_flash(session: &Session) -> Option<String> {
    if !session.contains_key(FLASH_KEY) {
        return None;
    }
    session.remove_as::<String>(FLASH_KEY).and_then(Result::ok)
}

const PENDING_LOGIN_KEY: &str = "pending_login";
const TWO_FACTOR_SETUP_KEY: &str = "two_factor_setup";

/// Keeps a login that waits for its two-factor code (the cookie is
/// encrypted and signed: the browser can neither read nor forge it).
pub fn set_pending_login(session: &Session, pending: &PendingLogin) {
    let _ = session.insert(PENDING_LOGIN_KEY, pending);
}

pub fn pending_login(session: &Session) -> Option<PendingLogin> {
    session.get(PENDING_LOGIN_KEY).ok().flatten()
}

pub fn clear_pending_login(session: &Session) {
    session.remove(PENDING_LOGIN_KEY);
}

/// The secret being set up, between the page that shows it and the post
/// that turns two-factor on with a code from it (base32).
pub fn set_two_factor_setup(session: &Session, base32: &str) {
    let _ = session.insert(TWO_FACTOR_SETUP_KEY, base32);
}

pub fn two_factor_setup(session: &Session) -> Option<String> {
    session.get(TWO_FACTOR_SETUP_KEY).ok().flatten()
}

pub fn clear_two_factor_setup(session: &Session) {
    session.remove(TWO_FACTOR_SETUP_KEY);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_session::SessionExt;
    use actix_web::test::TestRequest;

    #[test]
    fn a_token_is_made_once_and_verified() {
        let req = TestRequest::default().to_srv_request();
        let session = req.get_session();
        let token = csrf_token(&session);
        assert_eq!(token.len(), 32);
        assert_eq!(csrf_token(&session), token);
        assert!(verify_csrf(&session, Some(&token)).is_ok());
        assert!(verify_csrf(&session, Some("wrong")).is_err());
        assert!(verify_csrf(&session, None).is_err());
    }

    #[test]
    fn a_restart_replaces_the_token_and_drops_the_flash() {
        let req = TestRequest::default().to_srv_request();
        let session = req.get_session();
        let old = csrf_token(&session);
        set_flash(&session, "hello");
        restart(&session);
        assert!(verify_csrf(&session, Some(&old)).is_err());
        assert_eq!(take_flash(&session), None);
    }

    #[test]
    fn reading_a_page_without_a_flash_leaves_the_session_unchanged() {
        let req = TestRequest::default().to_srv_request();
        let session = req.get_session();
        csrf_token(&session);
        session.renew();
        let status_before = session.status();
        assert_eq!(take_flash(&session), None);
        assert_eq!(session.status(), status_before);
        set_flash(&session, "hello");
        assert_eq!(take_flash(&session).as_deref(), Some("hello"));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let host = Some("app.example:8080");
        assert!(is_same_origin(Some("same-origin"), None, host));
        assert!(is_same_origin(Some("none"), None, host));
        assert!(!is_same_origin(Some("same-site"), None, host));
        assert!(!is_same_origin(
            Some("cross-site"),
            Some("http://app.example:8080"),
            host
        ));
        assert!(is_same_origin(None, Some("http://app.example:8080"), host));
        assert!(is_same_origin(None, Some("https://APP.example:8080"), host));
        assert!(!is_same_origin(None, Some("http://evil.example"), host));
        assert!(!is_same_origin(None, Some("null"), host));
        assert!(!is_same_origin(None, Some("http://app.example:8080"), None));
        assert!(is_same_origin(None, None, host));
    }

    #[test]
    fn a_session_without_a_token_refuses_every_form() {
        let req = TestRequest::default().to_srv_request();
        assert!(verify_csrf(&req.get_session(), Some("")).is_err());
    }
}

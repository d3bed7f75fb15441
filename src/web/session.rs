//! The session cookie: flash messages and the CSRF token, nothing that
//! grants access (a cookie-stored session cannot be revoked).
//!
//! A page's forms carry the session's CSRF token. A logged-in visitor whose
//! request brings no session token gets one bound to the login instead: an
//! HMAC of the login's session id under a key derived from the secret
//! (OWASP's "HMAC-based token"), so showing a page to a client that keeps
//! no session cookie writes no session. A form post passes with either:
//! the session's token, or the token of the login the post itself carries.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::auth::{Authenticated, PendingLogin};
use crate::web::caller::login_session;
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

/// Makes and checks the CSRF tokens bound to a login; built once at start.
/// Holds the HMAC already keyed, so a token costs the hashing of the
/// session id alone.
#[derive(Clone)]
pub struct LoginFormKey(Hmac<Sha256>);

/// The length of a login-bound token: 32 bytes of HMAC in unpadded base64url.
const LOGIN_TOKEN_LEN: usize = 43;

impl LoginFormKey {
    /// `secret` is the app's secret; the key is derived from it and differs
    /// from every other key derived from it.
    pub fn new(secret: &[u8]) -> Self {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        derive.update(b"gatehouse login form token key v1");
        let key = derive.finalize().into_bytes();
        Self(
            <Hmac<Sha256> as Mac>::new_from_slice(&key)
                .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length")),
        )
    }

    fn mac(&self, session_id: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(session_id.as_bytes());
        mac
    }

    /// The forms' token for the login whose session is `session_id`.
    pub fn token(&self, session_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session_id).finalize().into_bytes())
    }

    /// Whether `submitted` is the token of the login `session_id` (in
    /// constant time).
    pub fn verify(&self, session_id: &str, submitted: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(submitted) else {
            return false;
        };
        self.mac(session_id).verify_slice(&tag).is_ok()
    }
}

/// The session of a page request, with the key of login-bound form tokens
/// (absent from apps built without one, whose pages then use the session).
pub struct PageSession {
    session: Session,
    login_forms: Option<web::Data<LoginFormKey>>,
}

impl Deref for PageSession {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.session
    }
}

impl FromRequest for PageSession {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self {
            session: req.get_session(),
            login_forms: req.app_data::<web::Data<LoginFormKey>>().cloned(),
        }))
    }
}

/// The CSRF token of a page's forms: the session's when it holds one; else,
/// for a logged-in visitor, the login's, which needs no session; else a new
/// one in the session.
pub fn form_token(session: &PageSession, user: Option<&Authenticated>) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF_KEY) {
        return token;
    }
    match (user, &session.login_forms) {
        (Some(user), Some(key)) => key.token(&user.claims.sid),
        _ => csrf_token(session),
    }
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
/// token is missing, or neither the session's nor that of the login the
/// post carries (its one auth cookie, else its refresh cookie).
pub async fn verify_form(
    req: &HttpRequest,
    session: &Session,
    submitted: Option<&str>,
) -> Result<(), AppError> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !is_same_origin(header("sec-fetch-site"), header("origin"), header("host")) {
        return Err(AppError::Csrf);
    }
    if verify_csrf(session, submitted).is_ok() {
        return Ok(());
    }
    let (Some(submitted), Some(key)) = (submitted, req.app_data::<web::Data<LoginFormKey>>())
    else {
        return Err(AppError::Csrf);
    };
    if submitted.len() != LOGIN_TOKEN_LEN {
        return Err(AppError::Csrf);
    }
    match login_session(req).await? {
        Some(session_id) if key.verify(&session_id, submitted) => Ok(()),
        _ => Err(AppError::Csrf),
    }
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
    fn a_login_bound_token_holds_for_its_session_and_key_only() {
        let key = LoginFormKey::new(b"a secret of at least thirty-two bytes");
        let token = key.token("session-a");
        assert_eq!(token.len(), LOGIN_TOKEN_LEN);
        assert_eq!(key.token("session-a"), token);
        assert!(key.verify("session-a", &token));
        assert!(!key.verify("session-b", &token));
        assert!(!key.verify("session-a", &key.token("session-b")));
        assert!(!key.verify("session-a", &token[..LOGIN_TOKEN_LEN - 1]));
        assert!(!key.verify("session-a", ""));
        let other = LoginFormKey::new(b"another secret of thirty-two bytes");
        assert!(!other.verify("session-a", &token));
    }

    fn logged_in(sid: &str) -> Authenticated {
        use crate::auth::Claims;
        use crate::models::user::User;
        use std::sync::Arc;
        Authenticated {
            user: Arc::new(User {
                id: 7,
                username: "someone".into(),
                email: "someone@example.com".into(),
                hashed_password: String::new(),
                token_version: 0,
                email_verified: true,
                disabled: false,
            }),
            claims: Arc::new(Claims {
                sub: "7".into(),
                exp: 0,
                iat: 0,
                jti: "jti".into(),
                iss: "gatehouse".into(),
                ver: 0,
                sid: sid.into(),
                nbf: None,
            }),
        }
    }

    #[test]
    fn a_page_takes_the_session_token_else_the_login_token_else_a_new_one() {
        let key = web::Data::new(LoginFormKey::new(b"a secret"));
        let user = logged_in("session-a");
        let page = |req: &actix_web::dev::ServiceRequest| PageSession {
            session: req.get_session(),
            login_forms: Some(key.clone()),
        };

        // Logged in, no session token: the login's, and the session stays
        // untouched (no cookie is written).
        let req = TestRequest::default().to_srv_request();
        let session = page(&req);
        assert_eq!(form_token(&session, Some(&user)), key.token("session-a"));
        assert_eq!(session.status(), actix_session::SessionStatus::Unchanged);

        // A session that holds a token keeps using it.
        let req = TestRequest::default().to_srv_request();
        let session = page(&req);
        let stored = csrf_token(&session);
        assert_eq!(form_token(&session, Some(&user)), stored);

        // Anonymous: a new token in the session.
        let req = TestRequest::default().to_srv_request();
        let session = page(&req);
        let made = form_token(&session, None);
        assert_eq!(made.len(), 32);
        assert!(verify_csrf(&session, Some(&made)).is_ok());
    }

    #[test]
    fn a_session_without_a_token_refuses_every_form() {
        let req = TestRequest::default().to_srv_request();
        assert!(verify_csrf(&req.get_session(), Some("")).is_err());
    }
}

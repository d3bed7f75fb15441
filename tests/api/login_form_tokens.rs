//! Pages seen by a client that sends its login but no session cookie: their
//! forms carry a CSRF token bound to that login, so showing them writes no
//! session; a post passes with it for that same login only.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::helpers::{AUTH_COOKIE, Backend, LOGIN_FOR_ME, TestApp, assert_redirects_to, csrf_from};

const REFRESH_COOKIE: &str = "gatehouse_refresh";

backend_tests!(
    a_page_seen_with_only_the_auth_cookie_sets_no_cookie_and_its_logout_form_works,
    every_form_of_the_account_page_takes_the_login_bound_token,
    a_login_bound_token_is_refused_with_another_login_or_none,
    a_forged_login_bound_token_is_refused,
    a_login_bound_token_works_once_only_the_refresh_cookie_is_left,
    a_session_token_still_wins_when_the_client_has_one,
);

/// A request from a client that keeps no cookies: exactly `cookies` sent.
async fn get(app: &TestApp, path: &str, cookies: &str) -> Response {
    app.client
        .get(app.url(path))
        .header(COOKIE, cookies)
        .send()
        .await
        .expect("GET failed")
}

async fn post(app: &TestApp, path: &str, cookies: &str, csrf: &str) -> Response {
    let request = app.client.post(app.url(path)).form(&[("csrf_token", csrf)]);
    let request = if cookies.is_empty() {
        request
    } else {
        request.header(COOKIE, cookies)
    };
    request.send().await.expect("POST failed")
}

/// The CSRF token of the page at `path` seen with exactly `cookies`;
/// asserts the page sets no cookie at all.
async fn token_of_page(app: &TestApp, path: &str, cookies: &str) -> String {
    let response = get(app, path, cookies).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let set: Vec<_> = response.headers().get_all(SET_COOKIE).iter().collect();
    assert!(set.is_empty(), "GET {path} sets cookies: {set:?}");
    csrf_from(&response.text().await.expect("no body"))
}

fn auth(token: &str) -> String {
    format!("{AUTH_COOKIE}={token}")
}

async fn a_page_seen_with_only_the_auth_cookie_sets_no_cookie_and_its_logout_form_works(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;
    let csrf = token_of_page(&app, "/me", &auth(&token)).await;
    // The same token on every page of that login, however often seen.
    assert_eq!(token_of_page(&app, "/me", &auth(&token)).await, csrf);
    assert_eq!(token_of_page(&app, "/", &auth(&token)).await, csrf);

    let response = post(&app, "/logout", &auth(&token), &csrf).await;

    assert_redirects_to(&response, "/login");
    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn every_form_of_the_account_page_takes_the_login_bound_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;
    let csrf = token_of_page(&app, "/me", &auth(&token)).await;

    // The confirmation link is sent again (the address is not confirmed).
    let resend = post(&app, "/me/verify-email", &auth(&token), &csrf).await;
    assert_redirects_to(&resend, "/me");

    let everywhere = post(&app, "/logout-everywhere", &auth(&token), &csrf).await;
    assert_redirects_to(&everywhere, "/login");
    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn a_login_bound_token_is_refused_with_another_login_or_none(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, _, token) = app.user_with_token().await;
    let (_, _, other) = app.user_with_token().await;
    // The same user's second login is a session of its own.
    let second = app.login_via_api(&user.email, &user.password).await;
    let csrf = token_of_page(&app, "/me", &auth(&token)).await;
    assert_ne!(token_of_page(&app, "/me", &auth(&other)).await, csrf);
    assert_ne!(token_of_page(&app, "/me", &auth(&second)).await, csrf);

    for (case, cookies) in [
        ("another user's login", auth(&other)),
        ("the same user's other login", auth(&second)),
        ("no login", String::new()),
        (
            "two auth cookies, the right one among them",
            format!("{}; {}", auth(&token), auth(&other)),
        ),
    ] {
        for path in ["/logout", "/logout-everywhere"] {
            let response = post(&app, path, &cookies, &csrf).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}: {path}");
        }
    }
    // Nothing was logged out.
    for token in [&token, &other, &second] {
        app.assert_accepted_as_cookie_and_bearer(token).await;
    }
    assert_redirects_to(&post(&app, "/logout", &auth(&token), &csrf).await, "/login");
}

async fn a_forged_login_bound_token_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;
    let csrf = token_of_page(&app, "/me", &auth(&token)).await;
    let mut flipped = csrf.clone();
    let last = if flipped.ends_with('A') { 'B' } else { 'A' };
    flipped.pop();
    flipped.push(last);

    for (case, forged) in [
        ("the last character changed", flipped),
        ("cut short", csrf[..csrf.len() - 1].to_owned()),
        ("one character more", format!("{csrf}A")),
        ("another token of its length", "A".repeat(csrf.len())),
        ("padded", format!("{csrf}=")),
        ("empty", String::new()),
    ] {
        let response = post(&app, "/logout", &auth(&token), &forged).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
    }
    app.assert_accepted_as_cookie_and_bearer(&token).await;
}

async fn a_login_bound_token_works_once_only_the_refresh_cookie_is_left(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    let (_, other_refresh) = app.api_session(&user.email, &user.password).await;
    let both = format!("{}; {REFRESH_COOKIE}={refresh}", auth(&access));
    let csrf = token_of_page(&app, "/me", &both).await;

    // The access token has expired (or the browser dropped it): only the
    // refresh cookie names the login. Another session's does not do.
    let other = format!("{REFRESH_COOKIE}={other_refresh}");
    let refused = post(&app, "/logout", &other, &csrf).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let response = post(
        &app,
        "/logout",
        &format!("{REFRESH_COOKIE}={refresh}"),
        &csrf,
    )
    .await;

    assert_redirects_to(&response, "/login");
    app.assert_api_session_ended(&access, &refresh).await;
    // The other session lives on.
    let renewed = get(&app, "/me", &other).await;
    assert_eq!(renewed.status(), StatusCode::OK);
}

async fn a_session_token_still_wins_when_the_client_has_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    // A browser that logged in through the form holds a session with its
    // token, and its pages show that one.
    let session_token = user.csrf_token_from("/login").await;
    assert_eq!(user.csrf_token_from("/me").await, session_token);
    let login_bound = token_of_page(&app, "/me", &auth(&user.token())).await;
    assert_ne!(login_bound, session_token);

    assert_redirects_to(&user.logout_via_form().await, "/login");
    assert_redirects_to(&user.get_me().await, LOGIN_FOR_ME);
}

//! Sessions that last: every login starts one, access tokens name it, the
//! API trades refresh tokens (rotated, a reused one ends the session), the
//! browser gets a refresh cookie, logout and "log out everywhere" end
//! sessions, and idle and lifetime limits end them by themselves.

use std::time::{Duration, Instant};

use cookie::SameSite;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestUser, csrf_from, json_body, jwt_claims, run_gatehouse, set_cookie,
};

backend_tests!(
    an_api_login_starts_a_session_named_in_its_token,
    a_refresh_token_buys_a_new_pair_once,
    a_spent_refresh_token_presented_again_ends_the_whole_session,
    empty_or_unknown_refresh_tokens_are_refused,
    a_remember_that_is_not_a_boolean_is_refused,
    logout_ends_the_session_of_its_token,
    the_operators_revoke_sessions_ends_every_session,
    the_login_form_sets_a_refresh_cookie_that_lasts_only_when_remembered,
    logout_clears_both_cookies,
    a_session_unused_past_its_idle_limit_ends,
    a_session_in_use_lives_on_past_its_idle_limit,
    a_session_ends_after_its_lifetime_even_in_use,
    a_remembered_session_outlives_the_idle_limit,
);

/// An API login: the answer's JSON.
async fn api_login(app: &TestApp, user: &TestUser, remember: bool) -> Value {
    let response = app
        .api_login(&json!({ "email": user.email, "password": user.password, "remember": remember }))
        .await;
    json_body(response, StatusCode::OK).await
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.api_post_json("/api/refresh", &json!({ "refresh_token": token }))
        .await
}

async fn registered(app: &TestApp) -> TestUser {
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    user
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

async fn an_api_login_starts_a_session_named_in_its_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let first = api_login(&app, &user, false).await;
    let second = api_login(&app, &user, false).await;
    let sid = |answer: &Value| jwt_claims(&text(&answer["access_token"]))["sid"].clone();
    assert!(sid(&first).is_string(), "{first}");
    assert_ne!(sid(&first), sid(&second), "each login is its own session");
    let refresh = text(&first["refresh_token"]);
    assert!(
        refresh.len() >= 22,
        "a refresh token of at least 128 bits: {refresh}"
    );
    assert_eq!(first["token_type"], "bearer");
}

async fn a_refresh_token_buys_a_new_pair_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, false).await;
    let first = text(&login["refresh_token"]);

    let answer = json_body(refresh(&app, &first).await, StatusCode::OK).await;
    let (access, second) = (
        text(&answer["access_token"]),
        text(&answer["refresh_token"]),
    );
    assert_ne!(second, first);
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 900);
    assert_eq!(
        jwt_claims(&access)["sid"],
        jwt_claims(&text(&login["access_token"]))["sid"],
        "the same session"
    );
    let me = json_body(app.api_me(&access).await, StatusCode::OK).await;
    assert_eq!(me["email"], user.email.as_str());
    // And the new one works in turn.
    assert_eq!(refresh(&app, &second).await.status(), StatusCode::OK);
}

async fn a_spent_refresh_token_presented_again_ends_the_whole_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, false).await;
    let (old_access, first) = (text(&login["access_token"]), text(&login["refresh_token"]));
    let newest = json_body(refresh(&app, &first).await, StatusCode::OK).await;

    // The spent token comes back: a thief, or the owner after the thief.
    let replay = refresh(&app, &first).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    // The whole session is over, the newest pair too.
    assert_eq!(
        app.api_me(&text(&newest["access_token"])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.api_me(&old_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &text(&newest["refresh_token"]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Other sessions of the user are untouched.
    let other = api_login(&app, &user, false).await;
    assert_eq!(
        app.api_me(&text(&other["access_token"])).await.status(),
        StatusCode::OK
    );
}

async fn empty_or_unknown_refresh_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for token in ["", "not-a-refresh-token", &"A".repeat(43)] {
        let response = refresh(&app, token).await;
        let body = json_body(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(
            body,
            json!({ "detail": "Invalid or expired refresh token" }),
            "{token:?}"
        );
    }
    let missing = app.api_post_json("/api/refresh", &json!({})).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_remember_that_is_not_a_boolean_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let response = app
        .api_login(&json!({ "email": user.email, "password": user.password, "remember": "yes" }))
        .await;
    let body = json_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.to_string().contains("remember"), "{body}");
}

async fn logout_ends_the_session_of_its_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, false).await;
    let renewed = json_body(
        refresh(&app, &text(&login["refresh_token"])).await,
        StatusCode::OK,
    )
    .await;

    let logout = app.api_logout(&text(&login["access_token"])).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    // A sibling access token of the same session and its refresh token die too.
    assert_eq!(
        app.api_me(&text(&renewed["access_token"])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &text(&renewed["refresh_token"]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn the_operators_revoke_sessions_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let sessions = [
        api_login(&app, &user, false).await,
        api_login(&app, &user, true).await,
    ];
    let done = run_gatehouse(
        &app.database,
        &["user", "revoke-sessions", &user.email],
        &[],
    );
    assert!(done.status.success(), "{done:?}");
    for session in &sessions {
        assert_eq!(
            refresh(&app, &text(&session["refresh_token"]))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn the_login_form_sets_a_refresh_cookie_that_lasts_only_when_remembered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    for (remember, max_age) in [(false, None), (true, Some(30 * 24 * 3600))] {
        let browser = app.new_browser();
        let page = browser.get_login(None).await.text().await.expect("page");
        let csrf = csrf_from(&page);
        let mut form = vec![
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("csrf_token", csrf.as_str()),
        ];
        if remember {
            form.push(("remember", "on"));
        }
        let response = browser.post_login(&form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(&response, "gatehouse_refresh").expect("no refresh cookie");
        assert!(cookie.value().len() >= 22);
        assert!(cookie.http_only(), "{}", cookie.raw);
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{}", cookie.raw);
        assert_eq!(cookie.path(), Some("/"), "{}", cookie.raw);
        assert_eq!(
            cookie.max_age(),
            max_age,
            "remember={remember}: {}",
            cookie.raw
        );
    }
}

async fn logout_clears_both_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let browser = app.new_browser();
    browser.login_via_form(&user.email, &user.password).await;
    let logout = browser.logout_via_form().await;
    for name in ["gatehouse_token", "gatehouse_refresh"] {
        let cookie = set_cookie(&logout, name).unwrap_or_else(|| panic!("{name} not cleared"));
        assert_eq!(cookie.value(), "");
        assert_eq!(cookie.max_age(), Some(0));
    }
}

/// A server whose sessions end after these few seconds.
async fn short_sessions(backend: Backend, idle: &str, lifetime: &str) -> TestApp {
    TestApp::builder(backend)
        .env("GATEHOUSE_SESSION_IDLE", idle)
        .env("GATEHOUSE_SESSION_LIFETIME", lifetime)
        .spawn()
        .await
}

async fn a_session_unused_past_its_idle_limit_ends(backend: Backend) {
    let app = short_sessions(backend, "2s", "1h").await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, false).await;
    let access = text(&login["access_token"]);
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    // The access token itself has 15 minutes left; its session has ended.
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&app, &text(&login["refresh_token"])).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_session_in_use_lives_on_past_its_idle_limit(backend: Backend) {
    let app = short_sessions(backend, "2s", "1h").await;
    let user = registered(&app).await;
    let access = text(&api_login(&app, &user, false).await["access_token"]);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        assert_eq!(
            app.api_me(&access).await.status(),
            StatusCode::OK,
            "after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

async fn a_session_ends_after_its_lifetime_even_in_use(backend: Backend) {
    let app = short_sessions(backend, "1h", "2s").await;
    let user = registered(&app).await;
    let access = text(&api_login(&app, &user, false).await["access_token"]);
    let started = Instant::now();
    let mut refused_after = None;
    while started.elapsed() < Duration::from_secs(6) {
        if app.api_me(&access).await.status() == StatusCode::UNAUTHORIZED {
            refused_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = refused_after.expect("the session outlived its lifetime");
    assert!(
        after >= Duration::from_millis(1000),
        "ended early, after {after:?}"
    );
}

async fn a_remembered_session_outlives_the_idle_limit(backend: Backend) {
    let app = short_sessions(backend, "2s", "2s").await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, true).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        app.api_me(&text(&login["access_token"])).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, &text(&login["refresh_token"])).await.status(),
        StatusCode::OK
    );
}

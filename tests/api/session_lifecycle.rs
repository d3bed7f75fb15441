//! Sessions that last: every login starts one, access tokens name it, the
//! API trades refresh tokens (rotated, a reused one ends the session), the
//! browser gets a refresh cookie, logout and "log out everywhere" end
//! sessions, and idle and lifetime limits end them by themselves.

use std::time::{Duration, Instant};

use cookie::SameSite;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    AUTH_COOKIE, Backend, Browser, TestApp, TestUser, csrf_from, json_body, jwt_claims,
    run_gatehouse, set_cookie,
};

backend_tests! {
    both:
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
        a_page_without_an_access_token_is_served_and_renewed_from_the_refresh_cookie,
        expired_access_tokens_are_renewed_on_a_get_and_on_a_form_post,
        logout_with_only_the_refresh_cookie_ends_the_session,
        a_rotated_refresh_credential_renews_no_page;
    multi_thread:
        five_requests_racing_with_one_refresh_cookie_all_succeed;
}

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

/// A browser logged in through the form, whose access token is then lost
/// (as when it has expired and the browser dropped it).
async fn browser_with_only_the_refresh_cookie(app: &TestApp) -> (Browser, TestUser) {
    let user = registered(app).await;
    let browser = app.new_browser();
    let login = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    browser.set_cookie(AUTH_COOKIE, "");
    assert!(browser.auth_cookie().is_none());
    (browser, user)
}

async fn a_page_without_an_access_token_is_served_and_renewed_from_the_refresh_cookie(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (browser, user) = browser_with_only_the_refresh_cookie(&app).await;
    let me = browser.get_me().await;
    assert_eq!(me.status(), StatusCode::OK, "not sent to the login page");
    let renewed = set_cookie(&me, AUTH_COOKIE).expect("no fresh access token");
    assert!(!renewed.value().is_empty());
    assert!(me.text().await.expect("page").contains(&user.username));
    // The fresh token is what the next request uses.
    assert_eq!(browser.auth_cookie().as_deref(), Some(renewed.value()));
    let again = browser.get_me().await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        set_cookie(&again, AUTH_COOKIE).is_none(),
        "renewed although the token was valid"
    );
}

async fn expired_access_tokens_are_renewed_on_a_get_and_on_a_form_post(backend: Backend) {
    // Tokens live a second (plus the 5 s leeway); sessions much longer.
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_TOKEN_TTL", "1s")
        .spawn()
        .await;
    let user = registered(&app).await;
    let reader = app.new_browser();
    reader.login_via_form(&user.email, &user.password).await;
    let writer = app.new_browser();
    writer.login_via_form(&user.email, &user.password).await;
    let home = writer.get_home().await.text().await.expect("page");
    let csrf = csrf_from(&home);
    tokio::time::sleep(Duration::from_millis(6500)).await;

    let me = reader.get_me().await;
    assert_eq!(me.status(), StatusCode::OK, "a GET after the token expired");
    assert!(set_cookie(&me, AUTH_COOKIE).is_some_and(|c| !c.value().is_empty()));

    // A form posted with an expired token is not lost: it is done as the user.
    let post = writer
        .post_form("/logout-everywhere", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(post.status(), StatusCode::SEE_OTHER);
    assert_eq!(post.headers()["location"], "/login");
    let next = writer.get_login(None).await.text().await.expect("page");
    assert!(
        next.contains("You have been logged out everywhere"),
        "{next}"
    );
    // Which ended the reader's session too.
    reader.set_cookie(AUTH_COOKIE, "");
    assert_eq!(reader.get_me().await.status(), StatusCode::SEE_OTHER);
}

async fn five_requests_racing_with_one_refresh_cookie_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = browser_with_only_the_refresh_cookie(&app).await;
    let tabs: Vec<_> = (0..5)
        .map(|_| {
            let tab = browser.clone();
            tokio::spawn(async move { tab.get_me().await.status() })
        })
        .collect();
    for tab in tabs {
        assert_eq!(tab.await.expect("a tab panicked"), StatusCode::OK);
    }
}

async fn logout_with_only_the_refresh_cookie_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _) = browser_with_only_the_refresh_cookie(&app).await;
    let refresh = browser.cookies()["gatehouse_refresh"].clone();
    let csrf = browser.csrf_token_from("/login").await;
    // Fetching the login page renewed the token; drop it again.
    browser.set_cookie(AUTH_COOKIE, "");
    let logout = browser
        .post_form("/logout", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    // The old refresh cookie, replayed, opens nothing.
    let replay = app.new_browser();
    replay.set_cookie("gatehouse_refresh", &refresh);
    let me = replay.get_me().await;
    assert_eq!(me.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&me, AUTH_COOKIE).is_none());
}

async fn a_rotated_refresh_credential_renews_no_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = registered(&app).await;
    let login = api_login(&app, &user, false).await;
    let spent = text(&login["refresh_token"]);
    // A page renewed from the credential: it is remembered now.
    let browser = app.new_browser();
    browser.set_cookie("gatehouse_refresh", &spent);
    assert_eq!(browser.get_me().await.status(), StatusCode::OK);

    let rotated = json_body(refresh(&app, &spent).await, StatusCode::OK).await;

    // At once, the spent credential logs nobody in; the new one does.
    let stale = app.new_browser();
    stale.set_cookie("gatehouse_refresh", &spent);
    assert_eq!(stale.get_me().await.status(), StatusCode::SEE_OTHER);
    let fresh = app.new_browser();
    fresh.set_cookie("gatehouse_refresh", &text(&rotated["refresh_token"]));
    assert_eq!(fresh.get_me().await.status(), StatusCode::OK);
}

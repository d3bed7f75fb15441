//! `GET /login` and `POST /login`.

use reqwest::StatusCode;

use crate::helpers::{
    AUTH_COOKIE, Backend, CookieUser, DEFAULT_TTL_SECS, INVALID_CREDENTIALS, TestApp, TestUser,
    assert_auth_cookie_attributes, assert_has_field, assert_password_inputs_are_empty,
    assert_redirects_to, auth_set_cookie, csrf_from, input_named, set_cookie,
};

backend_tests!(
    the_login_page_shows_a_form_with_a_csrf_token,
    the_login_page_keeps_the_next_parameter,
    logging_in_redirects_to_the_account_page_and_sets_the_auth_cookie,
    logging_in_with_a_local_next_redirects_there,
    logging_in_with_a_next_that_leaves_the_site_redirects_to_the_account_page,
    logging_in_with_a_wrong_password_shows_an_error,
    logging_in_with_an_unknown_email_shows_the_same_error,
    logging_in_without_a_csrf_token_is_forbidden,
);

async fn the_login_page_shows_a_form_with_a_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get_login(None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    for field in ["email", "password", "csrf_token"] {
        assert_has_field(&html, field);
    }
    assert!(!csrf_from(&html).is_empty());
    assert_password_inputs_are_empty(&html);
}

async fn the_login_page_keeps_the_next_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get_login(Some("/somewhere")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let next = input_named(&html, "next").unwrap_or_else(|| panic!("no next input in:\n{html}"));
    assert_eq!(next.attr("type"), Some("hidden"));
    assert_eq!(next.attr("value"), Some("/somewhere"));
}

async fn logging_in_redirects_to_the_account_page_and_sets_the_auth_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let response = app.login_via_form(&user.email, &user.password).await;

    assert_redirects_to(&response, "/me");
    let cookie = auth_set_cookie(&response);
    assert_auth_cookie_attributes(&cookie, DEFAULT_TTL_SECS, false);
    let html = CookieUser::new(&app, user.clone()).me().await;
    assert!(
        html.contains(&format!("Welcome, {}", user.username)),
        "no welcome message in:\n{html}"
    );
}

async fn logging_in_with_a_local_next_redirects_there(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let csrf = app.csrf_token_from("/login?next=%2Fsomewhere%2Felse").await;

    let response = app
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("next", "/somewhere/else"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_redirects_to(&response, "/somewhere/else");
    assert!(app.auth_cookie().is_some());
}

async fn logging_in_with_a_next_that_leaves_the_site_redirects_to_the_account_page(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for next in [
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "evil.example",
    ] {
        let browser = app.new_browser();
        let csrf = browser.csrf_token_from("/login").await;
        let response = browser
            .post_login(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
                ("next", next),
                ("csrf_token", &csrf),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next = {next:?}");
        assert_eq!(
            crate::helpers::location(&response),
            "/me",
            "next = {next:?}"
        );
    }
}

async fn logging_in_with_a_wrong_password_shows_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let response = app.login_via_form(&user.email, "Wrong-Password-987").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&response, AUTH_COOKIE).is_none_or(|cookie| cookie.value().is_empty()));
    let html = response.text().await.unwrap();
    assert!(html.contains(INVALID_CREDENTIALS), "{html}");
    let email = input_named(&html, "email").expect("no email input");
    assert_eq!(email.attr("value"), Some(user.email.as_str()));
    assert!(
        !html.contains("Wrong-Password-987"),
        "password echoed:\n{html}"
    );
    assert_password_inputs_are_empty(&html);
    assert!(app.auth_cookie().is_none());
    assert_redirects_to(&app.get_me().await, crate::helpers::LOGIN_FOR_ME);
}

async fn logging_in_with_an_unknown_email_shows_the_same_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app
        .login_via_form("nobody@example.com", "Some-Password-123")
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(html.contains(INVALID_CREDENTIALS), "{html}");
    let email = input_named(&html, "email").expect("no email input");
    assert_eq!(email.attr("value"), Some("nobody@example.com"));
    assert!(
        !html.contains("Some-Password-123"),
        "password echoed:\n{html}"
    );
    assert!(app.auth_cookie().is_none());
}

async fn logging_in_without_a_csrf_token_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    app.get_login(None).await;

    let response = app
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, AUTH_COOKIE).is_none());
    assert!(app.auth_cookie().is_none());
    assert_redirects_to(&app.get_me().await, crate::helpers::LOGIN_FOR_ME);
}

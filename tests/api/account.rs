//! `GET /me`, the account page.

use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;

use crate::helpers::{
    Backend, CookieUser, LOGIN_FOR_ME, TestApp, TestUser, assert_redirects_to, sign_token,
    valid_claims,
};

backend_tests!(
    the_account_page_shows_username_and_email_and_is_not_cached,
    the_account_page_sends_anonymous_visitors_to_the_login_page,
    the_account_page_rejects_a_garbage_cookie,
    the_account_page_rejects_a_token_signed_with_another_key,
    the_account_page_ignores_a_bearer_header,
    the_login_redirect_from_the_account_page_comes_back_to_it,
);

async fn the_account_page_shows_username_and_email_and_is_not_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;

    let response = app.get_me().await;

    assert_eq!(response.status(), StatusCode::OK);
    let cache_control = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cache_control.contains("no-store"),
        "Cache-Control: {cache_control:?}"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(&user.username), "{html}");
    assert!(html.contains(&user.email), "{html}");
}

async fn the_account_page_sends_anonymous_visitors_to_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get_me().await;

    assert_redirects_to(&response, LOGIN_FOR_ME);
}

async fn the_account_page_rejects_a_garbage_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for garbage in ["garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"] {
        let response = app.get_me_with_cookie(garbage).await;
        assert_redirects_to(&response, LOGIN_FOR_ME);
    }
}

async fn the_account_page_rejects_a_token_signed_with_another_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, issued) = app.user_with_token().await;
    let key: [u8; 32] = rand::random();
    let forged = sign_token(&valid_claims(&issued), &key);

    app.assert_rejected_as_cookie_and_bearer(&forged).await;
}

async fn the_account_page_ignores_a_bearer_header(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;

    let response = app
        .new_browser()
        .client
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_redirects_to(&response, LOGIN_FOR_ME);
}

async fn the_login_redirect_from_the_account_page_comes_back_to_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    let redirect = app.get_me().await;
    let login_page = app.get(&crate::helpers::location(&redirect)).await;
    assert_eq!(login_page.status(), StatusCode::OK);
    let html = login_page.text().await.unwrap();
    let next = crate::helpers::input_value(&html, "next");
    assert_eq!(next.as_deref(), Some("/me"));
    let csrf = crate::helpers::csrf_from(&html);
    let response = app
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("next", "/me"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_redirects_to(&response, "/me");
    CookieUser::new(&app, user).me().await;
}

//! `POST /logout`.

use reqwest::StatusCode;

use crate::helpers::{
    AUTH_COOKIE, Backend, LOGGED_OUT, LOGIN_FOR_ME, TestApp, assert_clears_auth_cookie,
    assert_redirects_to, auth_set_cookie, set_cookie,
};

backend_tests!(
    logging_out_redirects_to_the_login_page_and_clears_the_cookie,
    logging_out_shows_a_message_on_the_login_page,
    a_logged_out_cookie_no_longer_opens_the_account_page,
    logging_out_without_a_token_still_clears_the_cookie_and_redirects,
    logging_out_without_a_csrf_token_is_forbidden_and_keeps_the_user_logged_in,
    logging_out_with_a_wrong_csrf_token_is_forbidden,
);

async fn logging_out_redirects_to_the_login_page_and_clears_the_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    assert!(user.auth_cookie().is_some());

    let response = user.logout_via_form().await;

    assert_redirects_to(&response, "/login");
    assert_clears_auth_cookie(&auth_set_cookie(&response));
    assert!(user.auth_cookie().is_none());
    user.assert_logged_out().await;
}

async fn logging_out_shows_a_message_on_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;
    // The welcome flash is consumed first.
    app.get_me().await;

    let response = app.logout_via_form().await;
    assert_redirects_to(&response, "/login");

    let html = app.get_login(None).await.text().await.unwrap();
    assert!(html.contains(LOGGED_OUT), "no logout message in:\n{html}");
    let again = app.get_login(None).await.text().await.unwrap();
    assert!(
        !again.contains(LOGGED_OUT),
        "the message shows twice:\n{again}"
    );
}

async fn a_logged_out_cookie_no_longer_opens_the_account_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    let old_token = user.token();

    assert_redirects_to(&user.logout_via_form().await, "/login");

    // Someone who kept a copy of the cookie replays it.
    assert_redirects_to(&app.get_me_with_cookie(&old_token).await, LOGIN_FOR_ME);
}

async fn logging_out_without_a_token_still_clears_the_cookie_and_redirects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/login").await;

    let response = app.post_logout(&[("csrf_token", csrf.as_str())]).await;

    assert_redirects_to(&response, "/login");
    assert_clears_auth_cookie(&auth_set_cookie(&response));
}

async fn logging_out_without_a_csrf_token_is_forbidden_and_keeps_the_user_logged_in(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    let token = user.token();

    let response = user.post_logout(&[("nothing", "here")]).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, AUTH_COOKIE).is_none());
    assert_eq!(user.auth_cookie(), Some(token.clone()));
    user.me().await;
    // The token was not denylisted either.
    assert_eq!(user.api_me(&token).await.status(), StatusCode::OK);
}

async fn logging_out_with_a_wrong_csrf_token_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;
    let token = user.token();

    let response = user
        .post_logout(&[("csrf_token", "forged-token-value")])
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    user.me().await;
    assert_eq!(user.api_me(&token).await.status(), StatusCode::OK);
}

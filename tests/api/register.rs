//! `GET /register` and `POST /register`.

use reqwest::StatusCode;

use crate::helpers::{
    AUTH_COOKIE, Backend, CookieUser, DEFAULT_TTL_SECS, EMAIL_INVALID, EMAIL_TAKEN, EMAIL_TOO_LONG,
    PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT, PASSWORDS_DIFFER, SESSION_COOKIE, TestApp, TestUser,
    USERNAME_CHARACTERS, USERNAME_LENGTH, USERNAME_TAKEN, assert_auth_cookie_attributes,
    assert_has_field, assert_password_inputs_are_empty, assert_redirects_to, auth_set_cookie,
    csrf_from, input_named, set_cookie,
};

backend_tests!(
    the_register_page_shows_a_form_with_a_csrf_token,
    registering_redirects_to_the_account_page_and_logs_the_user_in,
    registering_sets_an_http_only_lax_auth_cookie_for_the_token_lifetime,
    registering_with_invalid_values_shows_a_message_at_each_field,
    registering_with_invalid_values_keeps_username_and_email_but_never_passwords,
    registering_with_a_bad_username_an_overlong_email_and_an_overlong_password_shows_each_message,
    registering_with_mismatched_passwords_shows_an_error,
    kept_values_are_html_escaped,
    registering_a_taken_email_shows_an_error,
    registering_a_taken_username_shows_an_error,
    registering_a_taken_email_and_username_shows_the_email_error,
    registering_without_a_csrf_token_is_forbidden_and_creates_nothing,
    registering_with_a_wrong_csrf_token_is_forbidden,
    registering_with_a_csrf_token_from_another_session_is_forbidden,
    a_register_body_over_16_kib_is_too_large,
);

async fn the_register_page_shows_a_form_with_a_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get_register().await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    for field in [
        "username",
        "email",
        "password",
        "password_confirm",
        "csrf_token",
    ] {
        assert_has_field(&html, field);
    }
    let csrf = input_named(&html, "csrf_token").unwrap();
    assert_eq!(csrf.attr("type"), Some("hidden"));
    assert!(!csrf_from(&html).is_empty());
    assert_password_inputs_are_empty(&html);
    // The CSRF token is kept in the session cookie, not in the auth cookie.
    assert!(
        app.cookies().contains_key(SESSION_COOKIE),
        "{:?}",
        app.cookies()
    );
    assert!(app.auth_cookie().is_none());
}

async fn registering_redirects_to_the_account_page_and_logs_the_user_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();

    let response = app.register_via_form(&user).await;

    assert_redirects_to(&response, "/me");
    let html = CookieUser::new(&app, user.clone()).me().await;
    assert!(
        html.contains(&format!("Welcome, {}", user.username)),
        "no welcome message in:\n{html}"
    );
    // A flash message shows once.
    let again = app.get_me().await.text().await.unwrap();
    assert!(!again.contains("Welcome, "), "{again}");
}

async fn registering_sets_an_http_only_lax_auth_cookie_for_the_token_lifetime(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.register_via_form(&TestUser::generate()).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = auth_set_cookie(&response);
    assert_auth_cookie_attributes(&cookie, DEFAULT_TTL_SECS, false);
    assert_eq!(
        cookie.value().split('.').count(),
        3,
        "not a JWT: {}",
        cookie.raw
    );
    assert_eq!(app.auth_cookie().as_deref(), Some(cookie.value()));
}

async fn registering_with_invalid_values_shows_a_message_at_each_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/register").await;

    let response = app
        .post_register(&[
            ("username", "zz"),
            ("email", "not-an-email"),
            ("password", "tiny-pw"),
            ("password_confirm", "tiny-pw"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.auth_cookie().is_none());
    let html = response.text().await.unwrap();
    for message in [USERNAME_LENGTH, EMAIL_INVALID, PASSWORD_TOO_SHORT] {
        assert!(html.contains(message), "no {message:?} in:\n{html}");
    }
    // The form is shown again, ready for another try.
    assert!(find_position(&html, USERNAME_LENGTH) < find_position(&html, EMAIL_INVALID));
    assert!(find_position(&html, EMAIL_INVALID) < find_position(&html, PASSWORD_TOO_SHORT));
    csrf_from(&html);
}

fn find_position(html: &str, text: &str) -> usize {
    html.find(text)
        .unwrap_or_else(|| panic!("no {text:?} in:\n{html}"))
}

async fn registering_with_invalid_values_keeps_username_and_email_but_never_passwords(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/register").await;

    let response = app
        .post_register(&[
            ("username", "kept_name"),
            ("email", "kept-but-invalid"),
            ("password", "Secret-Pass-1234"),
            ("password_confirm", "Secret-Pass-1234"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let username = input_named(&html, "username").expect("no username input");
    assert_eq!(username.attr("value"), Some("kept_name"));
    let email = input_named(&html, "email").expect("no email input");
    assert_eq!(email.attr("value"), Some("kept-but-invalid"));
    assert!(
        !html.contains("Secret-Pass-1234"),
        "password echoed:\n{html}"
    );
    assert_password_inputs_are_empty(&html);
}

async fn registering_with_a_bad_username_an_overlong_email_and_an_overlong_password_shows_each_message(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/register").await;
    let email = format!("{}@example.com", "a".repeat(243));
    assert_eq!(email.len(), 255);
    let password = "p".repeat(73);

    let response = app
        .post_register(&[
            ("username", "no spaces!"),
            ("email", &email),
            ("password", &password),
            ("password_confirm", &password),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    for message in [USERNAME_CHARACTERS, EMAIL_TOO_LONG, PASSWORD_TOO_LONG] {
        assert!(html.contains(message), "no {message:?} in:\n{html}");
    }
    assert!(!html.contains(&password), "password echoed:\n{html}");
}

async fn registering_with_mismatched_passwords_shows_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let csrf = app.csrf_token_from("/register").await;

    let response = app
        .post_register(&[
            ("username", user.username.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("password_confirm", "something-else-entirely"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains(PASSWORDS_DIFFER), "{html}");
    assert!(!html.contains(&user.password), "password echoed:\n{html}");
    assert!(!html.contains("something-else-entirely"), "{html}");
    // Nothing was created: the same values register fine now.
    assert_redirects_to(&app.register_via_form(&user).await, "/me");
}

async fn kept_values_are_html_escaped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/register").await;

    let response = app
        .post_register(&[
            ("username", "<b>bold\"name"),
            ("email", "<script>alert(1)</script>"),
            ("password", "short"),
            ("password_confirm", "short"),
            ("csrf_token", &csrf),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(!html.contains("<b>bold"), "unescaped username:\n{html}");
    assert!(!html.contains("<script>alert"), "unescaped email:\n{html}");
    let username = input_named(&html, "username").expect("no username input");
    assert_eq!(username.attr("value"), Some("<b>bold\"name"));
    let email = input_named(&html, "email").expect("no email input");
    assert_eq!(email.attr("value"), Some("<script>alert(1)</script>"));
}

async fn registering_a_taken_email_shows_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register_and_login_via_form().await;
    let second = TestUser {
        email: first.email.clone(),
        ..TestUser::generate()
    };

    let response = app.new_browser().register_via_form(&second).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains(EMAIL_TAKEN), "{html}");
    assert!(!html.contains(&second.password), "password echoed:\n{html}");
    assert_password_inputs_are_empty(&html);
}

async fn registering_a_taken_username_shows_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register_and_login_via_form().await;
    let second = TestUser {
        username: first.username.clone(),
        ..TestUser::generate()
    };

    let response = app.new_browser().register_via_form(&second).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains(USERNAME_TAKEN), "{html}");
    assert!(!html.contains(EMAIL_TAKEN), "{html}");
    assert!(!html.contains(&second.password), "password echoed:\n{html}");
}

async fn registering_a_taken_email_and_username_shows_the_email_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register_and_login_via_form().await;
    let second = TestUser {
        password: "another-password-42".to_owned(),
        ..first.clone()
    };

    let response = app.new_browser().register_via_form(&second).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains(EMAIL_TAKEN), "{html}");
    assert!(!html.contains(USERNAME_TAKEN), "{html}");
}

async fn registering_without_a_csrf_token_is_forbidden_and_creates_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    // A session exists, but the form lacks its token.
    app.get_register().await;

    let response = app
        .post_register(&[
            ("username", user.username.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("password_confirm", user.password.as_str()),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, AUTH_COOKIE).is_none());
    assert!(app.auth_cookie().is_none());
    let login = app
        .api_login(&serde_json::json!({ "email": user.email, "password": user.password }))
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert_redirects_to(&app.register_via_form(&user).await, "/me");
}

async fn registering_with_a_wrong_csrf_token_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let csrf = app.csrf_token_from("/register").await;
    let wrong = format!("{csrf}x");

    let response = app.post_register(&user.register_form(&wrong)).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.auth_cookie().is_none());
    let response = app
        .post_register(&user.register_form("not-the-token"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_redirects_to(&app.register_via_form(&user).await, "/me");
}

async fn registering_with_a_csrf_token_from_another_session_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let other_session = app.new_browser();
    let foreign_csrf = other_session.csrf_token_from("/register").await;
    // This client has a session (and a token) of its own.
    let own_csrf = app.csrf_token_from("/register").await;
    assert_ne!(own_csrf, foreign_csrf);

    let response = app.post_register(&user.register_form(&foreign_csrf)).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.auth_cookie().is_none());
    // Without any session cookie the token is worth nothing either.
    let no_session = app.new_browser();
    let response = no_session
        .post_register(&user.register_form(&foreign_csrf))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

async fn a_register_body_over_16_kib_is_too_large(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let csrf = app.csrf_token_from("/register").await;
    let padding = "a".repeat(17 * 1024);

    let response = app
        .post_register(&[
            ("username", user.username.as_str()),
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("password_confirm", user.password.as_str()),
            ("csrf_token", &csrf),
            ("padding", &padding),
        ])
        .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.auth_cookie().is_none());
}

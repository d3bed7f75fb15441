//! Confirming the address: the link sent at registration, the page that
//! does not use it up, the button that does, resends and their cooldown,
//! and logins that wait for a confirmed address.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    AUTH_COOKIE, Backend, Browser, CONFIRM_MAIL, INVALID_CREDENTIALS, LINK_INVALID, Mailbox,
    RESET_MAIL, TestApp, TestMail, TestUser, assert_api_unauthorized, assert_has_field,
    assert_redirects_to, csrf_from, form_with_action, input_value, json_body, spawn_with_mail,
};

const NOT_CONFIRMED: &str = "Your email address is not confirmed";
const CONFIRMED: &str = "Your email address is confirmed";
const CONFIRM_FIRST: &str = "Confirm your email address first: we have sent you a new link";
const REGISTERED_UNCONFIRMED: &str = "Confirm your email address: we have sent you a link";

/// Asserts that the link page at `path` refuses its link: a 400 page
/// saying so, for GET and for a POST with a valid CSRF token.
async fn assert_link_refused(browser: &Browser, path: &str) {
    let get = browser.get(path).await;
    assert_eq!(get.status(), StatusCode::BAD_REQUEST, "GET {path}");
    let html = get.text().await.expect("body");
    assert!(html.contains(LINK_INVALID), "GET {path}:\n{html}");
    assert!(form_with_action(&html, path).is_none(), "{html}");
    let post = browser.post_blind(path, &[]).await;
    assert_eq!(post.status(), StatusCode::BAD_REQUEST, "POST {path}");
    let html = post.text().await.expect("body");
    assert!(html.contains(LINK_INVALID), "POST {path}:\n{html}");
}

/// Whether the account counts as confirmed, as `GET /api/me` says.
async fn email_verified(app: &TestApp, user: &TestUser) -> bool {
    let token = app.login_via_api(&user.email, &user.password).await;
    app.api_me_json(&token).await["email_verified"]
        .as_bool()
        .expect("email_verified is a boolean")
}

/// Asks for a password reset for `email` (202) and waits for its email:
/// queued after everything before it, it shows that the sender has got
/// past whatever was queued earlier.
async fn reset_mail_as_marker(app: &TestApp, mailbox: &Mailbox, email: &str, nth: usize) {
    app.forgot_via_api(email).await;
    mailbox.wait_for_nth(email, RESET_MAIL, nth).await;
}

/// `POST /me/verify-email` with the CSRF token of the account page.
async fn press_resend(browser: &Browser) -> Response {
    let me = browser.get_me().await;
    assert_eq!(me.status(), StatusCode::OK);
    let html = me.text().await.expect("body");
    assert!(
        form_with_action(&html, "/me/verify-email").is_some(),
        "no resend button:\n{html}"
    );
    browser
        .post_form(
            "/me/verify-email",
            &[("csrf_token", csrf_from(&html).as_str())],
        )
        .await
}

/// `POST /api/me/verify-email` with this bearer token.
async fn api_resend(browser: &Browser, token: &str) -> Response {
    browser
        .client
        .post(browser.url("/api/me/verify-email"))
        .bearer_auth(token)
        .send()
        .await
        .expect("POST failed")
}

async fn registration_mails_a_link_that_the_confirm_button_uses(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_cookie_user().await;
    let letter = mail
        .mailbox()
        .wait_for(&user.user.email, CONFIRM_MAIL)
        .await;
    assert!(letter.subject.contains("gatehouse"), "{}", letter.subject);
    assert_eq!(letter.from, "gatehouse <no-reply@localhost>");
    letter.assert_link_starts_with(&format!("{}/verify-email/", app.address));
    let me = app.get_me().await.text().await.expect("body");
    assert!(me.contains("Your email address is not confirmed"), "{me}");

    // Opening the link, twice, confirms nothing.
    for _ in 0..2 {
        app.form_at(&letter.link_path()).await;
    }
    let token = app
        .login_via_api(&user.user.email, &user.user.password)
        .await;
    assert_eq!(app.api_me_json(&token).await["email_verified"], false);

    // The button does, once.
    let html = app
        .get(&letter.link_path())
        .await
        .text()
        .await
        .expect("body");
    let csrf = csrf_from(&html);
    let confirmed = app
        .post_form(&letter.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_redirects_to(&confirmed, "/me");
    let me = app.get_me().await.text().await.expect("body");
    assert!(me.contains("Your email address is confirmed"), "{me}");
    assert!(!me.contains("Your email address is not confirmed"), "{me}");
    assert_eq!(app.api_me_json(&token).await["email_verified"], true);

    let again = app
        .post_form(&letter.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let html = again.text().await.expect("body");
    assert!(html.contains(LINK_INVALID), "{html}");
    let get = app.get(&letter.link_path()).await;
    assert_eq!(get.status(), StatusCode::BAD_REQUEST);
}

async fn api_registration_mails_a_link_too(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = TestUser::generate();
    let created = app.register_via_api(&user).await;
    assert_eq!(created["email_verified"], false);
    let letter = mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    assert_eq!(letter.token().len(), 32);
}

async fn a_link_expires_after_the_verify_ttl(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_VERIFY_TTL", "2s")
        .spawn()
        .await;
    let user = app.register_user().await;
    let letter = mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    let page = app.get(&letter.link_path()).await;
    assert_eq!(page.status(), StatusCode::OK, "a fresh link opens its page");

    // Past its two seconds the link confirms nothing.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_link_refused(&app, &letter.link_path()).await;
    assert!(!email_verified(&app, &user).await);

    // A new link, used at once, still does.
    let token = app.login_via_api(&user.email, &user.password).await;
    assert_eq!(
        api_resend(&app, &token).await.status(),
        StatusCode::ACCEPTED
    );
    let newer = mail
        .mailbox()
        .wait_for_nth(&user.email, CONFIRM_MAIL, 2)
        .await;
    assert_redirects_to(&app.press_button(&newer.link_path()).await, "/me");
    assert!(email_verified(&app, &user).await);
}

async fn unknown_tokens_are_refused_for_get_and_post(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    reset_mail_as_marker(&app, &mail.mailbox(), &user.email, 1).await;
    let reset = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;

    let made_up = "A".repeat(32);
    for token in [made_up.as_str(), "x", reset.token().as_str()] {
        assert_link_refused(&app, &format!("/verify-email/{token}")).await;
    }
    // The reset link posted to the confirmation page confirmed nothing.
    assert!(!email_verified(&app, &user).await);
}

async fn the_account_page_sends_a_new_link_and_only_the_newest_works(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_cookie_user().await;
    let first = mail
        .mailbox()
        .wait_for(&user.user.email, CONFIRM_MAIL)
        .await;
    let me = user.me().await;
    assert!(me.contains(NOT_CONFIRMED), "{me}");

    assert_redirects_to(&press_resend(&app).await, "/me");
    let second = mail
        .mailbox()
        .wait_for_nth(&user.user.email, CONFIRM_MAIL, 2)
        .await;
    assert_ne!(first.token(), second.token());

    // The registration's link is void now; the new one works.
    assert_link_refused(&app, &first.link_path()).await;
    assert_redirects_to(&app.press_button(&second.link_path()).await, "/me");
    let me = user.me().await;
    assert!(me.contains(CONFIRMED), "{me}");
    assert!(!me.contains(NOT_CONFIRMED), "{me}");
    assert!(form_with_action(&me, "/me/verify-email").is_none(), "{me}");
    assert!(email_verified(&app, &user.user).await);
}

async fn a_second_resend_within_a_minute_gets_429(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .spawn()
        .await;
    let user = app.register_cookie_user().await;

    // The registration's email does not count: the first resend, right
    // after it, is sent.
    assert_redirects_to(&press_resend(&app).await, "/me");
    let refused = press_resend(&app).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    let mailbox = mail.mailbox();
    let resent = mailbox
        .wait_for_nth(&user.user.email, CONFIRM_MAIL, 2)
        .await;
    reset_mail_as_marker(&app, &mailbox, &user.user.email, 1).await;
    assert_eq!(
        mailbox.to(&user.user.email, CONFIRM_MAIL).len(),
        2,
        "the refused resend sent a link"
    );
    assert_redirects_to(&app.press_button(&resent.link_path()).await, "/me");
    assert!(email_verified(&app, &user.user).await);
}

async fn a_confirmed_accounts_resend_sends_nothing(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_cookie_user().await;
    let mailbox = mail.mailbox();
    let letter = mailbox.wait_for(&user.user.email, CONFIRM_MAIL).await;
    assert_redirects_to(&app.press_button(&letter.link_path()).await, "/me");

    let csrf = app.csrf_token_from("/me").await;
    let resend = app
        .post_form("/me/verify-email", &[("csrf_token", csrf.as_str())])
        .await;
    assert_redirects_to(&resend, "/me");
    let me = user.me().await;
    assert!(!me.contains(NOT_CONFIRMED), "{me}");

    reset_mail_as_marker(&app, &mailbox, &user.user.email, 1).await;
    assert_eq!(
        mailbox.to(&user.user.email, CONFIRM_MAIL).len(),
        1,
        "a confirmed account was sent a new link"
    );
}

async fn the_api_reports_the_status_and_sends_new_links(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .spawn()
        .await;
    let user = app.register_user().await;
    let token = app.login_via_api(&user.email, &user.password).await;
    assert_eq!(app.api_me_json(&token).await["email_verified"], false);

    let anonymous = app
        .client
        .post(app.url("/api/me/verify-email"))
        .send()
        .await
        .expect("POST failed");
    assert_api_unauthorized(anonymous).await;
    assert_api_unauthorized(api_resend(&app, "not-a-token").await).await;

    assert_eq!(
        api_resend(&app, &token).await.status(),
        StatusCode::ACCEPTED
    );
    let refused = json_body(
        api_resend(&app, &token).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert!(refused["detail"].is_string(), "{refused}");

    let mailbox = mail.mailbox();
    let resent = mailbox.wait_for_nth(&user.email, CONFIRM_MAIL, 2).await;
    reset_mail_as_marker(&app, &mailbox, &user.email, 1).await;
    assert_eq!(mailbox.to(&user.email, CONFIRM_MAIL).len(), 2);
    assert_redirects_to(&app.press_button(&resent.link_path()).await, "/me");
    assert_eq!(app.api_me_json(&token).await["email_verified"], true);
}

async fn confirming_needs_the_csrf_token(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let letter = mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    let visitor = app.new_browser();
    assert_eq!(
        visitor.get(&letter.link_path()).await.status(),
        StatusCode::OK
    );

    let without = visitor.post_form(&letter.link_path(), &[("x", "y")]).await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let forged = visitor
        .post_form(&letter.link_path(), &[("csrf_token", "forged-token-value")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!email_verified(&app, &user).await);

    // The link is still there for the real button.
    assert_redirects_to(&visitor.press_button(&letter.link_path()).await, "/me");
    assert!(email_verified(&app, &user).await);
}

async fn page_registration_waits_for_the_confirmed_address(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "true")
        .spawn()
        .await;
    let user = TestUser::generate();
    let registered = app.register_via_form(&user).await;
    assert_redirects_to(&registered, "/login");
    let sets_auth_cookie = registered
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .any(|v| {
            v.to_str()
                .unwrap_or_default()
                .starts_with(&format!("{AUTH_COOKIE}="))
        });
    assert!(!sets_auth_cookie, "{:?}", registered.headers());
    assert_eq!(app.auth_cookie(), None);

    let login = app.get_login(None).await.text().await.expect("body");
    assert!(login.contains(REGISTERED_UNCONFIRMED), "{login}");
    assert_redirects_to(&app.get_me().await, "/login?next=%2Fme");

    let letter = mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
    assert_redirects_to(&app.press_button(&letter.link_path()).await, "/me");
    app.log_in_as(&user).await.me().await;
}

async fn api_registration_is_unchanged_when_confirmation_is_required(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "true")
        .spawn()
        .await;
    let user = TestUser::generate();
    let response = app.api_register(&user.api_registration()).await;
    let body = json_body(response, StatusCode::CREATED).await;
    assert_eq!(body["username"], user.username.as_str());
    assert_eq!(body["email"], user.email.as_str());
    assert!(body["id"].is_i64(), "{body}");
    mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;
}

/// The login form shown again with the 403 of an unconfirmed account.
async fn assert_refused_unconfirmed_page(response: Response, email: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.expect("body");
    assert!(html.contains(CONFIRM_FIRST), "{html}");
    for field in ["email", "password", "csrf_token"] {
        assert_has_field(&html, field);
    }
    assert_eq!(
        input_value(&html, "email").as_deref(),
        Some(email),
        "{html}"
    );
}

async fn assert_refused_unconfirmed_api(response: Response) {
    let body = json_body(response, StatusCode::FORBIDDEN).await;
    assert_eq!(body, json!({ "detail": CONFIRM_FIRST }));
}

async fn an_unconfirmed_account_cannot_log_in_and_gets_a_new_link(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "true")
        .spawn()
        .await;
    let mailbox = mail.mailbox();
    let user = app.register_user().await;
    let first = mailbox.wait_for(&user.email, CONFIRM_MAIL).await;

    let page = app.login_via_form(&user.email, &user.password).await;
    assert_refused_unconfirmed_page(page, &user.email).await;
    assert_eq!(app.auth_cookie(), None);
    let second = mailbox.wait_for_nth(&user.email, CONFIRM_MAIL, 2).await;

    assert_refused_unconfirmed_api(app.api_login(&user.api_login()).await).await;
    let third = mailbox.wait_for_nth(&user.email, CONFIRM_MAIL, 3).await;
    assert_ne!(second.token(), third.token());
    assert_ne!(first.token(), third.token());

    // A wrong password is the usual 401, and sends nothing.
    let wrong = app.login_via_form(&user.email, "wrong-password-1").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.expect("body");
    assert!(html.contains(INVALID_CREDENTIALS), "{html}");
    assert!(!html.contains(CONFIRM_FIRST), "{html}");
    let wrong = app
        .api_login(&json!({ "email": user.email, "password": "wrong-password-1" }))
        .await;
    let body = json_body(wrong, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["detail"], INVALID_CREDENTIALS);
    reset_mail_as_marker(&app, &mailbox, &user.email, 1).await;
    assert_eq!(mailbox.to(&user.email, CONFIRM_MAIL).len(), 3);

    // Confirmed with the newest link, the account logs in.
    assert_link_refused(&app, &second.link_path()).await;
    assert_redirects_to(&app.press_button(&third.link_path()).await, "/me");
    app.log_in_as(&user).await.me().await;
    app.login_via_api(&user.email, &user.password).await;
}

async fn refused_logins_send_at_most_one_link_a_minute(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "true")
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .spawn()
        .await;
    let mailbox = mail.mailbox();
    let user = app.register_user().await;
    mailbox.wait_for(&user.email, CONFIRM_MAIL).await;

    // The registration's email does not count: the first refused login
    // sends a link, the next ones within the minute do not.
    assert_refused_unconfirmed_api(app.api_login(&user.api_login()).await).await;
    let sent = mailbox.wait_for_nth(&user.email, CONFIRM_MAIL, 2).await;
    assert_refused_unconfirmed_api(app.api_login(&user.api_login()).await).await;
    let page = app.login_via_form(&user.email, &user.password).await;
    assert_refused_unconfirmed_page(page, &user.email).await;

    reset_mail_as_marker(&app, &mailbox, &user.email, 1).await;
    assert_eq!(
        mailbox.to(&user.email, CONFIRM_MAIL).len(),
        2,
        "logins within the cooldown sent more links"
    );
    assert_redirects_to(&app.press_button(&sent.link_path()).await, "/me");
    app.login_via_api(&user.email, &user.password).await;
}

backend_tests!(
    registration_mails_a_link_that_the_confirm_button_uses,
    api_registration_mails_a_link_too,
    a_link_expires_after_the_verify_ttl,
    unknown_tokens_are_refused_for_get_and_post,
    the_account_page_sends_a_new_link_and_only_the_newest_works,
    a_second_resend_within_a_minute_gets_429,
    a_confirmed_accounts_resend_sends_nothing,
    the_api_reports_the_status_and_sends_new_links,
    confirming_needs_the_csrf_token,
    page_registration_waits_for_the_confirmed_address,
    api_registration_is_unchanged_when_confirmation_is_required,
    an_unconfirmed_account_cannot_log_in_and_gets_a_new_link,
    refused_logins_send_at_most_one_link_a_minute,
);

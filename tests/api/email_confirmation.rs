//! Confirming the address: the link sent at registration, the page that
//! does not use it up, the button that does, resends and their cooldown,
//! and logins that wait for a confirmed address.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, TestMail, TestUser, assert_redirects_to, csrf_from, form_with_action,
};

const CONFIRM: &str = "Confirm your email address";

async fn me_json(app: &TestApp, token: &str) -> Value {
    let response = app.api_me(token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn registration_mails_a_link_that_the_confirm_button_uses(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = app.register_cookie_user().await;
    let letter = mail.mailbox().wait_for(&user.user.email, CONFIRM).await;
    assert!(letter.subject.contains("gatehouse"), "{}", letter.subject);
    assert_eq!(letter.from, "gatehouse <no-reply@localhost>");
    assert!(
        letter
            .link()
            .starts_with(&format!("{}/verify-email/", app.address)),
        "{}",
        letter.link()
    );
    let me = app.get_me().await.text().await.expect("body");
    assert!(me.contains("Your email address is not confirmed"), "{me}");

    // Opening the link, twice, confirms nothing.
    for _ in 0..2 {
        let page = app.get(&letter.link_path()).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("body");
        assert!(
            form_with_action(&html, &letter.link_path()).is_some(),
            "{html}"
        );
    }
    let token = app
        .login_via_api(&user.user.email, &user.user.password)
        .await;
    assert_eq!(me_json(&app, &token).await["email_verified"], false);

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
    assert_eq!(me_json(&app, &token).await["email_verified"], true);

    let again = app
        .post_form(&letter.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let html = again.text().await.expect("body");
    assert!(
        html.contains("This link is invalid or has expired"),
        "{html}"
    );
    let get = app.get(&letter.link_path()).await;
    assert_eq!(get.status(), StatusCode::BAD_REQUEST);
}

async fn api_registration_mails_a_link_too(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = TestUser::generate();
    let created = app.register_via_api(&user).await;
    assert_eq!(created["email_verified"], false);
    let letter = mail.mailbox().wait_for(&user.email, CONFIRM).await;
    assert_eq!(letter.token().len(), 32);
}

backend_tests!(
    registration_mails_a_link_that_the_confirm_button_uses,
    api_registration_mails_a_link_too,
);

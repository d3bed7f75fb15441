//! Account settings: the account page, changing the password, changing
//! the address by a link to the new one, deleting the account, on pages
//! and through the API.

use reqwest::header::CACHE_CONTROL;
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, CookieUser, EMAIL_TAKEN, PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT,
    PASSWORDS_DIFFER, TestApp, TestMail, TestUser, assert_api_unauthorized, assert_field_error,
    assert_password_inputs_are_empty, assert_redirects_to, csrf_from, form_with_action,
    input_named, json_body, validation_errors,
};

backend_tests!(
    the_account_page_shows_the_account_and_links_to_its_settings,
    the_settings_pages_need_a_login,
    the_settings_pages_are_not_stored_and_their_forms_carry_the_csrf_token,
    settings_posts_without_the_csrf_token_are_forbidden_and_change_nothing,
    changing_the_password_keeps_this_session_and_ends_the_others,
    a_wrong_current_password_is_refused_at_its_field_and_changes_nothing,
    wrong_current_passwords_on_the_password_form_count_as_failed_logins,
    wrong_current_passwords_on_the_email_and_delete_forms_count_as_failed_logins,
    the_new_password_follows_the_registration_rules,
    a_password_change_voids_earlier_reset_and_change_of_address_links,
    changing_the_address_waits_for_the_link_sent_to_the_new_one,
    changing_to_a_taken_address_is_refused,
    an_address_taken_before_the_confirmation_is_refused_and_changes_nothing,
    a_wrong_password_or_a_bad_address_on_the_email_form_sends_nothing,
    deleting_the_account_ends_everything_and_frees_the_name_and_address,
    a_wrong_password_on_the_delete_form_keeps_the_account,
    the_api_changes_the_password_keeping_the_calling_token,
    the_api_deletes_the_account,
    the_settings_api_needs_a_bearer_token,
);

const PASSWORD_PAGE: &str = "/me/password";
const EMAIL_PAGE: &str = "/me/email";
const DELETE_PAGE: &str = "/me/delete";
const CHANGED_MAIL: &str = "Your gatehouse password was changed";
const NEW_ADDRESS_MAIL: &str = "Confirm your new email address";
const ADDRESS_CHANGED_MAIL: &str = "Your gatehouse email address was changed";
const CONFIRM_MAIL: &str = "Confirm your email address";
const RESET_MAIL: &str = "Reset your gatehouse password";
const PASSWORD_CHANGED_FLASH: &str = "Your password has been changed";
const DELETED_FLASH: &str = "Your account has been deleted";
const WRONG_CURRENT: &str = "Current password is incorrect";
const LINK_INVALID: &str = "This link is invalid or has expired";

fn fresh_password() -> String {
    format!("new-{}", uuid::Uuid::new_v4().simple())
}

fn fresh_address() -> String {
    format!(
        "moved-{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Opens `page` and posts its form with `fields` and the page's CSRF token.
async fn submit(browser: &Browser, page: &str, fields: &[(&str, &str)]) -> Response {
    let csrf = browser.csrf_token_from(page).await;
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("csrf_token", csrf.as_str()));
    browser.post_form(page, &form).await
}

async fn change_password(browser: &Browser, current: &str, new: &str, confirm: &str) -> Response {
    submit(
        browser,
        PASSWORD_PAGE,
        &[
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", confirm),
        ],
    )
    .await
}

async fn change_email(browser: &Browser, new_email: &str, current: &str) -> Response {
    submit(
        browser,
        EMAIL_PAGE,
        &[("new_email", new_email), ("current_password", current)],
    )
    .await
}

async fn delete_account(browser: &Browser, current: &str) -> Response {
    submit(browser, DELETE_PAGE, &[("current_password", current)]).await
}

/// Presses the button of an address link's page.
async fn confirm_link(browser: &Browser, path: &str) -> Response {
    let page = browser.get(path).await;
    assert_eq!(page.status(), StatusCode::OK, "GET {path}");
    let html = page.text().await.expect("body");
    let form = form_with_action(&html, path).unwrap_or_else(|| panic!("no button:\n{html}"));
    browser
        .post_form(path, &[("csrf_token", csrf_from(&form).as_str())])
        .await
}

async fn page_text(browser: &Browser, path: &str) -> String {
    let response = browser.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.expect("body")
}

fn links_to(html: &str, href: &str) -> bool {
    let selector = Selector::parse("a[href]").expect("selector");
    Html::parse_document(html)
        .select(&selector)
        .any(|a| a.value().attr("href") == Some(href))
}

/// The message shown at the field `name`: the element its
/// `aria-describedby` names, on an input marked invalid.
fn field_message(html: &str, name: &str) -> Option<String> {
    let input = input_named(html, name)?;
    if input.attr("aria-invalid") != Some("true") {
        return None;
    }
    let id = input.attr("aria-describedby")?;
    let selector = Selector::parse(&format!("[id=\"{id}\"]")).expect("selector");
    Html::parse_document(html)
        .select(&selector)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// Asserts a 422 page with `message` at `field`; returns the page.
async fn assert_form_error(response: Response, field: &str, message: &str) -> String {
    let status = response.status();
    let html = response.text().await.expect("body");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(
        field_message(&html, field).as_deref(),
        Some(message),
        "at {field}:\n{html}"
    );
    assert_password_inputs_are_empty(&html);
    html
}

async fn api_session(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = json_body(
        app.api_login(&json!({ "email": email, "password": password }))
            .await,
        StatusCode::OK,
    )
    .await;
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    )
}

async fn api_refresh(app: &TestApp, refresh_token: &str) -> StatusCode {
    app.api_post_json("/api/refresh", &json!({ "refresh_token": refresh_token }))
        .await
        .status()
}

async fn api_login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.api_login(&json!({ "email": email, "password": password }))
        .await
        .status()
}

async fn api_me(app: &TestApp, token: &str) -> Value {
    json_body(app.api_me(token).await, StatusCode::OK).await
}

async fn api_change_password(browser: &Browser, token: Option<&str>, body: &Value) -> Response {
    let mut request = browser
        .client
        .post(browser.url("/api/me/password"))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST")
}

async fn api_delete_me(browser: &Browser, token: Option<&str>, body: &Value) -> Response {
    let mut request = browser.client.delete(browser.url("/api/me")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("DELETE")
}

/// A field a form must have: its name, `type` and `autocomplete`.
type Expected = (&'static str, &'static str, &'static str);

fn assert_no_store(response: &Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "Cache-Control of {what}"
    );
}

async fn the_account_page_shows_the_account_and_links_to_its_settings(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let html = owner.me().await;
    for href in ["/me/password", "/me/email", "/me/sessions", "/me/delete"] {
        assert!(links_to(&html, href), "no link to {href}:\n{html}");
    }
    assert!(html.contains("Not confirmed"), "{html}");

    let letter = mail
        .mailbox()
        .wait_for(&owner.user.email, CONFIRM_MAIL)
        .await;
    assert_redirects_to(&confirm_link(&owner, &letter.link_path()).await, "/me");
    let _flash = owner.me().await;
    let html = owner.me().await;
    assert!(html.contains("Confirmed"), "{html}");
    assert!(!html.to_lowercase().contains("not confirmed"), "{html}");
}

async fn the_settings_pages_need_a_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for (page, next) in [
        (PASSWORD_PAGE, "%2Fme%2Fpassword"),
        (EMAIL_PAGE, "%2Fme%2Femail"),
        (DELETE_PAGE, "%2Fme%2Fdelete"),
    ] {
        let anonymous = app.new_browser();
        assert_redirects_to(&anonymous.get(page).await, &format!("/login?next={next}"));
        // Logging in there leads back to the page.
        let login = anonymous.get_login(Some(page)).await;
        let csrf = csrf_from(&login.text().await.expect("body"));
        let answer = anonymous
            .post_login(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
                ("next", page),
                ("csrf_token", csrf.as_str()),
            ])
            .await;
        assert_redirects_to(&answer, page);
        assert_eq!(anonymous.get(page).await.status(), StatusCode::OK);
    }
}

async fn the_settings_pages_are_not_stored_and_their_forms_carry_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let pages: [(&str, &[Expected]); 3] = [
        (
            PASSWORD_PAGE,
            &[
                ("current_password", "password", "current-password"),
                ("new_password", "password", "new-password"),
                ("new_password_confirm", "password", "new-password"),
            ],
        ),
        (
            EMAIL_PAGE,
            &[
                ("new_email", "email", "email"),
                ("current_password", "password", "current-password"),
            ],
        ),
        (
            DELETE_PAGE,
            &[("current_password", "password", "current-password")],
        ),
    ];
    for (page, fields) in pages {
        let response = owner.get(page).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {page}");
        assert_no_store(&response, page);
        let html = response.text().await.expect("body");
        let form = form_with_action(&html, page).unwrap_or_else(|| panic!("no form:\n{html}"));
        assert!(!csrf_from(&form).is_empty());
        for (name, kind, autocomplete) in fields {
            let input = input_named(&form, name).unwrap_or_else(|| panic!("no {name} on {page}"));
            assert_eq!(input.attr("type"), Some(*kind), "{}", input.html);
            assert_eq!(
                input.attr("autocomplete"),
                Some(*autocomplete),
                "{}",
                input.html
            );
        }
    }
    assert_no_store(&owner.get_me().await, "/me");
}

async fn settings_posts_without_the_csrf_token_are_forbidden_and_change_nothing(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    let (unwanted, wanted) = (fresh_address(), fresh_address());

    for csrf in [None, Some("forged")] {
        let with = |mut fields: Vec<(&'static str, String)>| {
            if let Some(csrf) = csrf {
                fields.push(("csrf_token", csrf.to_owned()));
            }
            fields
        };
        let password = owner
            .post_form(
                PASSWORD_PAGE,
                &with(vec![
                    ("current_password", user.password.clone()),
                    ("new_password", new.clone()),
                    ("new_password_confirm", new.clone()),
                ]),
            )
            .await;
        assert_eq!(password.status(), StatusCode::FORBIDDEN);
        let email = owner
            .post_form(
                EMAIL_PAGE,
                &with(vec![
                    ("new_email", unwanted.clone()),
                    ("current_password", user.password.clone()),
                ]),
            )
            .await;
        assert_eq!(email.status(), StatusCode::FORBIDDEN);
        let delete = owner
            .post_form(
                DELETE_PAGE,
                &with(vec![("current_password", user.password.clone())]),
            )
            .await;
        assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    }

    owner.me().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::UNAUTHORIZED
    );
    // A change asked for afterwards with the token is the only one mailed.
    assert_redirects_to(&change_email(&owner, &wanted, &user.password).await, "/me");
    mail.mailbox().wait_for(&wanted, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&unwanted, "").is_empty());
}

async fn changing_the_password_keeps_this_session_and_ends_the_others(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let elsewhere = app.new_browser().log_in_as(&user).await;
    let (access, refresh) = api_session(&app, &user.email, &user.password).await;
    // Both in use, as the server may remember them.
    elsewhere.me().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);

    let new = fresh_password();
    let changed = change_password(&owner, &user.password, &new, &new).await;
    assert_redirects_to(&changed, "/me");
    let html = owner.me().await;
    assert!(html.contains(PASSWORD_CHANGED_FLASH), "{html}");
    owner.me().await;

    elsewhere.assert_logged_out().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_refresh(&app, &refresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_redirects_to(
        &app.new_browser().login_via_form(&user.email, &new).await,
        "/me",
    );
    let notice = mail.mailbox().wait_for(&user.email, CHANGED_MAIL).await;
    assert!(!notice.body.contains(&new), "the notice shows no password");
    // This browser is still logged in after all that.
    owner.me().await;
}

async fn a_wrong_current_password_is_refused_at_its_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let elsewhere = app.new_browser().log_in_as(&user).await;
    let new = fresh_password();

    let refused = change_password(&owner, "not-my-password", &new, &new).await;
    let html = assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    assert!(!html.contains(&new), "the new password is not echoed");

    owner.me().await;
    elsewhere.me().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A server with the login limits on and two failed logins allowed.
async fn strict_app(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "2/15m")
        .spawn()
        .await
}

async fn wrong_current_passwords_on_the_password_form_count_as_failed_logins(backend: Backend) {
    let app = strict_app(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    for _ in 0..2 {
        let refused = change_password(&owner, "not-my-password", &new, &new).await;
        assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    }
    let login = app
        .new_browser()
        .login_via_form(&user.email, &user.password)
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn wrong_current_passwords_on_the_email_and_delete_forms_count_as_failed_logins(
    backend: Backend,
) {
    let app = strict_app(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let refused = change_email(&owner, &fresh_address(), "not-my-password").await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    let refused = delete_account(&owner, "not-my-password").await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    let login = app
        .new_browser()
        .login_via_form(&user.email, &user.password)
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    owner.me().await;
}

async fn the_new_password_follows_the_registration_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let current = user.password.as_str();

    let short = change_password(&owner, current, "short", "short").await;
    assert_form_error(short, "new_password", PASSWORD_TOO_SHORT).await;
    let long = "a".repeat(73);
    let too_long = change_password(&owner, current, &long, &long).await;
    assert_form_error(too_long, "new_password", PASSWORD_TOO_LONG).await;
    let (new, other) = (fresh_password(), fresh_password());
    let differ = change_password(&owner, current, &new, &other).await;
    assert_form_error(differ, "new_password_confirm", PASSWORDS_DIFFER).await;
    let common = change_password(&owner, current, "password123", "password123").await;
    assert_eq!(common.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = common.text().await.expect("body");
    assert!(field_message(&html, "new_password").is_some(), "{html}");

    for tried in [
        "short",
        long.as_str(),
        new.as_str(),
        other.as_str(),
        "password123",
    ] {
        assert_eq!(
            api_login_status(&app, &user.email, tried).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        api_login_status(&app, &user.email, current).await,
        StatusCode::OK
    );
    owner.me().await;
}

async fn a_password_change_voids_earlier_reset_and_change_of_address_links(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let stranger = app.new_browser();
    let csrf = stranger.csrf_token_from("/password/forgot").await;
    let asked = stranger
        .post_form(
            "/password/forgot",
            &[
                ("email", user.email.as_str()),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await;
    assert_redirects_to(&asked, "/login");
    let reset = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let moved = fresh_address();
    assert_redirects_to(&change_email(&owner, &moved, &user.password).await, "/me");
    let change = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;
    assert_eq!(app.get(&reset.link_path()).await.status(), StatusCode::OK);
    assert_eq!(app.get(&change.link_path()).await.status(), StatusCode::OK);

    let new = fresh_password();
    assert_redirects_to(
        &change_password(&owner, &user.password, &new, &new).await,
        "/me",
    );

    for link in [&reset, &change] {
        let page = stranger.get(&link.link_path()).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{}", link.subject);
        assert!(page.text().await.expect("body").contains(LINK_INVALID));
    }
    let csrf = stranger.csrf_token_from("/password/forgot").await;
    let intruder = fresh_password();
    let posted = stranger
        .post_form(
            &reset.link_path(),
            &[
                ("password", intruder.as_str()),
                ("password_confirm", intruder.as_str()),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::BAD_REQUEST);
    let pressed = stranger
        .post_form(&change.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(pressed.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        api_login_status(&app, &user.email, &intruder).await,
        StatusCode::UNAUTHORIZED
    );
    let token = app.login_via_api(&user.email, &new).await;
    assert_eq!(api_me(&app, &token).await["email"], user.email.as_str());
}

async fn changing_the_address_waits_for_the_link_sent_to_the_new_one(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let token = app.login_via_api(&user.email, &user.password).await;
    let moved = fresh_address();

    let asked = change_email(&owner, &moved, &user.password).await;
    assert_redirects_to(&asked, "/me");
    let html = owner.me().await;
    assert!(
        html.contains(&format!("We have sent a confirmation link to {moved}")),
        "{html}"
    );
    assert_eq!(api_me(&app, &token).await["email"], user.email.as_str());

    let letter = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;
    assert!(letter.subject.contains("gatehouse"), "{}", letter.subject);
    assert!(
        letter
            .link()
            .starts_with(&format!("{}/verify-email/", app.address)),
        "{}",
        letter.link()
    );
    // Opening the link (anywhere, twice) changes nothing.
    let elsewhere = app.new_browser();
    for _ in 0..2 {
        let page = elsewhere.get(&letter.link_path()).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("body");
        assert!(
            form_with_action(&html, &letter.link_path()).is_some(),
            "{html}"
        );
    }
    owner.me().await;
    assert_eq!(
        api_login_status(&app, &moved, &user.password).await,
        StatusCode::UNAUTHORIZED
    );

    // The button does.
    assert_redirects_to(&confirm_link(&elsewhere, &letter.link_path()).await, "/me");
    let me = api_me(&app, &token).await;
    assert_eq!(me["email"], moved.as_str());
    assert_eq!(me["email_verified"], true);
    let _flash = owner.get_me().await;
    let html = page_text(&owner, "/me").await;
    assert!(html.contains(&moved), "{html}");
    assert!(!html.contains(&user.email), "{html}");
    assert!(html.contains("Confirmed"), "{html}");
    assert!(!html.to_lowercase().contains("not confirmed"), "{html}");

    assert_eq!(
        api_login_status(&app, &moved, &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    let notice = mail
        .mailbox()
        .wait_for(&user.email, ADDRESS_CHANGED_MAIL)
        .await;
    assert!(notice.subject.contains("gatehouse"), "{}", notice.subject);
    // Used: the link works once.
    let again = elsewhere.get(&letter.link_path()).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(!app.logs().contains(&letter.token()));
}

async fn changing_to_a_taken_address_is_refused(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let other = TestUser::generate();
    app.register_via_api(&other).await;

    for taken in [other.email.clone(), other.email.to_uppercase()] {
        let refused = change_email(&owner, &taken, &user.password).await;
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        let html = refused.text().await.expect("body");
        assert!(html.contains(EMAIL_TAKEN), "{html}");
        assert_password_inputs_are_empty(&html);
    }
    // A free address asked for afterwards is the only one mailed.
    let free = fresh_address();
    assert_redirects_to(&change_email(&owner, &free, &user.password).await, "/me");
    mail.mailbox().wait_for(&free, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&other.email, NEW_ADDRESS_MAIL).is_empty());
    owner.me().await;
}

async fn an_address_taken_before_the_confirmation_is_refused_and_changes_nothing(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let moved = fresh_address();
    assert_redirects_to(&change_email(&owner, &moved, &user.password).await, "/me");
    let letter = mail.mailbox().wait_for(&moved, NEW_ADDRESS_MAIL).await;

    // Someone registers the address meanwhile.
    let squatter = TestUser {
        email: moved.clone(),
        ..TestUser::generate()
    };
    app.register_via_api(&squatter).await;
    let refused = confirm_link(&owner, &letter.link_path()).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.expect("body");
    assert!(html.contains(EMAIL_TAKEN), "{html}");
    owner.me().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );

    // Once the address is free again, the same link works.
    let squatter_token = app.login_via_api(&squatter.email, &squatter.password).await;
    let gone = api_delete_me(
        &app,
        Some(&squatter_token),
        &json!({ "current_password": squatter.password }),
    )
    .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_redirects_to(&confirm_link(&owner, &letter.link_path()).await, "/me");
    let token = app.login_via_api(&moved, &user.password).await;
    assert_eq!(api_me(&app, &token).await["email"], moved.as_str());

    // One notice to the old address, for the change that happened: mail
    // asked for later has arrived, so nothing else is on its way.
    let browser = app.new_browser();
    let csrf = browser.csrf_token_from("/password/forgot").await;
    let asked = browser
        .post_form(
            "/password/forgot",
            &[("email", moved.as_str()), ("csrf_token", csrf.as_str())],
        )
        .await;
    assert_redirects_to(&asked, "/login");
    mail.mailbox().wait_for(&moved, RESET_MAIL).await;
    assert_eq!(
        mail.mailbox().to(&user.email, ADDRESS_CHANGED_MAIL).len(),
        1
    );
}

async fn a_wrong_password_or_a_bad_address_on_the_email_form_sends_nothing(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let unwanted = fresh_address();

    let refused = change_email(&owner, &unwanted, "not-my-password").await;
    let html = assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    assert_eq!(
        input_named(&html, "new_email").and_then(|i| i.attr("value").map(str::to_owned)),
        Some(unwanted.clone()),
        "the new address is kept"
    );
    let bad = change_email(&owner, "not an address", &user.password).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.expect("body");
    assert!(field_message(&html, "new_email").is_some(), "{html}");

    let wanted = fresh_address();
    assert_redirects_to(&change_email(&owner, &wanted, &user.password).await, "/me");
    mail.mailbox().wait_for(&wanted, NEW_ADDRESS_MAIL).await;
    assert!(mail.mailbox().to(&unwanted, "").is_empty());
    owner.me().await;
}

async fn deleting_the_account_ends_everything_and_frees_the_name_and_address(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let elsewhere = app.new_browser().log_in_as(&user).await;
    let (access, refresh) = api_session(&app, &user.email, &user.password).await;
    elsewhere.me().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);
    let bystander = app.new_browser().register_cookie_user().await;

    let deleted = delete_account(&owner, &user.password).await;
    assert_redirects_to(&deleted, "/");
    let home = page_text(&owner, "/").await;
    assert!(home.contains(DELETED_FLASH), "{home}");
    assert!(!home.contains("Signed in as"), "{home}");

    owner.assert_logged_out().await;
    elsewhere.assert_logged_out().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_refresh(&app, &refresh).await, StatusCode::UNAUTHORIZED);
    let login = app
        .new_browser()
        .login_via_form(&user.email, &user.password)
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    bystander.me().await;

    // The username and the address are free: the form registers them again.
    let again = app.new_browser();
    let newcomer = TestUser {
        password: fresh_password(),
        ..user.clone()
    };
    let registered = again.register_via_form(&newcomer).await;
    assert_redirects_to(&registered, "/me");
    CookieUser::new(&again, newcomer.clone()).me().await;
    let confirmations = mail
        .mailbox()
        .wait_for_count(&user.email, CONFIRM_MAIL, 2)
        .await;
    assert_eq!(confirmations.len(), 2);
}

async fn a_wrong_password_on_the_delete_form_keeps_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let refused = delete_account(&owner, "not-my-password").await;
    assert_form_error(refused, "current_password", WRONG_CURRENT).await;
    owner.me().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    let taken = app.new_browser().register_via_form(&user).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}

async fn the_api_changes_the_password_keeping_the_calling_token(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let (caller, caller_refresh) = api_session(&app, &user.email, &user.password).await;
    let (other, other_refresh) = api_session(&app, &user.email, &user.password).await;
    let browser = app.new_browser().log_in_as(&user).await;
    let new = fresh_password();

    let wrong = api_change_password(
        &app,
        Some(&caller),
        &json!({ "current_password": "not-my-password", "new_password": new }),
    )
    .await;
    assert_field_error(
        &validation_errors(wrong).await,
        "current_password",
        WRONG_CURRENT,
    );
    let short = api_change_password(
        &app,
        Some(&caller),
        &json!({ "current_password": user.password, "new_password": "short" }),
    )
    .await;
    assert_field_error(
        &validation_errors(short).await,
        "new_password",
        PASSWORD_TOO_SHORT,
    );
    let missing = api_change_password(
        &app,
        Some(&caller),
        &json!({ "current_password": user.password }),
    )
    .await;
    let errors = validation_errors(missing).await;
    assert!(
        errors.iter().any(|(f, _)| f == "new_password"),
        "{errors:?}"
    );
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK,
        "nothing changed yet"
    );
    assert_eq!(app.api_me(&other).await.status(), StatusCode::OK);

    let changed = api_change_password(
        &app,
        Some(&caller),
        &json!({ "current_password": user.password, "new_password": new }),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(api_me(&app, &caller).await["email"], user.email.as_str());
    assert_eq!(app.api_me(&other).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_refresh(&app, &other_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    browser.assert_logged_out().await;
    assert_eq!(api_refresh(&app, &caller_refresh).await, StatusCode::OK);
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::OK
    );
    mail.mailbox().wait_for(&user.email, CHANGED_MAIL).await;
}

async fn the_api_deletes_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let (caller, _) = api_session(&app, &user.email, &user.password).await;
    let (other, other_refresh) = api_session(&app, &user.email, &user.password).await;
    let browser = app.new_browser().log_in_as(&user).await;

    let wrong = api_delete_me(
        &app,
        Some(&caller),
        &json!({ "current_password": "not-my-password" }),
    )
    .await;
    assert_field_error(
        &validation_errors(wrong).await,
        "current_password",
        WRONG_CURRENT,
    );
    let missing = api_delete_me(&app, Some(&caller), &json!({})).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api_me(&app, &caller).await["email"], user.email.as_str());

    let deleted = api_delete_me(
        &app,
        Some(&caller),
        &json!({ "current_password": user.password }),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.api_me(&caller).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.api_me(&other).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_refresh(&app, &other_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    browser.assert_logged_out().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    let again = app.api_register(&user.api_registration()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
}

async fn the_settings_api_needs_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new = fresh_password();
    let change = json!({ "current_password": user.password, "new_password": new });
    let delete = json!({ "current_password": user.password });

    // Neither a missing header nor the page's cookie logs the API in.
    for browser in [&app.new_browser(), &owner.browser] {
        assert_api_unauthorized(api_change_password(browser, None, &change).await).await;
        assert_api_unauthorized(api_delete_me(browser, None, &delete).await).await;
        assert_api_unauthorized(api_change_password(browser, Some("garbage"), &change).await).await;
        assert_api_unauthorized(api_delete_me(browser, Some("garbage"), &delete).await).await;
    }
    owner.me().await;
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
}

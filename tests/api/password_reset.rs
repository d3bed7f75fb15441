//! A forgotten password: the link on the login page, the request form and
//! its neutral answer, the email and its link, the reset form, what a
//! reset ends and clears, the limits, and the API's two routes.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, HOST, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, PASSWORD_TOO_SHORT, PASSWORDS_DIFFER, TestApp, TestMail, TestUser,
    assert_field_error, assert_password_inputs_are_empty, assert_redirects_to, csrf_from,
    form_with_action, input_named, json_body, validation_errors,
};

backend_tests!(
    the_login_page_links_to_the_form_that_asks_for_the_address,
    asking_without_the_csrf_token_is_forbidden_and_sends_nothing,
    the_answer_is_the_same_for_a_known_and_an_unknown_address,
    a_malformed_address_is_refused_at_the_email_field,
    links_start_with_the_servers_address_whatever_the_host_header,
    links_start_with_the_public_url_whatever_the_host_header,
    opening_the_link_shows_the_form_and_uses_nothing,
    resetting_sets_the_new_password_and_uses_the_link,
    unknown_links_are_refused_with_a_way_to_a_new_one,
    an_expired_link_is_refused,
    a_newer_link_makes_the_older_one_invalid,
    a_reset_ends_every_session_and_token_of_the_account,
    a_reset_clears_the_failed_login_count,
    a_bad_new_password_is_refused_as_at_registration,
    past_the_reset_limit_the_same_answer_and_no_email,
    the_twenty_first_request_from_one_address_in_an_hour_is_refused,
    the_api_asks_for_a_link_with_202_whatever_the_address,
    the_api_resets_the_password_with_the_links_token,
    a_reset_makes_a_pending_change_of_address_link_void,
);

const FORGOT: &str = "/password/forgot";
const RESET_MAIL: &str = "Reset your gatehouse password";
const CHANGED_MAIL: &str = "Your gatehouse password was changed";
const NEW_ADDRESS_MAIL: &str = "Confirm your new email address";
const CONFIRM_MAIL: &str = "Confirm your email address";
const SENT_FLASH: &str =
    "If an account exists for that address, we have sent it a link to reset the password.";
const RESET_FLASH: &str = "Your password has been reset. Log in with your new password.";
const LINK_INVALID: &str = "This link is invalid or has expired";
const API_LINK_INVALID: &str = "Invalid or expired token";

/// A fresh password that is none of the test user's.
fn fresh_password() -> String {
    format!("new-{}", uuid::Uuid::new_v4().simple())
}

/// A made-up address no account has.
fn unknown_address() -> String {
    format!(
        "nobody-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn registered(app: &TestApp) -> TestUser {
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    user
}

/// Fills in and posts the forgot-password form.
async fn ask_for_reset(browser: &Browser, email: &str) -> Response {
    let csrf = browser.csrf_token_from(FORGOT).await;
    browser
        .post_form(FORGOT, &[("email", email), ("csrf_token", csrf.as_str())])
        .await
}

/// Asks for a link through the form, expecting the neutral answer.
async fn ask_for_reset_ok(browser: &Browser, email: &str) {
    assert_redirects_to(&ask_for_reset(browser, email).await, "/login");
}

async fn api_forgot(browser: &Browser, email: &str) -> Response {
    browser
        .api_post_json("/api/password/forgot", &json!({ "email": email }))
        .await
}

/// Opens the link's page and posts its form with these passwords.
async fn choose_password(browser: &Browser, path: &str, password: &str, confirm: &str) -> Response {
    let page = browser.get(path).await;
    assert_eq!(page.status(), StatusCode::OK, "GET {path}");
    let csrf = csrf_from(&page.text().await.expect("body"));
    browser
        .post_form(
            path,
            &[
                ("password", password),
                ("password_confirm", confirm),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await
}

/// The page at `path` (a 200), as text.
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

/// Asserts the 400 page of a bad link, which offers a new one.
async fn assert_link_invalid(response: Response, what: &str) {
    let status = response.status();
    let html = response.text().await.expect("body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}:\n{html}");
    assert!(html.contains(LINK_INVALID), "{what}:\n{html}");
    assert!(
        links_to(&html, FORGOT),
        "{what}: no link to {FORGOT}:\n{html}"
    );
}

/// Posts the reset form of `path` with a CSRF token of this browser's
/// session, for links whose own page does not show the form.
async fn post_reset_blind(browser: &Browser, path: &str, password: &str) -> Response {
    let csrf = browser.csrf_token_from(FORGOT).await;
    browser
        .post_form(
            path,
            &[
                ("password", password),
                ("password_confirm", password),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await
}

/// An API login: its access and refresh tokens.
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

/// The `Retry-After` seconds of a 429: at least 1, at most an hour.
fn retry_after(response: &Response) -> u64 {
    let raw = response
        .headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", response.headers()))
        .to_str()
        .expect("ASCII")
        .to_owned();
    let seconds: u64 = raw.trim().parse().expect("Retry-After in seconds");
    assert!((1..=3600).contains(&seconds), "Retry-After: {seconds}");
    seconds
}

/// The headers of an answer as a client could compare them: every
/// name and value, but cookie values and what differs for every request
/// anyway (the clock of `Date`, the request's id) blanked.
fn comparable_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().expect("ASCII header").to_owned();
            let value = match name.as_str() {
                "set-cookie" => {
                    let (cookie, attributes) = value.split_once(';').unwrap_or((&value, ""));
                    let cookie_name = cookie.split_once('=').map_or(cookie, |(n, _)| n);
                    format!("{cookie_name}=<value>;{attributes}")
                }
                "date" | "x-request-id" => "<per request>".to_owned(),
                _ => value,
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    headers.sort();
    headers
}

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

async fn the_login_page_links_to_the_form_that_asks_for_the_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = page_text(&app, "/login").await;
    assert!(links_to(&login, FORGOT), "{login}");

    let page = app.get(FORGOT).await;
    assert_eq!(page.status(), StatusCode::OK, "no login needed");
    assert_no_store(&page, FORGOT);
    let html = page.text().await.expect("body");
    let form = form_with_action(&html, FORGOT).unwrap_or_else(|| panic!("no form:\n{html}"));
    let email = input_named(&form, "email").unwrap_or_else(|| panic!("no email:\n{form}"));
    assert_eq!(email.attr("type"), Some("email"), "{}", email.html);
    assert!(!csrf_from(&form).is_empty());
}

async fn asking_without_the_csrf_token_is_forbidden_and_sends_nothing(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let _ = app.get(FORGOT).await;
    let forbidden = app
        .post_form(FORGOT, &[("email", user.email.as_str())])
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let forged = app
        .post_form(
            FORGOT,
            &[("email", user.email.as_str()), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // A request with the token, sent after them, arrives alone.
    ask_for_reset_ok(&app, &user.email).await;
    mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert_eq!(mail.mailbox().to(&user.email, RESET_MAIL).len(), 1);
}

async fn the_answer_is_the_same_for_a_known_and_an_unknown_address(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let unknown = unknown_address();

    let (stranger, owner) = (app.new_browser(), app.new_browser());
    let for_unknown = ask_for_reset(&stranger, &unknown).await;
    let for_known = ask_for_reset(&owner, &user.email).await;
    assert_eq!(for_known.status(), StatusCode::SEE_OTHER);
    assert_eq!(for_unknown.status(), for_known.status());
    assert_redirects_to(&for_known, "/login");
    assert_redirects_to(&for_unknown, "/login");
    assert_eq!(
        comparable_headers(&for_unknown),
        comparable_headers(&for_known)
    );
    let body_unknown = for_unknown.bytes().await.expect("body");
    let body_known = for_known.bytes().await.expect("body");
    assert_eq!(body_unknown, body_known);
    for browser in [&stranger, &owner] {
        let login = page_text(browser, "/login").await;
        assert!(login.contains(SENT_FLASH), "{login}");
    }

    // The account's mail comes; the made-up address, asked for first,
    // gets nothing.
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert!(mail.mailbox().to(&unknown, "").is_empty());
    assert!(letter.subject.contains("gatehouse"), "{}", letter.subject);
    assert!(
        letter
            .headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "a plain-text email:\n{}",
        letter.headers
    );
    assert_eq!(letter.from, "gatehouse <no-reply@localhost>");
    assert!(
        letter
            .link()
            .starts_with(&format!("{}/password/reset/", app.address)),
        "{}",
        letter.link()
    );
    assert!(letter.token().len() >= 22, "{}", letter.token());
    assert!(!app.logs().contains(&letter.token()));
}

async fn a_malformed_address_is_refused_at_the_email_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = ask_for_reset(&app, "not an address").await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = answer.text().await.expect("body");
    assert!(field_message(&html, "email").is_some(), "{html}");
    assert_eq!(
        input_named(&html, "email").and_then(|i| i.attr("value").map(str::to_owned)),
        Some("not an address".to_owned()),
        "the address is kept"
    );

    let api = api_forgot(&app, "not an address").await;
    let errors = validation_errors(api).await;
    assert!(
        errors.iter().any(|(field, _)| field == "email"),
        "{errors:?}"
    );
}

async fn links_start_with_the_servers_address_whatever_the_host_header(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let form = app
        .client
        .get(app.url(FORGOT))
        .header(HOST, "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(form.status(), StatusCode::OK);
    let csrf = csrf_from(&form.text().await.expect("body"));
    let answer = app
        .client
        .post(app.url(FORGOT))
        .header(HOST, "evil.example")
        .form(&[
            ("email", user.email.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_redirects_to(&answer, "/login");
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert!(
        letter
            .link()
            .starts_with(&format!("{}/password/reset/", app.address)),
        "{}",
        letter.link()
    );
    assert!(!letter.body.contains("evil.example"), "{}", letter.body);
}

async fn links_start_with_the_public_url_whatever_the_host_header(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_PUBLIC_URL", "https://auth.example.test")
        .spawn()
        .await;
    let user = registered(&app).await;
    ask_for_reset_ok(&app, &user.email).await;
    let answer = app
        .client
        .post(app.url("/api/password/forgot"))
        .header(HOST, "evil.example")
        .json(&json!({ "email": user.email }))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let letters = mail
        .mailbox()
        .wait_for_count(&user.email, RESET_MAIL, 2)
        .await;
    for letter in &letters {
        assert!(
            letter
                .link()
                .starts_with("https://auth.example.test/password/reset/"),
            "{}",
            letter.link()
        );
        assert!(!letter.body.contains("evil.example"), "{}", letter.body);
        assert!(!letter.body.contains(&app.address), "{}", letter.body);
    }
    // The newest link is the one that works, on this server.
    let page = app.get(&letters[1].link_path()).await;
    assert_eq!(page.status(), StatusCode::OK);
}

async fn opening_the_link_shows_the_form_and_uses_nothing(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    ask_for_reset_ok(&app, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let path = letter.link_path();
    assert!(path.starts_with("/password/reset/"), "{path}");

    // A visitor who is not logged in opens it, twice (mail scanners do).
    let visitor = app.new_browser();
    for _ in 0..2 {
        let page = visitor.get(&path).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_no_store(&page, "the reset page");
        let html = page.text().await.expect("body");
        let form = form_with_action(&html, &path).unwrap_or_else(|| panic!("no form:\n{html}"));
        for name in ["password", "password_confirm"] {
            let input = input_named(&form, name).unwrap_or_else(|| panic!("no {name}:\n{form}"));
            assert_eq!(input.attr("type"), Some("password"), "{}", input.html);
            assert_eq!(
                input.attr("autocomplete"),
                Some("new-password"),
                "{}",
                input.html
            );
        }
        assert!(!csrf_from(&form).is_empty());
    }
    // Nothing changed: the old password still works, and so does the link.
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    let new = fresh_password();
    assert_redirects_to(
        &choose_password(&visitor, &path, &new, &new).await,
        "/login",
    );
}

async fn resetting_sets_the_new_password_and_uses_the_link(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let before = app.login_via_api(&user.email, &user.password).await;
    let me = json_body(app.api_me(&before).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], false);

    let browser = app.new_browser();
    ask_for_reset_ok(&browser, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let new = fresh_password();
    let done = choose_password(&browser, &letter.link_path(), &new, &new).await;
    assert_redirects_to(&done, "/login");
    let login = page_text(&browser, "/login").await;
    assert!(login.contains(RESET_FLASH), "{login}");

    // The old password fails; the new one works.
    let old = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_redirects_to(&browser.login_via_form(&user.email, &new).await, "/me");
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    // The link reached the address: it counts as confirmed.
    let token = app.login_via_api(&user.email, &new).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], true);

    let notice = mail.mailbox().wait_for(&user.email, CHANGED_MAIL).await;
    assert!(notice.subject.contains("gatehouse"), "{}", notice.subject);
    assert!(!notice.body.contains(&new), "the notice shows no password");

    // The link is used up, for GET and POST.
    assert_link_invalid(browser.get(&letter.link_path()).await, "GET again").await;
    let again = fresh_password();
    assert_link_invalid(
        post_reset_blind(&browser, &letter.link_path(), &again).await,
        "POST again",
    )
    .await;
    assert_eq!(
        api_login_status(&app, &user.email, &again).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.logs().contains(&letter.token()));
}

async fn unknown_links_are_refused_with_a_way_to_a_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = "/password/reset/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_link_invalid(app.get(path).await, "GET unknown").await;
    assert_link_invalid(
        post_reset_blind(&app, path, &fresh_password()).await,
        "POST unknown",
    )
    .await;
    assert_link_invalid(app.get("/password/reset/x").await, "GET short").await;
}

async fn an_expired_link_is_refused(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RESET_TTL", "5s")
        .spawn()
        .await;
    let user = registered(&app).await;
    ask_for_reset_ok(&app, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let path = letter.link_path();
    assert_eq!(app.get(&path).await.status(), StatusCode::OK, "fresh");
    tokio::time::sleep(Duration::from_secs(6)).await;

    assert_link_invalid(app.get(&path).await, "GET expired").await;
    let new = fresh_password();
    assert_link_invalid(post_reset_blind(&app, &path, &new).await, "POST expired").await;
    let answer = app
        .api_post_json(
            "/api/password/reset",
            &json!({ "token": letter.token(), "password": new }),
        )
        .await;
    assert_eq!(
        json_body(answer, StatusCode::BAD_REQUEST).await,
        json!({ "detail": API_LINK_INVALID })
    );
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_newer_link_makes_the_older_one_invalid(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    ask_for_reset_ok(&app, &user.email).await;
    let first = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert_eq!(app.get(&first.link_path()).await.status(), StatusCode::OK);
    ask_for_reset_ok(&app, &user.email).await;
    let second = mail
        .mailbox()
        .wait_for_nth(&user.email, RESET_MAIL, 2)
        .await;
    assert_ne!(first.token(), second.token());

    assert_link_invalid(app.get(&first.link_path()).await, "GET older").await;
    let old_choice = fresh_password();
    assert_link_invalid(
        post_reset_blind(&app, &first.link_path(), &old_choice).await,
        "POST older",
    )
    .await;
    let new = fresh_password();
    assert_redirects_to(
        &choose_password(&app, &second.link_path(), &new, &new).await,
        "/login",
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::OK
    );
    assert_eq!(
        api_login_status(&app, &user.email, &old_choice).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_reset_ends_every_session_and_token_of_the_account(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    // Both in use, as the server may remember them.
    owner.me().await;
    let (access, refresh) = api_session(&app, &user.email, &user.password).await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);
    // Someone else, logged in meanwhile, stays logged in.
    let other = app.new_browser().register_cookie_user().await;

    let browser = app.new_browser();
    ask_for_reset_ok(&browser, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let new = fresh_password();
    assert_redirects_to(
        &choose_password(&browser, &letter.link_path(), &new, &new).await,
        "/login",
    );

    owner.assert_logged_out().await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_refresh(&app, &refresh).await, StatusCode::UNAUTHORIZED);
    other.me().await;
    // A new login with the new password works.
    let (fresh, _) = api_session(&app, &user.email, &new).await;
    assert_eq!(app.api_me(&fresh).await.status(), StatusCode::OK);
}

async fn a_reset_clears_the_failed_login_count(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "2/15m")
        .spawn()
        .await;
    let user = registered(&app).await;
    let browser = app.new_browser();
    for _ in 0..2 {
        let failed = browser.login_via_form(&user.email, "wrong-password").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);

    ask_for_reset_ok(&browser, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let new = fresh_password();
    assert_redirects_to(
        &choose_password(&browser, &letter.link_path(), &new, &new).await,
        "/login",
    );
    assert_redirects_to(&browser.login_via_form(&user.email, &new).await, "/me");
}

async fn a_bad_new_password_is_refused_as_at_registration(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    ask_for_reset_ok(&app, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let path = letter.link_path();

    let short = choose_password(&app, &path, "short", "short").await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = short.text().await.expect("body");
    assert_eq!(
        field_message(&html, "password").as_deref(),
        Some(PASSWORD_TOO_SHORT),
        "{html}"
    );
    assert_password_inputs_are_empty(&html);
    assert!(form_with_action(&html, &path).is_some(), "the form again");

    let new = fresh_password();
    let other = fresh_password();
    let differ = choose_password(&app, &path, &new, &other).await;
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = differ.text().await.expect("body");
    assert_eq!(
        field_message(&html, "password_confirm").as_deref(),
        Some(PASSWORDS_DIFFER),
        "{html}"
    );
    assert!(!html.contains(&new) && !html.contains(&other), "echoed");
    assert_password_inputs_are_empty(&html);

    // Nothing changed, and the link still works.
    for password in ["short", new.as_str(), other.as_str()] {
        assert_eq!(
            api_login_status(&app, &user.email, password).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK
    );
    assert_redirects_to(&choose_password(&app, &path, &new, &new).await, "/login");
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::OK
    );
}

async fn past_the_reset_limit_the_same_answer_and_no_email(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_RESET_LIMIT", "2/1h")
        .spawn()
        .await;
    let user = registered(&app).await;
    let other = registered(&app).await;

    let mut answers = Vec::new();
    for _ in 0..3 {
        let browser = app.new_browser();
        let answer = ask_for_reset(&browser, &user.email).await;
        assert_redirects_to(&answer, "/login");
        answers.push(comparable_headers(&answer));
        let login = page_text(&browser, "/login").await;
        assert!(login.contains(SENT_FLASH), "{login}");
    }
    assert_eq!(answers[2], answers[0], "the third answer is the same");

    // Another account's mail, asked for later, arrives: the account's
    // requests are all settled by then.
    ask_for_reset_ok(&app, &other.email).await;
    mail.mailbox().wait_for(&other.email, RESET_MAIL).await;
    let letters = mail.mailbox().to(&user.email, RESET_MAIL);
    assert_eq!(letters.len(), 2, "two emails, not three");
    // The third request made no new link: the second one still works.
    assert_eq!(
        app.get(&letters[1].link_path()).await.status(),
        StatusCode::OK
    );
    assert_link_invalid(app.get(&letters[0].link_path()).await, "the first").await;
}

async fn the_twenty_first_request_from_one_address_in_an_hour_is_refused(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .spawn()
        .await;
    let user = registered(&app).await;
    for request in 0..20 {
        let address = unknown_address();
        // Malformed addresses count too.
        if request >= 18 {
            let refused = if request % 2 == 0 {
                ask_for_reset(&app, "not-an-address").await
            } else {
                api_forgot(&app, "not-an-address").await
            };
            assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        } else if request % 2 == 0 {
            ask_for_reset_ok(&app, &address).await;
        } else {
            let api = api_forgot(&app, &address).await;
            assert_eq!(
                api.status(),
                StatusCode::ACCEPTED,
                "request {}",
                request + 1
            );
        }
    }

    let page = ask_for_reset(&app, &user.email).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&page);
    let fresh_browser = ask_for_reset(&app.new_browser(), &user.email).await;
    assert_eq!(
        fresh_browser.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "per address, not per browser"
    );
    let api = api_forgot(&app, &user.email).await;
    retry_after(&api);
    let body = json_body(api, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(body["detail"].is_string(), "{body}");

    // No link for the refused requests: a later registration's mail
    // arrives, and none for the account before it.
    let later = registered(&app).await;
    mail.mailbox().wait_for(&later.email, CONFIRM_MAIL).await;
    assert!(mail.mailbox().to(&user.email, RESET_MAIL).is_empty());
}

async fn the_api_asks_for_a_link_with_202_whatever_the_address(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let unknown = unknown_address();
    let for_unknown = api_forgot(&app, &unknown).await;
    let for_known = api_forgot(&app, &user.email).await;
    assert_eq!(for_unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(for_known.status(), StatusCode::ACCEPTED);
    assert_eq!(
        comparable_headers(&for_unknown),
        comparable_headers(&for_known)
    );
    assert_eq!(
        for_unknown.bytes().await.expect("body"),
        for_known.bytes().await.expect("body")
    );

    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert!(mail.mailbox().to(&unknown, "").is_empty());
    assert!(
        letter
            .link()
            .starts_with(&format!("{}/password/reset/", app.address)),
        "{}",
        letter.link()
    );
    let missing = app.api_post_json("/api/password/forgot", &json!({})).await;
    let errors = validation_errors(missing).await;
    assert!(
        errors.iter().any(|(field, _)| field == "email"),
        "{errors:?}"
    );
}

async fn the_api_resets_the_password_with_the_links_token(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let user = registered(&app).await;
    let (access, refresh) = api_session(&app, &user.email, &user.password).await;
    assert_eq!(
        api_forgot(&app, &user.email).await.status(),
        StatusCode::ACCEPTED
    );
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let token = letter.token();
    let reset = |password: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.api_post_json(
                "/api/password/reset",
                &json!({ "token": token, "password": password }),
            )
            .await
        }
    };

    let short = validation_errors(reset("short".to_owned()).await).await;
    assert_field_error(&short, "password", PASSWORD_TOO_SHORT);
    let missing = app
        .api_post_json("/api/password/reset", &json!({ "token": token }))
        .await;
    let errors = validation_errors(missing).await;
    assert!(errors.iter().any(|(f, _)| f == "password"), "{errors:?}");
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::OK,
        "nothing changed yet"
    );

    let new = fresh_password();
    let done = reset(new.clone()).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api_login_status(&app, &user.email, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_login_status(&app, &user.email, &new).await,
        StatusCode::OK
    );
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_refresh(&app, &refresh).await, StatusCode::UNAUTHORIZED);
    mail.mailbox().wait_for(&user.email, CHANGED_MAIL).await;

    let again = fresh_password();
    let used = reset(again.clone()).await;
    assert_eq!(
        json_body(used, StatusCode::BAD_REQUEST).await,
        json!({ "detail": API_LINK_INVALID })
    );
    let unknown = app
        .api_post_json(
            "/api/password/reset",
            &json!({ "token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password": again }),
        )
        .await;
    assert_eq!(
        json_body(unknown, StatusCode::BAD_REQUEST).await,
        json!({ "detail": API_LINK_INVALID })
    );
    assert_eq!(
        api_login_status(&app, &user.email, &again).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.logs().contains(&token));
}

async fn a_reset_makes_a_pending_change_of_address_link_void(backend: Backend) {
    let mail = TestMail::start();
    let app = mail.configure(TestApp::builder(backend)).spawn().await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new_address = unknown_address();
    let csrf = owner.csrf_token_from("/me/email").await;
    let asked = owner
        .post_form(
            "/me/email",
            &[
                ("new_email", new_address.as_str()),
                ("current_password", user.password.as_str()),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await;
    assert_redirects_to(&asked, "/me");
    let change = mail
        .mailbox()
        .wait_for(&new_address, NEW_ADDRESS_MAIL)
        .await;
    assert_eq!(app.get(&change.link_path()).await.status(), StatusCode::OK);

    let browser = app.new_browser();
    ask_for_reset_ok(&browser, &user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let new = fresh_password();
    assert_redirects_to(
        &choose_password(&browser, &letter.link_path(), &new, &new).await,
        "/login",
    );

    let page = browser.get(&change.link_path()).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.expect("body").contains(LINK_INVALID));
    let csrf = browser.csrf_token_from(FORGOT).await;
    let pressed = browser
        .post_form(&change.link_path(), &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(pressed.status(), StatusCode::BAD_REQUEST);
    assert!(pressed.text().await.expect("body").contains(LINK_INVALID));

    // The account keeps its address.
    let token = app.login_via_api(&user.email, &new).await;
    let me: Value = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["email"], user.email.as_str());
    assert_eq!(
        api_login_status(&app, &new_address, &new).await,
        StatusCode::UNAUTHORIZED
    );
    let logs = app.logs();
    assert!(!logs.contains(&change.token()) && !logs.contains(&letter.token()));
}

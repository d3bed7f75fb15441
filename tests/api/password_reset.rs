//! A forgotten password: the link on the login page, the request form and
//! its neutral answer, the email and its link, the reset form, what a
//! reset ends and clears, the limits, and the API's two routes.

use std::time::Duration;

use reqwest::header::{HOST, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    Backend, Browser, CONFIRM_MAIL, LINK_INVALID, Mail, NEW_ADDRESS_MAIL, PASSWORD_CHANGED_MAIL,
    PASSWORD_TOO_SHORT, PASSWORDS_DIFFER, RESET_MAIL, TestApp, TestMail, assert_api_login,
    assert_error_for, assert_field_error, assert_form_error, assert_form_error_at, assert_input,
    assert_no_store, assert_redirects_to, csrf_from, form_with_action, fresh_address,
    fresh_password, input_named, input_value, json_body, links_to, spawn_with_mail,
    validation_errors,
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
const SENT_FLASH: &str =
    "If an account exists for that address, we have sent it a link to reset the password.";
const RESET_FLASH: &str = "Your password has been reset. Log in with your new password.";
const API_LINK_INVALID: &str = "Invalid or expired token";

/// Asks for a link through the form, expecting the neutral answer.
async fn ask_for_reset_ok(browser: &Browser, email: &str) {
    assert_redirects_to(&browser.forgot_via_form(email).await, "/login");
}

/// Asks for a link for `email` on `browser`'s form (expecting the neutral
/// answer) and waits for its mail.
async fn reset_mail(browser: &Browser, mail: &TestMail, email: &str) -> Mail {
    ask_for_reset_ok(browser, email).await;
    mail.mailbox().wait_for(email, RESET_MAIL).await
}

/// Sets a fresh password on the reset link's page at `path`, expecting
/// the redirect to the login form; returns the password.
async fn reset_to_fresh_password(browser: &Browser, path: &str) -> String {
    let new = fresh_password();
    assert_redirects_to(&browser.reset_via_form(path, &new, &new).await, "/login");
    new
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

/// Asserts the API's 400 for a bad link's token.
async fn assert_api_link_invalid(response: Response) {
    assert_eq!(
        json_body(response, StatusCode::BAD_REQUEST).await,
        json!({ "detail": API_LINK_INVALID })
    );
}

/// Posts the reset form of `path` with a CSRF token of this browser's
/// session, for links whose own page does not show the form.
async fn post_reset_blind(browser: &Browser, path: &str, password: &str) -> Response {
    browser
        .post_blind(
            path,
            &[("password", password), ("password_confirm", password)],
        )
        .await
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

/// Asserts that two answers are the same to a client: their headers
/// (see [`comparable_headers`]) and their bodies.
async fn assert_same_answer(first: Response, second: Response) {
    assert_eq!(comparable_headers(&first), comparable_headers(&second));
    let first_body = first.bytes().await.expect("body");
    let second_body = second.bytes().await.expect("body");
    assert_eq!(first_body, second_body);
}

async fn the_login_page_links_to_the_form_that_asks_for_the_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.page_text("/login").await;
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
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
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
    reset_mail(&app, &mail, &user.email).await;
    assert_eq!(mail.mailbox().to(&user.email, RESET_MAIL).len(), 1);
}

async fn the_answer_is_the_same_for_a_known_and_an_unknown_address(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let unknown = fresh_address();

    let (stranger, owner) = (app.new_browser(), app.new_browser());
    let for_unknown = stranger.forgot_via_form(&unknown).await;
    let for_known = owner.forgot_via_form(&user.email).await;
    assert_eq!(for_known.status(), StatusCode::SEE_OTHER);
    assert_eq!(for_unknown.status(), for_known.status());
    assert_redirects_to(&for_known, "/login");
    assert_redirects_to(&for_unknown, "/login");
    assert_same_answer(for_unknown, for_known).await;
    for browser in [&stranger, &owner] {
        let login = browser.page_text("/login").await;
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
    letter.assert_link_starts_with(&format!("{}/password/reset/", app.address));
    assert!(letter.token().len() >= 22, "{}", letter.token());
    assert!(!app.logs().contains(&letter.token()));
}

async fn a_malformed_address_is_refused_at_the_email_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = app.forgot_via_form("not an address").await;
    let html = assert_form_error_at(answer, "email").await;
    assert_eq!(
        input_value(&html, "email"),
        Some("not an address".to_owned()),
        "the address is kept"
    );

    let api = app.api_forgot("not an address").await;
    assert_error_for(&validation_errors(api).await, "email");
}

async fn links_start_with_the_servers_address_whatever_the_host_header(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
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
    letter.assert_link_starts_with(&format!("{}/password/reset/", app.address));
    assert!(!letter.body.contains("evil.example"), "{}", letter.body);
}

async fn links_start_with_the_public_url_whatever_the_host_header(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_PUBLIC_URL", "https://auth.example.test")
        .spawn()
        .await;
    let user = app.register_user().await;
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
        letter.assert_link_starts_with("https://auth.example.test/password/reset/");
        assert!(!letter.body.contains("evil.example"), "{}", letter.body);
        assert!(!letter.body.contains(&app.address), "{}", letter.body);
    }
    // The newest link is the one that works, on this server.
    let page = app.get(&letters[1].link_path()).await;
    assert_eq!(page.status(), StatusCode::OK);
}

async fn opening_the_link_shows_the_form_and_uses_nothing(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let letter = reset_mail(&app, &mail, &user.email).await;
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
            assert_input(&form, name, "password", "new-password");
        }
        assert!(!csrf_from(&form).is_empty());
    }
    // Nothing changed: the old password still works, and so does the link.
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    reset_to_fresh_password(&visitor, &path).await;
}

async fn resetting_sets_the_new_password_and_uses_the_link(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let before = app.login_via_api(&user.email, &user.password).await;
    let me = app.api_me_json(&before).await;
    assert_eq!(me["email_verified"], false);

    let browser = app.new_browser();
    let letter = reset_mail(&browser, &mail, &user.email).await;
    let new = reset_to_fresh_password(&browser, &letter.link_path()).await;
    let login = browser.page_text("/login").await;
    assert!(login.contains(RESET_FLASH), "{login}");

    // The old password fails; the new one works.
    let old = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_redirects_to(&browser.login_via_form(&user.email, &new).await, "/me");
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    // The link reached the address: it counts as confirmed.
    let token = app.login_via_api(&user.email, &new).await;
    let me = app.api_me_json(&token).await;
    assert_eq!(me["email_verified"], true);

    let notice = mail
        .mailbox()
        .wait_for(&user.email, PASSWORD_CHANGED_MAIL)
        .await;
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
    assert_api_login(&app, &user.email, &again, StatusCode::UNAUTHORIZED).await;
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
    let user = app.register_user().await;
    let letter = reset_mail(&app, &mail, &user.email).await;
    let path = letter.link_path();
    assert_eq!(app.get(&path).await.status(), StatusCode::OK, "fresh");
    tokio::time::sleep(Duration::from_secs(6)).await;

    assert_link_invalid(app.get(&path).await, "GET expired").await;
    let new = fresh_password();
    assert_link_invalid(post_reset_blind(&app, &path, &new).await, "POST expired").await;
    assert_api_link_invalid(app.api_reset(&letter.token(), &new).await).await;
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    assert_api_login(&app, &user.email, &new, StatusCode::UNAUTHORIZED).await;
}

async fn a_newer_link_makes_the_older_one_invalid(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let first = reset_mail(&app, &mail, &user.email).await;
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
    let new = reset_to_fresh_password(&app, &second.link_path()).await;
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;
    assert_api_login(&app, &user.email, &old_choice, StatusCode::UNAUTHORIZED).await;
}

async fn a_reset_ends_every_session_and_token_of_the_account(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    // Both in use, as the server may remember them.
    owner.me().await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    assert_eq!(app.api_me(&access).await.status(), StatusCode::OK);
    // Someone else, logged in meanwhile, stays logged in.
    let other = app.new_browser().register_cookie_user().await;

    let browser = app.new_browser();
    let letter = reset_mail(&browser, &mail, &user.email).await;
    let new = reset_to_fresh_password(&browser, &letter.link_path()).await;

    owner.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    other.me().await;
    // A new login with the new password works.
    let (fresh, _) = app.api_session(&user.email, &new).await;
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
    let user = app.register_user().await;
    let browser = app.new_browser();
    for _ in 0..2 {
        let failed = browser.login_via_form(&user.email, "wrong-password").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);

    let letter = reset_mail(&browser, &mail, &user.email).await;
    let new = reset_to_fresh_password(&browser, &letter.link_path()).await;
    assert_redirects_to(&browser.login_via_form(&user.email, &new).await, "/me");
}

async fn a_bad_new_password_is_refused_as_at_registration(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let letter = reset_mail(&app, &mail, &user.email).await;
    let path = letter.link_path();

    let short = app.reset_via_form(&path, "short", "short").await;
    let html = assert_form_error(short, "password", PASSWORD_TOO_SHORT).await;
    assert!(form_with_action(&html, &path).is_some(), "the form again");

    let new = fresh_password();
    let other = fresh_password();
    let differ = app.reset_via_form(&path, &new, &other).await;
    let html = assert_form_error(differ, "password_confirm", PASSWORDS_DIFFER).await;
    assert!(!html.contains(&new) && !html.contains(&other), "echoed");

    // Nothing changed, and the link still works.
    for password in ["short", new.as_str(), other.as_str()] {
        assert_api_login(&app, &user.email, password, StatusCode::UNAUTHORIZED).await;
    }
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;
    assert_redirects_to(&app.reset_via_form(&path, &new, &new).await, "/login");
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;
}

async fn past_the_reset_limit_the_same_answer_and_no_email(backend: Backend) {
    let mail = TestMail::start();
    let app = mail
        .configure(TestApp::builder(backend))
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_RESET_LIMIT", "2/1h")
        .spawn()
        .await;
    let user = app.register_user().await;
    let other = app.register_user().await;

    let mut answers = Vec::new();
    for _ in 0..3 {
        let browser = app.new_browser();
        let answer = browser.forgot_via_form(&user.email).await;
        assert_redirects_to(&answer, "/login");
        answers.push(comparable_headers(&answer));
        let login = browser.page_text("/login").await;
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
    let user = app.register_user().await;
    for request in 0..20 {
        let address = fresh_address();
        // Malformed addresses count too.
        if request >= 18 {
            let refused = if request % 2 == 0 {
                app.forgot_via_form("not-an-address").await
            } else {
                app.api_forgot("not-an-address").await
            };
            assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        } else if request % 2 == 0 {
            ask_for_reset_ok(&app, &address).await;
        } else {
            let api = app.api_forgot(&address).await;
            assert_eq!(
                api.status(),
                StatusCode::ACCEPTED,
                "request {}",
                request + 1
            );
        }
    }

    let page = app.forgot_via_form(&user.email).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&page);
    let fresh_browser = app.new_browser().forgot_via_form(&user.email).await;
    assert_eq!(
        fresh_browser.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "per address, not per browser"
    );
    let api = app.api_forgot(&user.email).await;
    retry_after(&api);
    let body = json_body(api, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(body["detail"].is_string(), "{body}");

    // No link for the refused requests: a later registration's mail
    // arrives, and none for the account before it.
    let later = app.register_user().await;
    mail.mailbox().wait_for(&later.email, CONFIRM_MAIL).await;
    assert!(mail.mailbox().to(&user.email, RESET_MAIL).is_empty());
}

async fn the_api_asks_for_a_link_with_202_whatever_the_address(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let unknown = fresh_address();
    let for_unknown = app.api_forgot(&unknown).await;
    let for_known = app.api_forgot(&user.email).await;
    assert_eq!(for_unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(for_known.status(), StatusCode::ACCEPTED);
    assert_same_answer(for_unknown, for_known).await;

    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    assert!(mail.mailbox().to(&unknown, "").is_empty());
    letter.assert_link_starts_with(&format!("{}/password/reset/", app.address));
    let missing = app.api_post_json("/api/password/forgot", &json!({})).await;
    assert_error_for(&validation_errors(missing).await, "email");
}

async fn the_api_resets_the_password_with_the_links_token(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = app.register_user().await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    app.forgot_via_api(&user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let token = letter.token();

    let short = validation_errors(app.api_reset(&token, "short").await).await;
    assert_field_error(&short, "password", PASSWORD_TOO_SHORT);
    let missing = app
        .api_post_json("/api/password/reset", &json!({ "token": token }))
        .await;
    assert_error_for(&validation_errors(missing).await, "password");
    // Nothing changed yet.
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;

    let new = fresh_password();
    let done = app.api_reset(&token, &new).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_api_login(&app, &user.email, &user.password, StatusCode::UNAUTHORIZED).await;
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;
    app.assert_api_session_ended(&access, &refresh).await;
    mail.mailbox()
        .wait_for(&user.email, PASSWORD_CHANGED_MAIL)
        .await;

    let again = fresh_password();
    assert_api_link_invalid(app.api_reset(&token, &again).await).await;
    let unknown = app
        .api_reset("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &again)
        .await;
    assert_api_link_invalid(unknown).await;
    assert_api_login(&app, &user.email, &again, StatusCode::UNAUTHORIZED).await;
    assert!(!app.logs().contains(&token));
}

async fn a_reset_makes_a_pending_change_of_address_link_void(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let new_address = fresh_address();
    let asked = owner
        .change_email_via_form(&new_address, &user.password)
        .await;
    assert_redirects_to(&asked, "/me");
    let change = mail
        .mailbox()
        .wait_for(&new_address, NEW_ADDRESS_MAIL)
        .await;
    assert_eq!(app.get(&change.link_path()).await.status(), StatusCode::OK);

    let browser = app.new_browser();
    let letter = reset_mail(&browser, &mail, &user.email).await;
    let new = reset_to_fresh_password(&browser, &letter.link_path()).await;

    let page = browser.get(&change.link_path()).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.expect("body").contains(LINK_INVALID));
    let pressed = browser.post_blind(&change.link_path(), &[]).await;
    assert_eq!(pressed.status(), StatusCode::BAD_REQUEST);
    assert!(pressed.text().await.expect("body").contains(LINK_INVALID));

    // The account keeps its address.
    let token = app.login_via_api(&user.email, &new).await;
    let me = app.api_me_json(&token).await;
    assert_eq!(me["email"], user.email.as_str());
    assert_api_login(&app, &new_address, &new, StatusCode::UNAUTHORIZED).await;
    let logs = app.logs();
    assert!(!logs.contains(&change.token()) && !logs.contains(&letter.token()));
}

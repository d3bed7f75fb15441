//! Two-factor authentication: setting it up from the page's secret, the
//! second step of a page login, codes in the API login, recovery codes,
//! the five-wrong-codes rule and the login throttle, turning it off, new
//! recovery codes, the operator's reset, and the secret at rest.
//!
//! The tests compute their codes with an RFC 6238 implementation of their
//! own (`totp-lite`) from the secret the set-up page shows. The expiry of a
//! pending login (5 minutes, not configurable) is not tested here: it would
//! take a five-minute wait.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::QueryableByName;
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use serde_json::json;

use crate::helpers::{
    ACCOUNT_DISABLED, AUTH_COOKIE, Backend, Browser, CookieUser, INVALID_CREDENTIALS,
    SESSION_COOKIE, TestApp, TestUser, assert_input, assert_no_store,
    assert_password_inputs_are_empty, assert_redirects_to, base32_decode, csrf_from, event_names,
    events_named, field_message, form_with_action, input_named, json_body, links_to, load_sql,
    location, run_gatehouse, set_cookie, spawn_with_mail,
};

backend_tests!(
    the_set_up_page_shows_the_secret_as_an_inline_qr_code_as_text_and_as_a_link,
    the_two_factor_pages_need_a_login_except_the_code_step,
    the_two_factor_pages_are_not_stored_and_their_posts_need_the_csrf_token,
    a_wrong_code_or_password_at_set_up_shows_the_form_again_and_leaves_it_off,
    turning_it_on_shows_ten_recovery_codes_ends_the_other_sessions_and_sends_a_notice,
    a_login_asks_for_the_code_after_the_password_and_then_goes_to_next,
    remember_me_is_carried_through_the_code_step,
    the_steps_before_and_after_are_accepted_and_no_further,
    each_step_s_code_is_accepted_once,
    a_recovery_code_logs_in_once_ends_the_other_sessions_and_sends_a_notice,
    the_fifth_wrong_code_ends_the_pending_login_with_rate_limits_off,
    wrong_codes_count_as_failed_logins_for_the_throttle,
    the_api_login_asks_for_the_code_and_takes_a_totp_or_a_recovery_code,
    turning_it_off_takes_the_password_and_a_code,
    new_recovery_codes_replace_the_old_ones,
    the_command_line_turns_it_off_ends_the_sessions_and_sends_a_notice,
    the_secret_and_the_recovery_codes_are_not_stored_in_the_clear,
    reloading_the_set_up_page_keeps_its_secret,
    a_pending_login_is_over_after_five_minutes,
    a_login_waiting_for_its_code_is_refused_once_the_account_is_disabled,
);

const STATUS_PAGE: &str = "/me/two-factor";
const SETUP_PAGE: &str = "/me/two-factor/setup";
const DISABLE: &str = "/me/two-factor/disable";
const NEW_CODES: &str = "/me/two-factor/recovery-codes";
const CODE_PAGE: &str = "/login/two-factor";
const REFRESH_COOKIE: &str = "gatehouse_refresh";
const ON_MAIL: &str = "gatehouse: Two-factor authentication was turned on";
const OFF_MAIL: &str = "gatehouse: Two-factor authentication was turned off";
const RECOVERY_MAIL: &str = "gatehouse: A recovery code was used";
const INVALID_CODE: &str = "Invalid code";
const OFF_FLASH: &str = "Two-factor authentication is off";
/// `GATEHOUSE_REMEMBER_FOR`'s default, 30 days.
const REMEMBER_SECS: i64 = 30 * 24 * 60 * 60;
const STEP_SECS: u64 = 30;

// ---- codes ----------------------------------------------------------------

fn unix_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The current 30 s step, with at least 4 s of it left (waiting for the
/// next one otherwise), so that a code computed now is judged by the
/// server in the same step.
async fn steady_step() -> u64 {
    loop {
        let now = unix_millis();
        let into = now % (STEP_SECS * 1000);
        if into < (STEP_SECS - 4) * 1000 {
            return now / (STEP_SECS * 1000);
        }
        tokio::time::sleep(Duration::from_millis(STEP_SECS * 1000 - into + 100)).await;
    }
}

/// Waits until the current step is past `step` (with time left in it).
async fn wait_for_step_after(step: u64) -> u64 {
    loop {
        let current = steady_step().await;
        if current > step {
            return current;
        }
        let into = unix_millis() % (STEP_SECS * 1000);
        tokio::time::sleep(Duration::from_millis(STEP_SECS * 1000 - into + 100)).await;
    }
}

/// The user's authenticator app: the secret from the set-up page, and the
/// newest step whose code the test has had accepted, so that each login
/// gets a code of a step not used before.
struct Authenticator {
    secret: Vec<u8>,
    newest: Option<u64>,
}

impl Authenticator {
    fn new(secret_text: &str) -> Authenticator {
        Authenticator {
            secret: base32_decode(secret_text),
            newest: None,
        }
    }

    /// The code of 30 s step `step`.
    fn code_at(&self, step: u64) -> String {
        totp_lite::totp_custom::<totp_lite::Sha1>(STEP_SECS, 6, &self.secret, step * STEP_SECS)
    }

    /// Six digits that are the code of none of the steps the server takes now.
    async fn wrong_code(&self) -> String {
        let step = steady_step().await;
        let taken: Vec<String> = (step - 2..=step + 2).map(|s| self.code_at(s)).collect();
        let mut guess: u32 = self.code_at(step).parse().unwrap();
        loop {
            guess = (guess + 123_457) % 1_000_000;
            let code = format!("{guess:06}");
            if !taken.contains(&code) {
                return code;
            }
        }
    }

    /// Records that the server accepted `step`'s code.
    fn accepted(&mut self, step: u64) {
        self.newest = Some(self.newest.map_or(step, |newest| newest.max(step)));
    }

    /// The code of the oldest step the server takes now that is newer than
    /// every step used so far (waiting for the next step when there is
    /// none), counted as used; and its step.
    async fn fresh(&mut self) -> (String, u64) {
        loop {
            let current = steady_step().await;
            let step = match self.newest {
                Some(newest) => (current - 1).max(newest + 1),
                None => current - 1,
            };
            if step <= current + 1 {
                self.accepted(step);
                return (self.code_at(step), step);
            }
            wait_for_step_after(current).await;
        }
    }

    async fn fresh_code(&mut self) -> String {
        self.fresh().await.0
    }
}

// ---- pages ----------------------------------------------------------------

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap()
}

/// The text of the first element matching `css`, trimmed.
fn text_of(html: &str, css: &str) -> Option<String> {
    Html::parse_document(html)
        .select(&selector(css))
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// Decodes `%XX` escapes (the label of an otpauth URI, a cookie value).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned()
}

/// What the set-up page shows.
struct SetupPage {
    html: String,
    /// The secret as shown, spaces and all.
    secret_text: String,
}

async fn open_setup(browser: &Browser) -> SetupPage {
    let response = browser.get(SETUP_PAGE).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "GET {SETUP_PAGE}:\n{html}");
    let secret_text =
        text_of(&html, "code#secret").unwrap_or_else(|| panic!("no <code id=secret>:\n{html}"));
    SetupPage { html, secret_text }
}

/// Posts `fields` to `action` with the CSRF token of the page at `page`.
async fn post_from(
    browser: &Browser,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let html = browser.page_text(page).await;
    let csrf = csrf_from(&html);
    let mut form = fields.to_vec();
    form.push(("csrf_token", csrf.as_str()));
    browser.post_form(action, &form).await
}

/// The set-up form of `setup` (the page this browser opened last, whose
/// secret its session holds) posted with this code and password.
async fn post_setup(browser: &Browser, setup: &SetupPage, code: &str, password: &str) -> Response {
    let csrf = csrf_from(&setup.html);
    browser
        .post_form(
            STATUS_PAGE,
            &[
                ("code", code),
                ("current_password", password),
                ("csrf_token", csrf.as_str()),
            ],
        )
        .await
}

/// The recovery codes of a 200 page listing them: `<ul id="recovery-codes">`,
/// each in a `<code>`.
async fn recovery_codes_of(response: Response, what: &str) -> Vec<String> {
    let status = response.status();
    assert!(
        response.headers().get(LOCATION).is_none(),
        "{what} redirects"
    );
    assert_no_store(&response, what);
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}:\n{html}");
    let codes: Vec<String> = Html::parse_document(&html)
        .select(&selector("ul#recovery-codes code"))
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{what}:\n{html}");
    for code in &codes {
        let (a, b) = code
            .split_once('-')
            .unwrap_or_else(|| panic!("{code:?} is not xxxxx-xxxxx"));
        assert!(
            a.len() == 5
                && b.len() == 5
                && (a.chars().chain(b.chars()))
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{code:?} is not xxxxx-xxxxx"
        );
    }
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "the codes repeat: {codes:?}");
    codes
}

/// Turns two-factor on for the logged-in `browser` with the code of the
/// step before (which must be accepted); returns the authenticator and the
/// recovery codes.
async fn turn_on(browser: &Browser, password: &str) -> (Authenticator, Vec<String>) {
    let setup = open_setup(browser).await;
    let mut app = Authenticator::new(&setup.secret_text);
    let step = steady_step().await - 1;
    let response = post_setup(browser, &setup, &app.code_at(step), password).await;
    app.accepted(step);
    let codes = recovery_codes_of(response, "turning two-factor on").await;
    (app, codes)
}

/// Whether the status page says two-factor is on: the form to turn it off,
/// or the link to set it up.
async fn two_factor_is_on(browser: &Browser) -> bool {
    let response = browser.get(STATUS_PAGE).await;
    assert_no_store(&response, STATUS_PAGE);
    let html = response.text().await.unwrap();
    let on = form_with_action(&html, DISABLE).is_some();
    let off = links_to(&html, SETUP_PAGE);
    assert!(on != off, "the status page is neither on nor off:\n{html}");
    if on {
        assert!(form_with_action(&html, NEW_CODES).is_some(), "{html}");
    }
    on
}

/// The login form posted with the user's right password and `extra` fields.
async fn password_step(browser: &Browser, user: &TestUser, extra: &[(&str, &str)]) -> Response {
    let csrf = browser.csrf_token_from("/login").await;
    let mut form = vec![
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
        ("csrf_token", csrf.as_str()),
    ];
    form.extend_from_slice(extra);
    browser.post_login(&form).await
}

/// The password step, expecting the redirect to the code step and no
/// auth cookie.
async fn expect_code_step(browser: &Browser, user: &TestUser, extra: &[(&str, &str)]) {
    let response = password_step(browser, user, extra).await;
    assert_redirects_to(&response, CODE_PAGE);
    for name in [AUTH_COOKIE, REFRESH_COOKIE] {
        assert!(
            set_cookie(&response, name).is_none(),
            "the password step sets {name}"
        );
    }
}

/// The code step's form posted with `code`.
async fn enter_code(browser: &Browser, code: &str) -> Response {
    browser.submit_form(CODE_PAGE, &[("code", code)]).await
}

/// Asserts a 401 code page saying "Invalid code", with its form again.
async fn assert_invalid_code_page(response: Response) {
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    assert!(html.contains(INVALID_CODE), "{html}");
    let form = form_with_action(&html, CODE_PAGE).unwrap_or_else(|| panic!("no form:\n{html}"));
    assert!(input_named(&form, "code").is_some(), "{form}");
    assert!(!csrf_from(&form).is_empty());
}

/// Logs a fresh browser in as `user` with both steps; the code step
/// leads to `/me`.
async fn log_in_with_code(app: &TestApp, user: &TestUser, code: &str) -> CookieUser {
    let browser = app.new_browser();
    expect_code_step(&browser, user, &[]).await;
    assert_redirects_to(&enter_code(&browser, code).await, "/me");
    let logged_in = CookieUser::new(&browser, user.clone());
    logged_in.me().await;
    logged_in
}

// ---- API ------------------------------------------------------------------

async fn api_login_with(app: &TestApp, user: &TestUser, code: Option<&str>) -> Response {
    let mut body = user.api_login();
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    app.api_login(&body).await
}

/// An API login with this code, expecting 200 with tokens; returns the
/// access and refresh tokens.
async fn api_session_with(app: &TestApp, user: &TestUser, code: &str) -> (String, String) {
    let body = json_body(api_login_with(app, user, Some(code)).await, StatusCode::OK).await;
    assert_eq!(body["token_type"], "bearer", "{body}");
    assert!(body["expires_in"].is_u64(), "{body}");
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    app.api_me_json(&access).await;
    (access, refresh)
}

/// Asserts 401 `{"detail":"Invalid code"}`.
async fn assert_api_invalid_code(response: Response) {
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body, json!({ "detail": INVALID_CODE }));
}

/// Asserts 401 `{"detail":"Two-factor code required","two_factor_required":true}`.
async fn assert_api_code_required(response: Response) {
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        body,
        json!({ "detail": "Two-factor code required", "two_factor_required": true })
    );
}

// ---- the tests ------------------------------------------------------------

async fn the_set_up_page_shows_the_secret_as_an_inline_qr_code_as_text_and_as_a_link(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    assert!(!two_factor_is_on(&owner).await);
    let account_page = owner.me().await;

    let setup = open_setup(&owner).await;
    let (html, secret_text) = (setup.html.clone(), setup.secret_text.clone());

    // The QR code: an <svg> in the page (one the account page does not have).
    let document = Html::parse_document(&html);
    let known: Vec<String> = Html::parse_document(&account_page)
        .select(&selector("svg"))
        .map(|svg| svg.html())
        .collect();
    let qr = document
        .select(&selector("svg"))
        .map(|svg| svg.html())
        .find(|svg| !known.contains(svg))
        .unwrap_or_else(|| panic!("no inline <svg> QR code:\n{html}"));
    assert!(qr.len() > 500, "{qr}");

    // Nothing fetched from elsewhere.
    for tag in ["img", "script", "iframe", "object", "embed", "image", "use"] {
        assert!(
            document.select(&selector(tag)).next().is_none(),
            "a <{tag}> on the set-up page:\n{html}"
        );
    }
    for element in document.select(&selector("*")) {
        for (name, value) in element.value().attrs() {
            if name.starts_with("xmlns") || value.starts_with("otpauth://") {
                continue;
            }
            assert!(
                !value.contains("://") && !value.starts_with("//") && !value.contains("url("),
                "{name}={value:?} on the set-up page"
            );
        }
    }

    // The secret as text, in groups of four, base32 of at least 128 bits.
    let groups: Vec<&str> = secret_text.split_whitespace().collect();
    assert!(groups.len() > 1, "{secret_text:?}");
    for (i, group) in groups.iter().enumerate() {
        assert!(
            group.len() == 4 || (i == groups.len() - 1 && group.len() < 4),
            "{secret_text:?}"
        );
        assert!(
            group
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
            "{secret_text:?}"
        );
    }
    let plain: String = groups.concat();
    assert!(base32_decode(&plain).len() >= 16, "{secret_text:?}");

    // The URI as a link.
    let href = document
        .select(&selector("a[href^=\"otpauth:\"]"))
        .next()
        .and_then(|a| a.value().attr("href"))
        .unwrap_or_else(|| panic!("no otpauth link:\n{html}"))
        .to_owned();
    let uri = url::Url::parse(&href).unwrap_or_else(|e| panic!("{href}: {e}"));
    assert_eq!(uri.scheme(), "otpauth", "{href}");
    assert_eq!(uri.host_str(), Some("totp"), "{href}");
    let label = percent_decode(uri.path().trim_start_matches('/'));
    assert_eq!(label, format!("gatehouse:{}", owner.user.email), "{href}");
    let query: Vec<(String, String)> = uri.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(param("secret"), Some(plain.as_str()), "{href}");
    assert_eq!(param("issuer"), Some("gatehouse"), "{href}");
    for (name, expected) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
        if let Some(value) = param(name) {
            assert_eq!(value, expected, "{href}");
        }
    }

    // The form: code and current password, with the CSRF token.
    let form = form_with_action(&html, STATUS_PAGE).unwrap_or_else(|| panic!("no form:\n{html}"));
    let code = input_named(&form, "code").unwrap_or_else(|| panic!("no code in:\n{form}"));
    assert_eq!(
        code.attr("autocomplete"),
        Some("one-time-code"),
        "{}",
        code.html
    );
    assert_eq!(code.attr("inputmode"), Some("numeric"), "{}", code.html);
    assert_input(&form, "current_password", "password", "current-password");
    assert!(!csrf_from(&form).is_empty());

    // A code of that secret turns it on.
    let mut authenticator = Authenticator::new(&secret_text);
    let code = authenticator.fresh_code().await;
    recovery_codes_of(
        post_setup(&owner, &setup, &code, &owner.user.password).await,
        "turning two-factor on",
    )
    .await;
    assert!(two_factor_is_on(&owner).await);
}

async fn the_two_factor_pages_need_a_login_except_the_code_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = app.new_browser();
    for (page, next) in [
        (STATUS_PAGE, "%2Fme%2Ftwo-factor"),
        (SETUP_PAGE, "%2Fme%2Ftwo-factor%2Fsetup"),
    ] {
        assert_redirects_to(&anonymous.get(page).await, &format!("/login?next={next}"));
    }
    for action in [STATUS_PAGE, DISABLE, NEW_CODES] {
        let response = anonymous
            .post_blind(action, &[("code", "123456"), ("current_password", "x")])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {action}");
        assert!(
            location(&response).starts_with("/login?next="),
            "POST {action}"
        );
    }

    // The code step takes no login, but a pending one: without, back to
    // the login form.
    assert_redirects_to(&anonymous.get(CODE_PAGE).await, "/login");
    assert_redirects_to(
        &anonymous.post_blind(CODE_PAGE, &[("code", "123456")]).await,
        "/login",
    );
    assert!(anonymous.auth_cookie().is_none());

    // Logging in at the login form sent there leads back to the page.
    let user = app.register_user().await;
    let login = anonymous.get_login(Some(SETUP_PAGE)).await;
    let csrf = csrf_from(&login.text().await.unwrap());
    let answer = anonymous
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("next", SETUP_PAGE),
            ("csrf_token", csrf.as_str()),
        ])
        .await;
    assert_redirects_to(&answer, SETUP_PAGE);
    open_setup(&anonymous).await;
}

async fn the_two_factor_pages_are_not_stored_and_their_posts_need_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    assert_no_store(&owner.get(STATUS_PAGE).await, STATUS_PAGE);
    assert_no_store(&owner.get(SETUP_PAGE).await, SETUP_PAGE);

    // Set-up without (or with a forged) token: 403, still off.
    let setup = open_setup(&owner).await;
    let mut authenticator = Authenticator::new(&setup.secret_text);
    let step = steady_step().await;
    let code = authenticator.code_at(step);
    for csrf in [None, Some("forged")] {
        let mut form = vec![
            ("code", code.as_str()),
            ("current_password", &user.password),
        ];
        form.extend(csrf.map(|csrf| ("csrf_token", csrf)));
        let response = owner.post_form(STATUS_PAGE, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{csrf:?}");
    }
    assert!(!two_factor_is_on(&owner).await);
    // The same code, with the token, turns it on: the refused posts used
    // nothing up.
    let codes = recovery_codes_of(
        post_setup(&owner, &setup, &code, &user.password).await,
        "turning two-factor on",
    )
    .await;
    authenticator.accepted(step);
    assert!(two_factor_is_on(&owner).await);

    // Turning off and new codes without the token: 403, nothing changes.
    let (off_code, off_step) = authenticator.fresh().await;
    for csrf in [None, Some("forged")] {
        let with = |mut fields: Vec<(&'static str, String)>| {
            fields.extend(csrf.map(|csrf| ("csrf_token", csrf.to_owned())));
            fields
        };
        let disable = owner
            .post_form(
                DISABLE,
                &with(vec![
                    ("current_password", user.password.clone()),
                    ("code", off_code.clone()),
                ]),
            )
            .await;
        assert_eq!(disable.status(), StatusCode::FORBIDDEN);
        let new = owner
            .post_form(
                NEW_CODES,
                &with(vec![("current_password", user.password.clone())]),
            )
            .await;
        assert_eq!(new.status(), StatusCode::FORBIDDEN);
    }
    assert!(two_factor_is_on(&owner).await);

    // The code step: its page is not stored, and a code without the token
    // is refused and leaves the pending login as it was.
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    let page = browser.get(CODE_PAGE).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_no_store(&page, CODE_PAGE);
    let form = form_with_action(&page.text().await.unwrap(), CODE_PAGE).expect("a code form");
    assert!(!csrf_from(&form).is_empty());
    for csrf in [None, Some("forged")] {
        let mut fields = vec![("code", off_code.as_str())];
        fields.extend(csrf.map(|csrf| ("csrf_token", csrf)));
        let response = browser.post_form(CODE_PAGE, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(browser.auth_cookie().is_none());
    }
    // The code the refused posts carried still works, once.
    assert_redirects_to(&enter_code(&browser, &off_code).await, "/me");
    authenticator.accepted(off_step);
    CookieUser::new(&browser, user.clone()).me().await;
    // And the old recovery codes still do.
    api_session_with(&app, &user, &codes[0]).await;
}

async fn a_wrong_code_or_password_at_set_up_shows_the_form_again_and_leaves_it_off(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let setup = open_setup(&owner).await;
    let authenticator = Authenticator::new(&setup.secret_text);

    let assert_form_again = |html: &str| {
        assert!(form_with_action(html, STATUS_PAGE).is_some(), "{html}");
        assert_eq!(
            text_of(html, "code#secret").as_deref(),
            Some(setup.secret_text.as_str()),
            "the secret shown again:\n{html}"
        );
        assert_password_inputs_are_empty(html);
    };

    // Wrong codes: one of no step, the steps two before and two after, none.
    let step = steady_step().await;
    let wrong = authenticator.wrong_code().await;
    for code in [
        wrong.as_str(),
        &authenticator.code_at(step - 2),
        &authenticator.code_at(step + 2),
        "",
    ] {
        let response = post_setup(&owner, &setup, code, &user.password).await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "code {code:?}:\n{html}"
        );
        assert!(
            field_message(&html, "code").is_some(),
            "code {code:?}:\n{html}"
        );
        assert_form_again(&html);
    }

    // A right code with a wrong password.
    let right = authenticator.code_at(step);
    let response = post_setup(&owner, &setup, &right, "not-the-password").await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(field_message(&html, "current_password").is_some(), "{html}");
    assert_form_again(&html);

    // Still off: logins take the password alone.
    assert!(!two_factor_is_on(&owner).await);
    assert_eq!(
        api_login_with(&app, &user, None).await.status(),
        StatusCode::OK
    );
    app.new_browser().log_in_as(&user).await;

    // The secret shown all along still turns it on, with the step after.
    let step = steady_step().await;
    recovery_codes_of(
        post_setup(
            &owner,
            &setup,
            &authenticator.code_at(step + 1),
            &user.password,
        )
        .await,
        "turning two-factor on",
    )
    .await;
    assert!(two_factor_is_on(&owner).await);
}

async fn turning_it_on_shows_ten_recovery_codes_ends_the_other_sessions_and_sends_a_notice(
    backend: Backend,
) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let elsewhere = app.new_browser().log_in_as(&user).await;
    let (access, refresh) = app.api_session(&user.email, &user.password).await;
    elsewhere.me().await;

    turn_on(&owner, &user.password).await;

    // This session stays; the others end.
    owner.me().await;
    assert!(two_factor_is_on(&owner).await);
    elsewhere.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;

    let notice = mail.mailbox().wait_for(&user.email, ON_MAIL).await;
    assert_eq!(notice.subject, ON_MAIL);
    assert!(notice.body.contains(&user.username), "{}", notice.body);
    assert!(mail.mailbox().to(&user.email, OFF_MAIL).is_empty());

    // Logins now take a code.
    assert_api_code_required(api_login_with(&app, &user, None).await).await;
    expect_code_step(&app.new_browser(), &user, &[]).await;
}

async fn a_login_asks_for_the_code_after_the_password_and_then_goes_to_next(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;

    // A wrong password is refused at the login form, as ever.
    let browser = app.new_browser();
    let csrf = browser.csrf_token_from("/login").await;
    let wrong = browser
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", "not-the-password"),
            ("csrf_token", csrf.as_str()),
        ])
        .await;
    let status = wrong.status();
    let html = wrong.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
    assert!(html.contains(INVALID_CREDENTIALS), "{html}");
    assert_redirects_to(&browser.get(CODE_PAGE).await, "/login");

    // The right password: the code step, not logged in yet.
    expect_code_step(&browser, &user, &[("next", "/me/sessions")]).await;
    assert!(browser.auth_cookie().is_none());
    assert!(!browser.cookies().contains_key(REFRESH_COOKIE));
    CookieUser::new(&browser, user.clone())
        .assert_logged_out()
        .await;

    let page = browser.get(CODE_PAGE).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_no_store(&page, CODE_PAGE);
    let html = page.text().await.unwrap();
    let form = form_with_action(&html, CODE_PAGE).unwrap_or_else(|| panic!("no form:\n{html}"));
    let code = input_named(&form, "code").unwrap_or_else(|| panic!("no code in:\n{form}"));
    assert_eq!(
        code.attr("autocomplete"),
        Some("one-time-code"),
        "{}",
        code.html
    );
    assert_eq!(code.attr("inputmode"), Some("numeric"), "{}", code.html);
    assert!(input_named(&form, "password").is_none(), "{form}");
    assert!(!csrf_from(&form).is_empty());

    // A wrong code: 401 "Invalid code", the form again, still not in.
    assert_invalid_code_page(enter_code(&browser, &authenticator.wrong_code().await).await).await;
    assert!(browser.auth_cookie().is_none());

    // The pending login as it is now, to be replayed later.
    let pending_cookie = browser.cookies()[SESSION_COOKIE].clone();
    let pending_csrf = csrf_from(&browser.page_text(CODE_PAGE).await);

    // The right code: logged in, off to the login's next.
    let done = enter_code(&browser, &authenticator.fresh_code().await).await;
    assert_redirects_to(&done, "/me/sessions");
    assert!(set_cookie(&done, AUTH_COOKIE).is_some(), "no auth cookie");
    assert!(
        set_cookie(&done, REFRESH_COOKIE).is_some(),
        "no refresh cookie"
    );
    let sessions = browser.page_text("/me/sessions").await;
    assert!(
        sessions.contains(&format!("Welcome, {}", user.username)),
        "no flash:\n{sessions}"
    );
    CookieUser::new(&browser, user.clone()).me().await;

    // The pending login is used up: gone from this browser, and a copy of
    // it logs no one in.
    assert_redirects_to(&browser.get(CODE_PAGE).await, "/login");
    let copy = app.new_browser();
    copy.set_cookie(SESSION_COOKIE, &pending_cookie);
    let replay = copy
        .post_form(
            CODE_PAGE,
            &[
                ("code", authenticator.fresh_code().await.as_str()),
                ("csrf_token", pending_csrf.as_str()),
            ],
        )
        .await;
    assert_redirects_to(&replay, "/login");
    assert!(set_cookie(&replay, AUTH_COOKIE).is_none());
    assert!(copy.auth_cookie().is_none());
}

async fn remember_me_is_carried_through_the_code_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;

    for (remember, max_age) in [(true, Some(REMEMBER_SECS)), (false, None)] {
        let browser = app.new_browser();
        let extra: &[(&str, &str)] = if remember { &[("remember", "on")] } else { &[] };
        expect_code_step(&browser, &user, extra).await;
        let done = enter_code(&browser, &authenticator.fresh_code().await).await;
        assert_redirects_to(&done, "/me");
        let refresh = set_cookie(&done, REFRESH_COOKIE).expect("a refresh cookie");
        assert_eq!(
            refresh.max_age(),
            max_age,
            "remember {remember}: {}",
            refresh.raw
        );
        CookieUser::new(&browser, user.clone()).me().await;
    }
}

async fn the_steps_before_and_after_are_accepted_and_no_further(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    // turn_on uses the code of the step before: accepted at set-up.
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let enabled_at = authenticator.newest.unwrap() + 1;

    // Codes two steps away are refused.
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    let step = steady_step().await;
    for far in [step + 2, step + 3] {
        assert_invalid_code_page(enter_code(&browser, &authenticator.code_at(far)).await).await;
    }
    assert_api_invalid_code(
        api_login_with(&app, &user, Some(&authenticator.code_at(step + 2))).await,
    )
    .await;

    // The step before, at the login: the one after the set-up's step.
    let step = wait_for_step_after(enabled_at).await;
    assert_redirects_to(
        &enter_code(&browser, &authenticator.code_at(step - 1)).await,
        "/me",
    );
    authenticator.accepted(step - 1);
    CookieUser::new(&browser, user.clone()).me().await;

    // The step after.
    let step = steady_step().await;
    log_in_with_code(&app, &user, &authenticator.code_at(step + 1)).await;
    authenticator.accepted(step + 1);
    // And through the API, one step further is too far.
    assert_api_invalid_code(
        api_login_with(&app, &user, Some(&authenticator.code_at(step + 2))).await,
    )
    .await;
}

async fn each_step_s_code_is_accepted_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;

    // The code that turned it on is used.
    let set_up = authenticator.code_at(authenticator.newest.unwrap());
    assert_api_invalid_code(api_login_with(&app, &user, Some(&set_up)).await).await;
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    assert_invalid_code_page(enter_code(&browser, &set_up).await).await;

    // A code logs in once; the second time it is refused, and the pending
    // login then takes a code of another step.
    let code = authenticator.fresh_code().await;
    assert_redirects_to(&enter_code(&browser, &code).await, "/me");
    let second = app.new_browser();
    expect_code_step(&second, &user, &[]).await;
    assert_invalid_code_page(enter_code(&second, &code).await).await;
    assert!(second.auth_cookie().is_none());
    assert_api_invalid_code(api_login_with(&app, &user, Some(&code)).await).await;
    let next = authenticator.fresh_code().await;
    assert_redirects_to(&enter_code(&second, &next).await, "/me");
    CookieUser::new(&second, user.clone()).me().await;
}

async fn a_recovery_code_logs_in_once_ends_the_other_sessions_and_sends_a_notice(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, codes) = turn_on(&owner, &user.password).await;
    let elsewhere = log_in_with_code(&app, &user, &authenticator.fresh_code().await).await;
    let (access, refresh) = api_session_with(&app, &user, &authenticator.fresh_code().await).await;

    // A recovery code at the code step: logged in, to the login's next.
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[("next", "/me/sessions")]).await;
    assert_redirects_to(&enter_code(&browser, &codes[0]).await, "/me/sessions");
    let recovered = CookieUser::new(&browser, user.clone());
    recovered.me().await;

    // Every other session has ended, the one that turned it on too.
    owner.assert_logged_out().await;
    elsewhere.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    let notice = mail.mailbox().wait_for(&user.email, RECOVERY_MAIL).await;
    assert_eq!(notice.subject, RECOVERY_MAIL);

    // Used up: refused the second time, at the page and in the API.
    let again = app.new_browser();
    expect_code_step(&again, &user, &[]).await;
    assert_invalid_code_page(enter_code(&again, &codes[0]).await).await;
    assert!(again.auth_cookie().is_none());
    assert_api_invalid_code(api_login_with(&app, &user, Some(&codes[0])).await).await;

    // Another one works, in the same pending login, and ends the session
    // of the first.
    assert_redirects_to(&enter_code(&again, &codes[1]).await, "/me");
    CookieUser::new(&again, user.clone()).me().await;
    recovered.assert_logged_out().await;
    mail.mailbox()
        .wait_for_count(&user.email, RECOVERY_MAIL, 2)
        .await;
    assert_eq!(
        events_named(&app, &user.email, "recovery_code.used").len(),
        2
    );
}

async fn the_fifth_wrong_code_ends_the_pending_login_with_rate_limits_off(backend: Backend) {
    // The harness runs servers with GATEHOUSE_RATE_LIMITS=off: the rule holds.
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, codes) = turn_on(&owner, &user.password).await;

    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    for _ in 0..4 {
        assert_invalid_code_page(enter_code(&browser, &authenticator.wrong_code().await).await)
            .await;
    }
    // The pending login before its fifth wrong code, to be replayed later.
    let pending_cookie = browser.cookies()[SESSION_COOKIE].clone();
    let csrf = csrf_from(&browser.page_text(CODE_PAGE).await);
    let fifth = enter_code(&browser, &authenticator.wrong_code().await).await;
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(browser.auth_cookie().is_none());

    // The pending login is over: a right code (or a recovery code) after
    // it logs no one in, and the code page sends back to the login form.
    let (right, right_step) = authenticator.fresh().await;
    for code in [right.as_str(), codes[0].as_str()] {
        let late = browser
            .post_form(CODE_PAGE, &[("code", code), ("csrf_token", csrf.as_str())])
            .await;
        assert_redirects_to(&late, "/login");
        assert!(set_cookie(&late, AUTH_COOKIE).is_none());
        assert!(browser.auth_cookie().is_none());
    }
    assert_redirects_to(&browser.get(CODE_PAGE).await, "/login");
    // Also for a copy of the pending login as it was before the fifth code.
    let copy = app.new_browser();
    copy.set_cookie(SESSION_COOKIE, &pending_cookie);
    let replay = copy
        .post_form(
            CODE_PAGE,
            &[("code", right.as_str()), ("csrf_token", csrf.as_str())],
        )
        .await;
    assert_redirects_to(&replay, "/login");
    assert!(copy.auth_cookie().is_none());
    CookieUser::new(&copy, user.clone())
        .assert_logged_out()
        .await;

    // A new login starts afresh; the refused code was not used up.
    let fresh = app.new_browser();
    expect_code_step(&fresh, &user, &[]).await;
    assert_redirects_to(&enter_code(&fresh, &right).await, "/me");
    authenticator.accepted(right_step);
    CookieUser::new(&fresh, user.clone()).me().await;
}

async fn wrong_codes_count_as_failed_logins_for_the_throttle(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "3/15m")
        .spawn()
        .await;

    // Pages: wrong codes across pending logins reach the login limit, and
    // the login itself is then refused, the right password too.
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    for _ in 0..2 {
        assert_invalid_code_page(enter_code(&browser, &authenticator.wrong_code().await).await)
            .await;
    }
    expect_code_step(&browser, &user, &[]).await;
    assert_invalid_code_page(enter_code(&browser, &authenticator.wrong_code().await).await).await;
    let throttled = password_step(&browser, &user, &[]).await;
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the login after three wrong codes"
    );
    assert!(throttled.headers().get("retry-after").is_some());
    assert!(browser.auth_cookie().is_none());
    let api = api_login_with(&app, &user, Some(&authenticator.fresh_code().await)).await;
    assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);

    // The API: wrong codes count; a password sent without a code does
    // not wipe them out.
    let other = app.new_browser().register_cookie_user().await;
    let them = other.user.clone();
    let (mut theirs, _) = turn_on(&other, &them.password).await;
    for _ in 0..2 {
        assert_api_invalid_code(
            api_login_with(&app, &them, Some(&theirs.wrong_code().await)).await,
        )
        .await;
    }
    assert_api_code_required(api_login_with(&app, &them, None).await).await;
    assert_api_invalid_code(api_login_with(&app, &them, Some(&theirs.wrong_code().await)).await)
        .await;
    let right = api_login_with(&app, &them, Some(&theirs.fresh_code().await)).await;
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the API login after three wrong codes"
    );
}

async fn the_api_login_asks_for_the_code_and_takes_a_totp_or_a_recovery_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, codes) = turn_on(&owner, &user.password).await;

    assert_api_code_required(api_login_with(&app, &user, None).await).await;
    assert_api_invalid_code(
        api_login_with(&app, &user, Some(&authenticator.wrong_code().await)).await,
    )
    .await;
    assert_api_invalid_code(api_login_with(&app, &user, Some("abcde-fghij")).await).await;

    // A wrong password with a right code: the usual refusal, and the code
    // is not used up.
    let (code, _) = authenticator.fresh().await;
    let mut body = user.api_login();
    body["password"] = json!("not-the-password");
    body["code"] = json!(code);
    let refused = json_body(app.api_login(&body).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(refused, json!({ "detail": INVALID_CREDENTIALS }));

    // A TOTP code: 200 with tokens.
    let (access, _) = api_session_with(&app, &user, &code).await;
    assert_eq!(app.api_me_json(&access).await["email"], user.email);

    // A recovery code: 200, once.
    let (recovered, _) = api_session_with(&app, &user, &codes[3]).await;
    app.api_me_json(&recovered).await;
    assert_api_invalid_code(api_login_with(&app, &user, Some(&codes[3])).await).await;
    // It ended the other sessions: the TOTP login's token, the page's.
    assert_eq!(app.api_me(&access).await.status(), StatusCode::UNAUTHORIZED);
    owner.assert_logged_out().await;
}

async fn turning_it_off_takes_the_password_and_a_code(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let elsewhere = log_in_with_code(&app, &user, &authenticator.fresh_code().await).await;
    let (code, step) = authenticator.fresh().await;

    // Refused: a wrong password with the right code, the right password
    // with a wrong code or none. The page again, 422; still on.
    let wrong = authenticator.wrong_code().await;
    for (password, code) in [
        ("not-the-password", code.as_str()),
        (user.password.as_str(), wrong.as_str()),
        (user.password.as_str(), ""),
    ] {
        let response = post_from(
            &owner,
            STATUS_PAGE,
            DISABLE,
            &[("current_password", password), ("code", code)],
        )
        .await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password} {code}:\n{html}"
        );
        assert!(form_with_action(&html, DISABLE).is_some(), "{html}");
        assert_password_inputs_are_empty(&html);
        assert!(two_factor_is_on(&owner).await);
    }
    assert_api_code_required(api_login_with(&app, &user, None).await).await;

    // The password and a code: off, 303 to /me with a flash.
    let off = post_from(
        &owner,
        STATUS_PAGE,
        DISABLE,
        &[("current_password", &user.password), ("code", &code)],
    )
    .await;
    assert_redirects_to(&off, "/me");
    authenticator.accepted(step);
    let html = owner.me().await;
    assert!(html.contains(OFF_FLASH), "{html}");
    assert!(!two_factor_is_on(&owner).await);
    owner.me().await;
    elsewhere.assert_logged_out().await;
    let notice = mail.mailbox().wait_for(&user.email, OFF_MAIL).await;
    assert_eq!(notice.subject, OFF_MAIL);

    // Logins take the password alone again.
    assert_eq!(
        api_login_with(&app, &user, None).await.status(),
        StatusCode::OK
    );
    app.new_browser().log_in_as(&user).await;
    assert_redirects_to(&app.new_browser().get(CODE_PAGE).await, "/login");
    let names = event_names(&app, &user.email);
    let position = |name: &str| names.iter().position(|n| n == name);
    assert!(position("two_factor.enabled").is_some(), "{names:?}");
    assert!(
        position("two_factor.enabled") < position("two_factor.disabled"),
        "{names:?}"
    );
}

async fn new_recovery_codes_replace_the_old_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (_, old) = turn_on(&owner, &user.password).await;

    let refuse = |password: &'static str| {
        let owner = &owner;
        async move {
            let response = post_from(
                owner,
                STATUS_PAGE,
                NEW_CODES,
                &[("current_password", password)],
            )
            .await;
            let status = response.status();
            let html = response.text().await.unwrap();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
            assert!(
                Html::parse_document(&html)
                    .select(&selector("ul#recovery-codes"))
                    .next()
                    .is_none(),
                "{html}"
            );
            assert_password_inputs_are_empty(&html);
        }
    };
    refuse("not-the-password").await;
    refuse("").await;

    let new = recovery_codes_of(
        post_from(
            &owner,
            STATUS_PAGE,
            NEW_CODES,
            &[("current_password", &user.password)],
        )
        .await,
        "new recovery codes",
    )
    .await;
    for code in &new {
        assert!(!old.contains(code), "{code} is an old code");
    }
    // A refused request afterwards changes nothing.
    refuse("not-the-password").await;
    assert!(two_factor_is_on(&owner).await);

    // The old codes stop working; the new ones work.
    for code in [&old[0], &old[9]] {
        assert_api_invalid_code(api_login_with(&app, &user, Some(code)).await).await;
    }
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    assert_invalid_code_page(enter_code(&browser, &old[1]).await).await;
    assert_redirects_to(&enter_code(&browser, &new[1]).await, "/me");
    CookieUser::new(&browser, user.clone()).me().await;
    api_session_with(&app, &user, &new[0]).await;
}

async fn the_command_line_turns_it_off_ends_the_sessions_and_sends_a_notice(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let (access, refresh) = api_session_with(&app, &user, &authenticator.fresh_code().await).await;
    let elsewhere = log_in_with_code(&app, &user, &authenticator.fresh_code().await).await;

    let reset = run_gatehouse(
        &app.database,
        &["user", "reset-two-factor", &user.email],
        &[],
    );
    assert!(reset.status.success(), "{reset:?}");

    // Every session has ended (another process ended them: the server
    // notices within a second), and logins take the password alone.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    for (what, browser) in [
        ("the API token", None),
        ("a page session", Some(&owner)),
        ("another page session", Some(&elsewhere)),
    ] {
        loop {
            let refused = match browser {
                None => app.api_me(&access).await.status() == StatusCode::UNAUTHORIZED,
                Some(browser) => browser.get_me().await.status() == StatusCode::SEE_OTHER,
            };
            if refused {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} is still accepted a second after the reset"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    owner.assert_logged_out().await;
    elsewhere.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    assert_eq!(
        api_login_with(&app, &user, None).await.status(),
        StatusCode::OK
    );
    let browser = app.new_browser().log_in_as(&user).await;
    assert!(!two_factor_is_on(&browser).await);
    // The running server sends the notice.
    let notice = mail.mailbox().wait_for(&user.email, OFF_MAIL).await;
    assert_eq!(notice.subject, OFF_MAIL);

    // Again, with two-factor off: it says so and changes nothing (the
    // login of a moment ago stays).
    let again = run_gatehouse(
        &app.database,
        &["user", "reset-two-factor", &user.email],
        &[],
    );
    assert!(again.status.success(), "{again:?}");
    assert!(again.stderr.contains("off already"), "{again:?}");
    let turned_off = events_named(&app, &user.email, "two_factor.disabled");
    assert_eq!(turned_off.len(), 1, "{turned_off:?}");
    assert_eq!(turned_off[0]["device"], "Command line");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    browser.me().await;
    assert_eq!(mail.mailbox().to(&user.email, OFF_MAIL).len(), 1);

    // An unknown email: exit 1, one line on stderr.
    let unknown = run_gatehouse(
        &app.database,
        &["user", "reset-two-factor", "nobody@example.com"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(
        unknown.stderr.trim_end().lines().count(),
        1,
        "stderr: {:?}",
        unknown.stderr
    );
    assert!(!unknown.stderr.trim().is_empty());
}

async fn a_login_waiting_for_its_code_is_refused_once_the_account_is_disabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let shown = run_gatehouse(&app.database, &["user", "show", &user.email, "--json"], &[]);
    assert!(shown.status.success(), "{shown:?}");
    let shown: serde_json::Value = serde_json::from_str(shown.stdout.trim()).unwrap();
    assert_eq!(shown["two_factor"], true);

    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;
    let disabled = run_gatehouse(&app.database, &["user", "disable", &user.email], &[]);
    assert!(disabled.status.success(), "{disabled:?}");
    // The right code starts no session: the login form again, 403.
    let response = enter_code(&browser, &authenticator.fresh_code().await).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, AUTH_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains(ACCOUNT_DISABLED), "{html}");
    assert!(form_with_action(&html, "/login").is_some(), "{html}");
    // That login is over, also once the account is enabled again.
    let enabled = run_gatehouse(&app.database, &["user", "enable", &user.email], &[]);
    assert!(enabled.status.success(), "{enabled:?}");
    assert_redirects_to(&browser.get(CODE_PAGE).await, "/login");
    // A disabled account with two-factor on is refused at the password.
    let disabled = run_gatehouse(&app.database, &["user", "disable", &user.email], &[]);
    assert!(disabled.status.success(), "{disabled:?}");
    let response = password_step(&browser, &user, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json_body(
            api_login_with(&app, &user, None).await,
            StatusCode::FORBIDDEN
        )
        .await,
        json!({ "detail": ACCOUNT_DISABLED })
    );
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Every value of one text column, read straight from the database.
fn stored_values(app: &TestApp, query: &str) -> Vec<String> {
    let rows: Vec<Stored> = load_sql(&app.database.url, query);
    rows.into_iter().map(|row| row.value).collect()
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn the_secret_and_the_recovery_codes_are_not_stored_in_the_clear(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let setup = open_setup(&owner).await;
    let plain: String = setup.secret_text.split_whitespace().collect();
    let mut authenticator = Authenticator::new(&plain);
    let codes = recovery_codes_of(
        post_setup(
            &owner,
            &setup,
            &authenticator.fresh_code().await,
            &user.password,
        )
        .await,
        "turning two-factor on",
    )
    .await;
    let raw = authenticator.secret.clone();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();

    let secrets = stored_values(&app, "SELECT secret AS value FROM two_factor");
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    for stored in &secrets {
        let lower = stored.to_lowercase();
        assert!(!lower.contains(&plain.to_lowercase()), "{stored}");
        assert!(!lower.contains(&hex), "{stored}");
        assert!(!contains_bytes(stored.as_bytes(), &raw), "{stored}");
    }
    let hashes = stored_values(&app, "SELECT code_hash AS value FROM recovery_codes");
    assert_eq!(hashes.len(), 10, "{hashes:?}");
    for stored in &hashes {
        for code in &codes {
            assert!(!stored.contains(code.as_str()), "{stored}");
            assert!(!stored.contains(&code.replace('-', "")), "{stored}");
        }
    }

    // Nowhere in the SQLite files either.
    if !app.database.is_postgres() {
        let path = app.database.url.trim_start_matches("sqlite://").to_owned();
        for file in [path.clone(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).to_lowercase();
            assert!(!contains_bytes(&bytes, &raw), "{file} holds the secret");
            assert!(
                !text.contains(&plain.to_lowercase()),
                "{file} holds the secret"
            );
            for code in &codes {
                assert!(!text.contains(code.as_str()), "{file} holds {code}");
                assert!(
                    !text.contains(&code.replace('-', "")),
                    "{file} holds {code}"
                );
            }
        }
    }

    // The sealed secret still opens after a restart, and the hashed codes
    // still match.
    app.restart().await;
    log_in_with_code(&app, &user, &authenticator.fresh_code().await).await;
    api_session_with(&app, &user, &codes[5]).await;
}

async fn reloading_the_set_up_page_keeps_its_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_cookie_user().await;
    let first = open_setup(&owner).await;
    let again = open_setup(&owner).await;
    // A QR code scanned before the reload still works.
    assert_eq!(first.secret_text, again.secret_text);
    // Another browser of the same account gets a secret of its own.
    let elsewhere = app.new_browser().log_in_as(&owner.user).await;
    assert_ne!(open_setup(&elsewhere).await.secret_text, first.secret_text);
}

/// The session cookie's entries, opened with the key the server derives
/// from its secret (actix-session's private cookie: AES-256-GCM).
fn open_session(secret: &str, value: &str) -> serde_json::Map<String, serde_json::Value> {
    let key = cookie::Key::derive_from(secret.as_bytes());
    let mut jar = cookie::CookieJar::new();
    // The server percent-encodes the value in Set-Cookie.
    jar.add_original(cookie::Cookie::new(SESSION_COOKIE, percent_decode(value)));
    let opened = jar
        .private(&key)
        .get(SESSION_COOKIE)
        .expect("the session cookie opens with the server's key");
    serde_json::from_str(opened.value()).expect("the session holds a JSON map")
}

fn seal_session(secret: &str, entries: &serde_json::Map<String, serde_json::Value>) -> String {
    let key = cookie::Key::derive_from(secret.as_bytes());
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(&key).add(cookie::Cookie::new(
        SESSION_COOKIE,
        serde_json::to_string(entries).expect("json"),
    ));
    jar.get(SESSION_COOKIE)
        .expect("sealed")
        .encoded()
        .stripped()
        .to_string()
        .split_once('=')
        .map(|(_, value)| value.to_owned())
        .expect("name=value")
}

/// Five minutes are not waited for: the test holds the server's secret, so
/// it can move the pending login's expiry into the past as time would.
async fn a_pending_login_is_over_after_five_minutes(backend: Backend) {
    let (app, secret) = crate::helpers::spawn_with_known_secret(backend).await;
    let owner = app.register_cookie_user().await;
    let user = owner.user.clone();
    let (mut authenticator, _) = turn_on(&owner, &user.password).await;
    let browser = app.new_browser();
    expect_code_step(&browser, &user, &[]).await;

    let cookies = browser.cookies();
    let mut entries = open_session(&secret, &cookies[SESSION_COOKIE]);
    let pending: serde_json::Value = serde_json::from_str(
        entries["pending_login"]
            .as_str()
            .expect("a pending login in the session"),
    )
    .expect("json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires_at = pending["expires_at"].as_i64().expect("an expiry");
    assert!((now + 290..=now + 300).contains(&expires_at), "{pending}");
    let mut expired = pending.clone();
    expired["expires_at"] = json!(now - 1);
    entries.insert(
        "pending_login".into(),
        json!(serde_json::to_string(&expired).expect("json")),
    );
    browser.set_cookie(SESSION_COOKIE, &seal_session(&secret, &entries));

    assert_redirects_to(&browser.get(CODE_PAGE).await, "/login");
    // The right code of a fresh step logs no one in once it is over.
    expect_code_step(&browser, &user, &[]).await;
    let cookies = browser.cookies();
    let mut entries = open_session(&secret, &cookies[SESSION_COOKIE]);
    let pending: serde_json::Value =
        serde_json::from_str(entries["pending_login"].as_str().expect("pending")).expect("json");
    let mut expired = pending.clone();
    expired["expires_at"] = json!(now - 1);
    entries.insert(
        "pending_login".into(),
        json!(serde_json::to_string(&expired).expect("json")),
    );
    browser.set_cookie(SESSION_COOKIE, &seal_session(&secret, &entries));
    let code = authenticator.fresh_code().await;
    // Posted as the open page would (the page itself now sends to /login).
    let csrf = entries["csrf"]
        .as_str()
        .expect("a CSRF token in the session");
    let csrf: String = serde_json::from_str(csrf).expect("json");
    let response = browser
        .post_form(
            CODE_PAGE,
            &[("code", code.as_str()), ("csrf_token", csrf.as_str())],
        )
        .await;
    assert_redirects_to(&response, "/login");
    assert!(
        browser.auth_cookie().is_none(),
        "an expired pending login logged in"
    );
    let page = browser.page_text("/login").await;
    assert!(page.contains("Your login has expired"), "{page}");
}

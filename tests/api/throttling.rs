//! Login throttling and registration rate limits: per (email, address), per
//! email, per address; shared through the database; off when switched off.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestDatabase, TestUser, assert_password_inputs_are_empty, csrf_from,
    input_named, json_body, run_gatehouse,
};

backend_tests! {
    both:
        five_failed_logins_throttle_the_sixth_even_with_the_right_password,
        a_throttled_api_login_answers_the_right_and_the_wrong_password_identically,
        a_throttled_login_form_is_shown_again_with_the_message_and_the_email_kept,
        a_throttled_login_form_looks_the_same_for_the_right_and_the_wrong_password,
        a_successful_login_resets_the_count_of_failures,
        failed_logins_for_an_unknown_email_are_throttled_too,
        differently_written_emails_are_counted_as_one,
        an_attacker_at_another_address_cannot_lock_the_user_out,
        failures_from_many_addresses_together_hit_the_per_email_limit,
        a_throttled_login_is_let_in_again_once_the_window_has_passed,
        a_forwarded_for_header_does_not_escape_the_limit_without_a_trusted_proxy,
        behind_a_trusted_proxy_each_forwarded_address_is_counted_separately,
        behind_a_trusted_proxy_the_rightmost_untrusted_forwarded_address_is_the_client,
        instances_sharing_a_database_count_failures_together,
        api_registrations_beyond_the_limit_from_one_address_are_throttled,
        the_register_form_beyond_the_limit_is_shown_again_with_the_message,
        register_posts_refused_for_their_csrf_token_do_not_count,
        api_registrations_with_an_unreadable_body_do_not_count,
        an_unreadable_limit_stops_the_server_at_start,
        with_rate_limits_off_nothing_is_throttled,
        an_attempt_refused_by_one_limit_counts_against_no_other,
        the_per_address_limit_counts_every_email_malformed_ones_too,
        others_cannot_lock_the_owner_out_of_a_browser_that_logged_in_before,
        ipv6_clients_of_one_64_share_their_limit,
        a_trusted_proxy_seen_as_an_ipv4_mapped_peer_is_trusted;
    multi_thread:
        a_burst_of_wrong_logins_from_one_address_gets_the_pair_limit_of_password_checks,
        a_burst_from_many_addresses_gets_the_email_limit_of_password_checks,
        a_burst_across_many_emails_gets_the_address_limit_of_password_checks,
        a_burst_of_registrations_gets_the_registration_limit;
}

/// What a throttled request is told, in the API and on the pages.
const TOO_MANY_ATTEMPTS: &str = "Too many attempts. Try again later.";
const WRONG_PASSWORD: &str = "not-the-password";
/// The default login window: 15 minutes.
const DEFAULT_LOGIN_WINDOW_SECS: u64 = 15 * 60;
const MINUTE: u64 = 60;

/// A server with throttling switched on and these extra settings.
async fn throttled_app(backend: Backend, env: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder(backend).env("GATEHOUSE_RATE_LIMITS", "on");
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    builder.spawn().await
}

/// A user registered through the API (one registration from 127.0.0.1).
async fn registered_user(app: &TestApp) -> TestUser {
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    user
}

/// A cookie-keeping client that connects from the loopback address
/// 127.0.0.`octet` (the server listens on 127.0.0.1; Linux routes all of
/// 127/8 over loopback).
struct Peer {
    server: String,
    client: Client,
}

impl Peer {
    fn new(app: &TestApp, octet: u8) -> Peer {
        Peer::to(&app.address, octet)
    }

    /// A peer of a server at `server` (`http://HOST:PORT`).
    fn to(server: &str, octet: u8) -> Peer {
        let client = Client::builder()
            .local_address(IpAddr::from([127, 0, 0, octet]))
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("failed to build the HTTP client");
        Peer {
            server: server.to_owned(),
            client,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.server, path)
    }

    async fn api_login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("POST failed")
    }

    /// An API login carrying `X-Forwarded-For: forwarded`.
    async fn api_login_forwarded_for(
        &self,
        email: &str,
        password: &str,
        forwarded: &str,
    ) -> Response {
        self.client
            .post(self.url("/api/login"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("POST failed")
    }

    async fn api_register(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/api/register"))
            .json(body)
            .send()
            .await
            .expect("POST failed")
    }

    async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Response {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("POST failed")
    }
}

/// Asserts a status, showing the body when it differs.
async fn assert_status(response: Response, expected: StatusCode, what: &str) {
    let status = response.status();
    if status != expected {
        let body = response.text().await.unwrap_or_default();
        panic!("{what}: expected {expected}, got {status}; body: {body}");
    }
}

/// The `Retry-After` seconds of a 429: at least 1, at most the window.
fn retry_after(response: &Response, window_secs: u64) -> u64 {
    let raw = response
        .headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| {
            panic!(
                "no Retry-After in a {} response; headers: {:?}",
                response.status(),
                response.headers()
            )
        })
        .to_str()
        .expect("Retry-After is not ASCII")
        .to_owned();
    let seconds: u64 = raw
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After {raw:?} is not a number of seconds: {e}"));
    assert!(seconds >= 1, "Retry-After is {seconds}");
    assert!(
        seconds <= window_secs,
        "Retry-After {seconds} is longer than the window of {window_secs} s"
    );
    seconds
}

/// Asserts an API 429 with `Retry-After` and the throttling detail; returns
/// the `Retry-After` seconds.
async fn assert_api_throttled(response: Response, window_secs: u64) -> u64 {
    let seconds = retry_after(&response, window_secs);
    let body = json_body(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body, json!({ "detail": TOO_MANY_ATTEMPTS }));
    seconds
}

/// Makes `count` failed API logins, each answered 401.
async fn fail_logins(peer: &Peer, email: &str, count: usize) {
    for attempt in 1..=count {
        assert_status(
            peer.api_login(email, WRONG_PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            &format!("failed login {attempt} for {email}"),
        )
        .await;
    }
}

/// Makes `count` failed logins through the form, each answered 401.
async fn fail_form_logins(app: &TestApp, email: &str, count: usize) {
    for attempt in 1..=count {
        assert_status(
            app.login_via_form(email, WRONG_PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            &format!("failed form login {attempt}"),
        )
        .await;
    }
}

async fn five_failed_logins_throttle_the_sixth_even_with_the_right_password(backend: Backend) {
    let app = throttled_app(backend, &[]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);

    fail_logins(&peer, &user.email, 5).await;

    assert_api_throttled(
        peer.api_login(&user.email, &user.password).await,
        DEFAULT_LOGIN_WINDOW_SECS,
    )
    .await;
    assert_api_throttled(
        peer.api_login(&user.email, WRONG_PASSWORD).await,
        DEFAULT_LOGIN_WINDOW_SECS,
    )
    .await;
}

async fn a_throttled_api_login_answers_the_right_and_the_wrong_password_identically(
    backend: Backend,
) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "3/1m")]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);
    fail_logins(&peer, &user.email, 3).await;

    let right = peer.api_login(&user.email, &user.password).await;
    let wrong = peer.api_login(&user.email, WRONG_PASSWORD).await;

    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&right, MINUTE);
    retry_after(&wrong, MINUTE);
    assert_eq!(
        right.headers().get(CONTENT_TYPE),
        wrong.headers().get(CONTENT_TYPE)
    );
    let right = right.bytes().await.unwrap();
    let wrong = wrong.bytes().await.unwrap();
    assert_eq!(
        right,
        wrong,
        "right password: {}\nwrong password: {}",
        String::from_utf8_lossy(&right),
        String::from_utf8_lossy(&wrong)
    );
}

async fn a_throttled_login_form_is_shown_again_with_the_message_and_the_email_kept(
    backend: Backend,
) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "3/1m")]).await;
    let user = registered_user(&app).await;
    fail_form_logins(&app, &user.email, 3).await;

    let response = app.login_via_form(&user.email, &user.password).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&response, MINUTE);
    assert!(app.auth_cookie().is_none(), "a throttled login logged in");
    let html = response.text().await.unwrap();
    let summary = html
        .find("error-summary")
        .unwrap_or_else(|| panic!("no error summary in:\n{html}"));
    assert!(
        html[summary..].contains(TOO_MANY_ATTEMPTS),
        "no {TOO_MANY_ATTEMPTS:?} in the error summary of:\n{html}"
    );
    let email = input_named(&html, "email").unwrap_or_else(|| panic!("no email field in:\n{html}"));
    assert_eq!(email.attr("value"), Some(user.email.as_str()));
    assert!(input_named(&html, "password").is_some(), "{html}");
    assert_password_inputs_are_empty(&html);
    csrf_from(&html);
}

/// A page with its CSRF token value taken out.
fn without_csrf_token(html: &str) -> String {
    html.replace(&csrf_from(html), "")
}

async fn a_throttled_login_form_looks_the_same_for_the_right_and_the_wrong_password(
    backend: Backend,
) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "3/1m")]).await;
    let user = registered_user(&app).await;
    fail_form_logins(&app, &user.email, 3).await;

    let right = app.login_via_form(&user.email, &user.password).await;
    let wrong = app.login_via_form(&user.email, WRONG_PASSWORD).await;

    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&right, MINUTE);
    retry_after(&wrong, MINUTE);
    let right = without_csrf_token(&right.text().await.unwrap());
    let wrong = without_csrf_token(&wrong.text().await.unwrap());
    assert_eq!(right, wrong);
}

async fn a_successful_login_resets_the_count_of_failures(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "3/1m")]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);

    fail_logins(&peer, &user.email, 2).await;
    assert_status(
        peer.api_login(&user.email, &user.password).await,
        StatusCode::OK,
        "the login after two failures",
    )
    .await;
    // Without the reset this would be failures three and four.
    fail_logins(&peer, &user.email, 2).await;
    assert_status(
        peer.api_login(&user.email, &user.password).await,
        StatusCode::OK,
        "the login after two more failures",
    )
    .await;

    // The limit still applies to a fresh run of failures.
    fail_logins(&peer, &user.email, 3).await;
    assert_api_throttled(peer.api_login(&user.email, &user.password).await, MINUTE).await;
}

async fn failed_logins_for_an_unknown_email_are_throttled_too(backend: Backend) {
    let app = throttled_app(backend, &[]).await;
    let peer = Peer::new(&app, 1);
    let nobody = TestUser::generate();

    fail_logins(&peer, &nobody.email, 5).await;

    assert_api_throttled(
        peer.api_login(&nobody.email, &nobody.password).await,
        DEFAULT_LOGIN_WINDOW_SECS,
    )
    .await;
}

async fn differently_written_emails_are_counted_as_one(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "4/1m")]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);
    // `user` written in fullwidth letters: NFKC folds them back.
    let fullwidth = user
        .email
        .replacen("user", "\u{ff55}\u{ff53}\u{ff45}\u{ff52}", 1);
    let spellings = [
        user.email.to_uppercase(),
        format!("  {}  ", user.email),
        format!("{}{}", &user.email[..1].to_uppercase(), &user.email[1..]),
        fullwidth,
    ];

    for spelling in &spellings {
        fail_logins(&peer, spelling, 1).await;
    }

    assert_api_throttled(peer.api_login(&user.email, &user.password).await, MINUTE).await;
}

async fn an_attacker_at_another_address_cannot_lock_the_user_out(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "6/1m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let attacker = Peer::new(&app, 2);
    let owner = Peer::new(&app, 1);

    fail_logins(&attacker, &user.email, 3).await;
    assert_api_throttled(
        attacker.api_login(&user.email, WRONG_PASSWORD).await,
        MINUTE,
    )
    .await;

    assert_status(
        owner.api_login(&user.email, &user.password).await,
        StatusCode::OK,
        "the owner's login from 127.0.0.1",
    )
    .await;
}

async fn failures_from_many_addresses_together_hit_the_per_email_limit(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "6/1m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    for octet in [2, 3, 4] {
        fail_logins(&Peer::new(&app, octet), &user.email, 2).await;
    }

    // Six failures in all: no address has reached the pair limit, but the
    // email has reached its own, for every address.
    let fresh = Peer::new(&app, 5);
    assert_api_throttled(fresh.api_login(&user.email, &user.password).await, MINUTE).await;
    assert_api_throttled(fresh.api_login(&user.email, WRONG_PASSWORD).await, MINUTE).await;
    assert_api_throttled(
        Peer::new(&app, 2)
            .api_login(&user.email, &user.password)
            .await,
        MINUTE,
    )
    .await;
}

async fn a_throttled_login_is_let_in_again_once_the_window_has_passed(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "2/2s")]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);
    fail_logins(&peer, &user.email, 2).await;

    let throttled = peer.api_login(&user.email, &user.password).await;
    let answered = Instant::now();
    let seconds = assert_api_throttled(throttled, 2).await;

    tokio::time::sleep_until((answered + Duration::from_millis(seconds * 1000 + 500)).into()).await;
    assert_status(
        peer.api_login(&user.email, &user.password).await,
        StatusCode::OK,
        &format!("the login {seconds} s + 0.5 s after Retry-After: {seconds}"),
    )
    .await;
}

async fn a_forwarded_for_header_does_not_escape_the_limit_without_a_trusted_proxy(
    backend: Backend,
) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "3/1m")]).await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_status(
            peer.api_login_forwarded_for(&user.email, WRONG_PASSWORD, forwarded)
                .await,
            StatusCode::UNAUTHORIZED,
            &format!("a failed login forwarded for {forwarded}"),
        )
        .await;
    }

    assert_api_throttled(
        peer.api_login_forwarded_for(&user.email, &user.password, "203.0.113.4")
            .await,
        MINUTE,
    )
    .await;
    assert_api_throttled(peer.api_login(&user.email, &user.password).await, MINUTE).await;
}

async fn behind_a_trusted_proxy_each_forwarded_address_is_counted_separately(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let proxy = Peer::new(&app, 1);
    for attempt in 1..=3 {
        assert_status(
            proxy
                .api_login_forwarded_for(&user.email, WRONG_PASSWORD, "203.0.113.7")
                .await,
            StatusCode::UNAUTHORIZED,
            &format!("failed login {attempt} forwarded for 203.0.113.7"),
        )
        .await;
    }
    assert_api_throttled(
        proxy
            .api_login_forwarded_for(&user.email, &user.password, "203.0.113.7")
            .await,
        MINUTE,
    )
    .await;

    assert_status(
        proxy
            .api_login_forwarded_for(&user.email, &user.password, "203.0.113.8")
            .await,
        StatusCode::OK,
        "the login forwarded for 203.0.113.8",
    )
    .await;
}

async fn behind_a_trusted_proxy_the_rightmost_untrusted_forwarded_address_is_the_client(
    backend: Backend,
) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let proxy = Peer::new(&app, 1);
    fail_logins_forwarded_for(&proxy, &user.email, "203.0.113.7", 3).await;

    // A client cannot escape by prepending addresses of its own, and a
    // trusted proxy's address is skipped.
    for forwarded in ["198.51.100.9, 203.0.113.7", "203.0.113.7, 127.0.0.1"] {
        let response = proxy
            .api_login_forwarded_for(&user.email, &user.password, forwarded)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "X-Forwarded-For: {forwarded}"
        );
        assert_api_throttled(response, MINUTE).await;
    }
    // The rightmost untrusted address is another client.
    assert_status(
        proxy
            .api_login_forwarded_for(&user.email, &user.password, "203.0.113.7, 198.51.100.9")
            .await,
        StatusCode::OK,
        "X-Forwarded-For: 203.0.113.7, 198.51.100.9",
    )
    .await;
}

async fn fail_logins_forwarded_for(peer: &Peer, email: &str, forwarded: &str, count: usize) {
    for attempt in 1..=count {
        assert_status(
            peer.api_login_forwarded_for(email, WRONG_PASSWORD, forwarded)
                .await,
            StatusCode::UNAUTHORIZED,
            &format!("failed login {attempt} forwarded for {forwarded}"),
        )
        .await;
    }
}

async fn instances_sharing_a_database_count_failures_together(backend: Backend) {
    let a = throttled_app(backend, &[("GATEHOUSE_LOGIN_LIMIT", "4/1m")]).await;
    let b = a.spawn_another().await;
    let user = registered_user(&a).await;
    let via_a = Peer::new(&a, 1);
    let via_b = Peer::new(&b, 1);

    for _ in 0..2 {
        fail_logins(&via_a, &user.email, 1).await;
        fail_logins(&via_b, &user.email, 1).await;
    }

    assert_api_throttled(via_a.api_login(&user.email, &user.password).await, MINUTE).await;
    assert_api_throttled(via_b.api_login(&user.email, &user.password).await, MINUTE).await;
}

async fn api_registrations_beyond_the_limit_from_one_address_are_throttled(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_REGISTER_LIMIT", "3/1m")]).await;
    let peer = Peer::new(&app, 1);
    let first = TestUser::generate();

    // Successes and failures count alike.
    assert_status(
        peer.api_register(&first.api_registration()).await,
        StatusCode::CREATED,
        "registration 1",
    )
    .await;
    assert_status(
        peer.api_register(&first.api_registration()).await,
        StatusCode::CONFLICT,
        "registration 2 (taken)",
    )
    .await;
    let mut invalid = TestUser::generate().api_registration();
    invalid["username"] = json!("x");
    assert_status(
        peer.api_register(&invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "registration 3 (invalid)",
    )
    .await;

    let refused = TestUser::generate();
    assert_api_throttled(peer.api_register(&refused.api_registration()).await, MINUTE).await;

    // Another address has its own allowance, and the refused user was not created.
    assert_status(
        Peer::new(&app, 2)
            .api_register(&refused.api_registration())
            .await,
        StatusCode::CREATED,
        "the refused registration from 127.0.0.2",
    )
    .await;
}

/// Asserts that a page is the register form showing the throttling message.
async fn assert_register_form_throttled(response: Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&response, MINUTE);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(TOO_MANY_ATTEMPTS),
        "no {TOO_MANY_ATTEMPTS:?} in:\n{html}"
    );
    assert!(html.contains("action=\"/register\""), "no form in:\n{html}");
    for field in ["username", "email", "password", "password_confirm"] {
        assert!(
            input_named(&html, field).is_some(),
            "no {field} in:\n{html}"
        );
    }
    assert_password_inputs_are_empty(&html);
    csrf_from(&html);
}

async fn the_register_form_beyond_the_limit_is_shown_again_with_the_message(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_REGISTER_LIMIT", "2/1m")]).await;
    let csrf = app.csrf_token_from("/register").await;
    for attempt in 1..=2 {
        let mut invalid = TestUser::generate();
        invalid.username = "x".to_owned();
        assert_status(
            app.post_register(&invalid.register_form(&csrf)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("invalid registration {attempt}"),
        )
        .await;
    }

    let refused = TestUser::generate();
    let response = app.post_register(&refused.register_form(&csrf)).await;

    assert_register_form_throttled(response).await;
    assert!(
        app.auth_cookie().is_none(),
        "a throttled registration logged in"
    );
    assert_status(
        Peer::new(&app, 2)
            .api_register(&refused.api_registration())
            .await,
        StatusCode::CREATED,
        "the refused registration from 127.0.0.2",
    )
    .await;
}

async fn register_posts_refused_for_their_csrf_token_do_not_count(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_REGISTER_LIMIT", "2/1m")]).await;
    let csrf = app.csrf_token_from("/register").await;
    for attempt in 1..=3 {
        let user = TestUser::generate();
        assert_status(
            app.post_register(&user.register_form("not-the-token"))
                .await,
            StatusCode::FORBIDDEN,
            &format!("registration {attempt} with a wrong CSRF token"),
        )
        .await;
        let without: Vec<(&str, &str)> = user
            .register_form("")
            .into_iter()
            .filter(|(key, _)| *key != "csrf_token")
            .collect();
        assert_status(
            app.post_register(&without).await,
            StatusCode::FORBIDDEN,
            &format!("registration {attempt} without a CSRF token"),
        )
        .await;
    }

    for attempt in 1..=2 {
        let mut invalid = TestUser::generate();
        invalid.username = "x".to_owned();
        assert_status(
            app.post_register(&invalid.register_form(&csrf)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("counted registration {attempt}"),
        )
        .await;
    }
    let response = app
        .post_register(&TestUser::generate().register_form(&csrf))
        .await;
    assert_register_form_throttled(response).await;
}

async fn api_registrations_with_an_unreadable_body_do_not_count(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_REGISTER_LIMIT", "2/1m")]).await;
    let peer = Peer::new(&app, 1);
    for attempt in 1..=3 {
        assert_status(
            peer.post_raw("/api/register", "application/json", "{not json")
                .await,
            StatusCode::BAD_REQUEST,
            &format!("unreadable registration {attempt}"),
        )
        .await;
        assert_status(
            peer.post_raw("/api/register", "text/plain", "username=someone")
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("registration {attempt} of another content type"),
        )
        .await;
    }

    for attempt in 1..=2 {
        assert_status(
            peer.api_register(&TestUser::generate().api_registration())
                .await,
            StatusCode::CREATED,
            &format!("counted registration {attempt}"),
        )
        .await;
    }
    assert_api_throttled(
        peer.api_register(&TestUser::generate().api_registration())
            .await,
        MINUTE,
    )
    .await;
}

async fn an_unreadable_limit_stops_the_server_at_start(backend: Backend) {
    let database = TestDatabase::create(&backend);
    for variable in [
        "GATEHOUSE_LOGIN_LIMIT",
        "GATEHOUSE_LOGIN_EMAIL_LIMIT",
        "GATEHOUSE_REGISTER_LIMIT",
    ] {
        for value in ["lots", "5", "5/fortnight", "/15m"] {
            let finished = run_gatehouse(
                &database,
                &["serve"],
                &[("GATEHOUSE_RATE_LIMITS", "on"), (variable, value)],
            );
            assert_eq!(
                finished.status.code(),
                Some(2),
                "{variable}={value}: {finished:#?}"
            );
            let naming = finished
                .stderr
                .lines()
                .filter(|line| line.contains(variable))
                .count();
            assert_eq!(naming, 1, "{variable}={value}: {finished:#?}");
            assert!(!finished.stdout.contains("listening on"), "{finished:#?}");
        }
    }
}

async fn with_rate_limits_off_nothing_is_throttled(backend: Backend) {
    // The harness's default is `GATEHOUSE_RATE_LIMITS=off`; tight limits
    // must then change nothing.
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_LOGIN_LIMIT", "2/1m")
        .env("GATEHOUSE_LOGIN_EMAIL_LIMIT", "3/1m")
        .env("GATEHOUSE_REGISTER_LIMIT", "2/1m")
        .spawn()
        .await;
    let peer = Peer::new(&app, 1);
    let mut users = Vec::new();
    for attempt in 1..=5 {
        let user = TestUser::generate();
        assert_status(
            peer.api_register(&user.api_registration()).await,
            StatusCode::CREATED,
            &format!("registration {attempt}"),
        )
        .await;
        users.push(user);
    }

    fail_logins(&peer, &users[0].email, 10).await;
    let csrf = app.csrf_token_from("/register").await;
    for attempt in 1..=3 {
        let mut invalid = TestUser::generate();
        invalid.username = "x".to_owned();
        assert_status(
            app.post_register(&invalid.register_form(&csrf)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("invalid form registration {attempt}"),
        )
        .await;
    }

    assert_status(
        peer.api_login(&users[0].email, &users[0].password).await,
        StatusCode::OK,
        "the login after ten failures",
    )
    .await;
}

/// Logs that count each bcrypt verification.
const COUNT_VERIFICATIONS: (&str, &str) = ("RUST_LOG", "info,gatehouse::bcrypt=debug");

/// How many passwords the server has verified, once its log has caught up
/// with `at_least` of them (the log is written by a background thread).
async fn verifications(app: &TestApp, at_least: usize) -> usize {
    let count = || app.logs().matches("verifying a password").count();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count() < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything still on its way shows up too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    count()
}

/// Sends every `(peer, email)` login at once, all with a wrong password,
/// and tallies the answers: (401s, 429s).
async fn burst(app: &TestApp, logins: Vec<(u8, String)>) -> (usize, usize) {
    let mut racers = Vec::new();
    for (octet, email) in logins {
        let peer = Peer::new(app, octet);
        racers.push(tokio::spawn(async move {
            peer.api_login(&email, WRONG_PASSWORD).await.status()
        }));
    }
    let (mut unauthorized, mut throttled) = (0, 0);
    for racer in racers {
        match racer.await.expect("a login task panicked") {
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("a burst login got {other}"),
        }
    }
    (unauthorized, throttled)
}

/// A burst of `total` logins gets exactly `limit` password checks (each a
/// 401) and 429 for the rest, and the server verified no more passwords.
async fn assert_burst_held(app: &TestApp, logins: Vec<(u8, String)>, limit: usize) {
    let before = verifications(app, 0).await;
    let total = logins.len();
    let (unauthorized, throttled) = burst(app, logins).await;
    assert_eq!(
        (unauthorized, throttled),
        (limit, total - limit),
        "a burst of {total} against a limit of {limit}: (401s, 429s)"
    );
    assert_eq!(
        verifications(app, before + limit).await - before,
        limit,
        "bcrypt verifications during the burst"
    );
}

async fn a_burst_of_wrong_logins_from_one_address_gets_the_pair_limit_of_password_checks(
    backend: Backend,
) {
    let app = throttled_app(backend, &[COUNT_VERIFICATIONS]).await;
    let user = registered_user(&app).await;
    let logins = (0..40).map(|_| (1, user.email.clone())).collect();
    assert_burst_held(&app, logins, 5).await;
    // The right password is refused too, now that the limit holds.
    assert_api_throttled(
        Peer::new(&app, 1)
            .api_login(&user.email, &user.password)
            .await,
        DEFAULT_LOGIN_WINDOW_SECS,
    )
    .await;
}

async fn a_burst_from_many_addresses_gets_the_email_limit_of_password_checks(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            COUNT_VERIFICATIONS,
            ("GATEHOUSE_LOGIN_LIMIT", "50/15m"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "6/15m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let logins = (0..40).map(|i| (2 + i % 8, user.email.clone())).collect();
    assert_burst_held(&app, logins, 6).await;
}

async fn a_burst_across_many_emails_gets_the_address_limit_of_password_checks(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            COUNT_VERIFICATIONS,
            ("GATEHOUSE_LOGIN_ADDRESS_LIMIT", "7/15m"),
        ],
    )
    .await;
    let logins = (0..40)
        .map(|i| (1, format!("stuffed{i}@example.com")))
        .collect();
    assert_burst_held(&app, logins, 7).await;
}

async fn a_burst_of_registrations_gets_the_registration_limit(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_REGISTER_LIMIT", "10/1h")]).await;
    let mut racers = Vec::new();
    for _ in 0..30 {
        let peer = Peer::new(&app, 1);
        let user = TestUser::generate();
        racers.push(tokio::spawn(async move {
            peer.api_register(&user.api_registration()).await.status()
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.expect("a registration task panicked"));
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, throttled), (10, 20), "{statuses:?}");
}

async fn an_attempt_refused_by_one_limit_counts_against_no_other(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "2/1m"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "3/1m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let first = Peer::new(&app, 2);
    fail_logins(&first, &user.email, 2).await;
    for _ in 0..5 {
        assert_api_throttled(first.api_login(&user.email, WRONG_PASSWORD).await, MINUTE).await;
    }
    // The five refusals did not count against the email: it has had two
    // failures, so one more from elsewhere is still checked.
    let second = Peer::new(&app, 3);
    fail_logins(&second, &user.email, 1).await;
    assert_api_throttled(second.api_login(&user.email, WRONG_PASSWORD).await, MINUTE).await;
}

async fn the_per_address_limit_counts_every_email_malformed_ones_too(backend: Backend) {
    let app = throttled_app(backend, &[("GATEHOUSE_LOGIN_ADDRESS_LIMIT", "10/1m")]).await;
    let user = registered_user(&app).await;
    let stuffer = Peer::new(&app, 2);
    for i in 0..5 {
        fail_logins(&stuffer, &format!("victim{i}@example.com"), 1).await;
    }
    for malformed in [
        "not-an-email",
        "@",
        "a@",
        "x y@example.com",
        "nul\0@example.com",
    ] {
        assert_status(
            stuffer.api_login(malformed, WRONG_PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            &format!("a login as {malformed:?}"),
        )
        .await;
    }
    // Ten failures from this address: every email is refused now, also a
    // real account's with its right password, and malformed ones.
    assert_api_throttled(stuffer.api_login(&user.email, &user.password).await, MINUTE).await;
    assert_api_throttled(
        stuffer.api_login("not-an-email", WRONG_PASSWORD).await,
        MINUTE,
    )
    .await;
    // Other addresses are not affected.
    assert_status(
        Peer::new(&app, 3)
            .api_login(&user.email, &user.password)
            .await,
        StatusCode::OK,
        "a login from another address",
    )
    .await;
}

async fn others_cannot_lock_the_owner_out_of_a_browser_that_logged_in_before(backend: Backend) {
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "6/1m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let owner = app.new_browser();
    assert_status(
        owner.login_via_form(&user.email, &user.password).await,
        StatusCode::SEE_OTHER,
        "the owner's first login",
    )
    .await;
    assert!(
        owner.cookies().contains_key("gatehouse_device"),
        "no device cookie after a login: {:?}",
        owner.cookies().keys()
    );
    owner.logout_via_form().await;
    assert!(
        owner.cookies().contains_key("gatehouse_device"),
        "logout must keep the device cookie"
    );

    // Attackers at two other addresses use up the per-email limit.
    for octet in [2, 3] {
        fail_logins(&Peer::new(&app, octet), &user.email, 3).await;
    }
    let fresh = app.new_browser();
    let refused = fresh.login_via_form(&user.email, &user.password).await;
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a browser new to the account"
    );
    assert_api_throttled(
        Peer::new(&app, 4)
            .api_login(&user.email, &user.password)
            .await,
        MINUTE,
    )
    .await;

    // The owner's browser is exempt from the per-email limit.
    let back = owner.login_via_form(&user.email, &user.password).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "the owner's browser");
    assert!(owner.auth_cookie().is_some());

    // A forged device cookie is no exemption.
    let forger = app.new_browser();
    forger.set_cookie("gatehouse_device", "1");
    let forged = forger.login_via_form(&user.email, &user.password).await;
    assert_eq!(
        forged.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a forged device cookie"
    );
}

async fn ipv6_clients_of_one_64_share_their_limit(backend: Backend) {
    // Behind a trusted proxy, so the test can choose the client addresses.
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_LOGIN_LIMIT", "3/1m"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let peer = Peer::new(&app, 1);
    for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
        assert_status(
            peer.api_login_forwarded_for(&user.email, WRONG_PASSWORD, host)
                .await,
            StatusCode::UNAUTHORIZED,
            host,
        )
        .await;
    }
    assert_api_throttled(
        peer.api_login_forwarded_for(&user.email, &user.password, "2001:db8:1:2:abcd::1")
            .await,
        MINUTE,
    )
    .await;
    // The next /64 is another client; a mapped IPv4 address is its IPv4.
    assert_status(
        peer.api_login_forwarded_for(&user.email, &user.password, "2001:db8:1:3::1")
            .await,
        StatusCode::OK,
        "another /64",
    )
    .await;
    for _ in 0..3 {
        peer.api_login_forwarded_for(&user.email, WRONG_PASSWORD, "198.51.100.7")
            .await;
    }
    assert_api_throttled(
        peer.api_login_forwarded_for(&user.email, &user.password, "::ffff:198.51.100.7")
            .await,
        MINUTE,
    )
    .await;
}

async fn a_trusted_proxy_seen_as_an_ipv4_mapped_peer_is_trusted(backend: Backend) {
    // Listening on IPv6 and IPv4 at once, the server sees an IPv4 proxy as
    // ::ffff:127.0.0.1; it must still match the trusted 127.0.0.1.
    let app = throttled_app(
        backend,
        &[
            ("GATEHOUSE_BIND", "[::]:0"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
            ("GATEHOUSE_LOGIN_LIMIT", "2/1m"),
        ],
    )
    .await;
    let user = registered_user(&app).await;
    let port = app.address.rsplit(':').next().expect("a port");
    let proxy = Peer::to(&format!("http://127.0.0.1:{port}"), 1);
    for _ in 0..2 {
        proxy
            .api_login_forwarded_for(&user.email, WRONG_PASSWORD, "198.51.100.1")
            .await;
    }
    assert_api_throttled(
        proxy
            .api_login_forwarded_for(&user.email, WRONG_PASSWORD, "198.51.100.1")
            .await,
        MINUTE,
    )
    .await;
    // Another client behind the same proxy has a limit of its own.
    assert_status(
        proxy
            .api_login_forwarded_for(&user.email, &user.password, "198.51.100.2")
            .await,
        StatusCode::OK,
        "another client behind the proxy",
    )
    .await;
}

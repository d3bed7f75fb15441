//! Sessions: logging out everywhere, the operator's revoke-sessions command,
//! session fixation, rehashing at a new bcrypt cost, common passwords.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use gatehouse::config::DatabaseUrl;
use gatehouse::schema::users;
use reqwest::{Response, StatusCode};

use crate::helpers::{
    Backend, Browser, CookieUser, LOGIN_FOR_ME, SESSION_COOKIE, TestApp, TestUser,
    assert_clears_auth_cookie, assert_field_error, assert_password_inputs_are_empty,
    assert_redirects_to, auth_set_cookie, csrf_from, form_with_action, jwt_claims, run_gatehouse,
    validation_errors,
};

backend_tests!(
    the_account_page_offers_to_log_out_everywhere,
    logging_out_everywhere_redirects_to_login_and_clears_the_cookie,
    logging_out_everywhere_says_so_on_the_login_page,
    logging_out_everywhere_kills_every_token_of_the_user_at_once,
    logging_out_everywhere_leaves_other_users_logged_in,
    logging_in_again_after_logging_out_everywhere_works,
    logging_out_everywhere_without_a_valid_csrf_token_is_forbidden_and_revokes_nothing,
    logging_out_everywhere_is_honoured_by_another_instance_within_a_second,
    tokens_carry_the_users_token_version,
    revoke_sessions_kills_every_token_of_the_user_on_the_running_server,
    revoke_sessions_matches_the_email_without_regard_to_case,
    revoke_sessions_of_an_unknown_email_fails_and_names_the_problem,
    a_csrf_token_from_before_login_is_refused_after_login,
    a_csrf_token_from_before_registering_is_refused_after_registering,
    a_csrf_token_from_before_logout_is_refused_after_logout,
    the_session_cookie_changes_at_login,
    a_login_rehashes_a_password_stored_at_a_lower_cost,
    a_failed_login_leaves_a_hash_of_a_lower_cost_unchanged,
    registering_through_the_api_with_a_common_password_is_refused_at_the_password_field,
    registering_through_the_form_with_a_common_password_is_refused_at_the_password_field,
);

const LOGGED_OUT_EVERYWHERE: &str = "You have been logged out everywhere";
const LOG_OUT_EVERYWHERE_BUTTON: &str = "Log out everywhere";
const PASSWORD_TOO_COMMON: &str = "This password is too common. Choose another.";
const COMMON_PASSWORDS: [&str; 4] = ["password123", "iloveyou1", "qwertyuiop", "Football1"];
/// How long another instance, or the running server after the operator's
/// command, may take to refuse revoked tokens.
const PROPAGATION: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(50);

/// The CSRF token of the "Log out everywhere" form of the account page.
async fn log_out_everywhere_csrf(browser: &Browser) -> String {
    let response = browser.get_me().await;
    assert_eq!(response.status(), StatusCode::OK, "GET /me");
    let html = response.text().await.unwrap();
    let form = form_with_action(&html, "/logout-everywhere")
        .unwrap_or_else(|| panic!("no form posting to /logout-everywhere in:\n{html}"));
    csrf_from(&form)
}

/// Presses "Log out everywhere" on the account page.
async fn log_out_everywhere(browser: &Browser) -> Response {
    let csrf = log_out_everywhere_csrf(browser).await;
    browser
        .post_form("/logout-everywhere", &[("csrf_token", csrf.as_str())])
        .await
}

/// Polls `app` every 50 ms until it refuses `token` as bearer, for at most
/// one second, then checks it as cookie too.
async fn assert_token_rejected_within_a_second(app: &TestApp, token: &str) {
    let deadline = Instant::now() + PROPAGATION;
    loop {
        let status = app.api_me(token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token is still accepted {PROPAGATION:?} after the revocation (last status {status})"
        );
        tokio::time::sleep(POLL).await;
    }
    app.assert_rejected_as_cookie_and_bearer(token).await;
}

/// A second browser logged in through the form as `user`.
async fn another_browser_logged_in_as(app: &TestApp, user: &TestUser) -> CookieUser {
    let browser = app.new_browser().log_in_as(user).await;
    browser.me().await;
    browser
}

async fn the_account_page_offers_to_log_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;

    let html = app.get_me().await.text().await.unwrap();

    let form = form_with_action(&html, "/logout-everywhere")
        .unwrap_or_else(|| panic!("no form posting to /logout-everywhere in:\n{html}"));
    assert!(
        form.to_ascii_lowercase().contains("method=\"post\""),
        "not a POST form: {form}"
    );
    assert!(
        form.contains(LOG_OUT_EVERYWHERE_BUTTON),
        "no button: {form}"
    );
    csrf_from(&form);
    // The plain logout stays.
    assert!(form_with_action(&html, "/logout").is_some(), "{html}");
}

async fn logging_out_everywhere_redirects_to_login_and_clears_the_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_cookie_user().await;

    let response = log_out_everywhere(&user).await;

    assert_redirects_to(&response, "/login");
    assert_clears_auth_cookie(&auth_set_cookie(&response));
    assert!(user.auth_cookie().is_none());
    user.assert_logged_out().await;
}

async fn logging_out_everywhere_says_so_on_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;
    // The welcome flash is consumed first.
    app.get_me().await;

    assert_redirects_to(&log_out_everywhere(&app).await, "/login");

    let html = app.get_login(None).await.text().await.unwrap();
    assert!(
        html.contains(LOGGED_OUT_EVERYWHERE),
        "no {LOGGED_OUT_EVERYWHERE:?} in:\n{html}"
    );
}

async fn logging_out_everywhere_kills_every_token_of_the_user_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let own_cookie = app.auth_cookie().unwrap();
    let other_browser = another_browser_logged_in_as(&app, &user).await;
    let other_cookie = other_browser.token();
    let bearer_tokens = [
        app.login_via_api(&user.email, &user.password).await,
        app.login_via_api(&user.email, &user.password).await,
    ];
    for token in bearer_tokens.iter().chain([&own_cookie, &other_cookie]) {
        app.assert_accepted_as_cookie_and_bearer(token).await;
    }

    assert_redirects_to(&log_out_everywhere(&app).await, "/login");

    other_browser.assert_logged_out().await;
    for token in bearer_tokens.iter().chain([&own_cookie, &other_cookie]) {
        app.assert_rejected_as_cookie_and_bearer(token).await;
    }
}

async fn logging_out_everywhere_leaves_other_users_logged_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;
    let bystander = app.new_browser().register_cookie_user().await;
    let bystander_cookie = bystander.token();
    let bystander_token = app
        .login_via_api(&bystander.user.email, &bystander.user.password)
        .await;

    assert_redirects_to(&log_out_everywhere(&app).await, "/login");

    bystander.me().await;
    app.assert_accepted_as_cookie_and_bearer(&bystander_cookie)
        .await;
    app.assert_accepted_as_cookie_and_bearer(&bystander_token)
        .await;
}

async fn logging_in_again_after_logging_out_everywhere_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;

    assert_redirects_to(&log_out_everywhere(&app).await, "/login");

    // At once: no waiting for the clock to tick.
    let token = app.login_via_api(&user.email, &user.password).await;
    app.assert_accepted_as_cookie_and_bearer(&token).await;
    app.log_in_as(&user).await.me().await;
    let other_browser = another_browser_logged_in_as(&app, &user).await;
    other_browser.me().await;
}

async fn logging_out_everywhere_without_a_valid_csrf_token_is_forbidden_and_revokes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let cookie = app.auth_cookie().unwrap();
    let token = app.login_via_api(&user.email, &user.password).await;
    let other_browser = another_browser_logged_in_as(&app, &user).await;
    let foreign_csrf = app.new_browser().csrf_token_from("/login").await;

    let forms: [&[(&str, &str)]; 4] = [
        &[],
        &[("csrf_token", "")],
        &[("csrf_token", "not-the-token")],
        &[("csrf_token", foreign_csrf.as_str())],
    ];
    for form in forms {
        let response = app.post_form("/logout-everywhere", form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "form {form:?}");
    }

    assert_eq!(app.get_me().await.status(), StatusCode::OK);
    other_browser.me().await;
    app.assert_accepted_as_cookie_and_bearer(&cookie).await;
    app.assert_accepted_as_cookie_and_bearer(&token).await;
}

async fn logging_out_everywhere_is_honoured_by_another_instance_within_a_second(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = a.spawn_another().await;
    let user = a.register_and_login_via_form().await;
    let cookie = a.auth_cookie().unwrap();
    let from_b = b.login_via_api(&user.email, &user.password).await;
    let b_browser = another_browser_logged_in_as(&b, &user).await;
    b.assert_accepted_as_cookie_and_bearer(&cookie).await;
    b.assert_accepted_as_cookie_and_bearer(&from_b).await;

    assert_redirects_to(&log_out_everywhere(&a).await, "/login");

    assert_token_rejected_within_a_second(&b, &from_b).await;
    b.assert_rejected_as_cookie_and_bearer(&cookie).await;
    b_browser.assert_logged_out().await;
}

async fn tokens_carry_the_users_token_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let cookie_claims = jwt_claims(&app.auth_cookie().unwrap());
    let before = jwt_claims(&app.login_via_api(&user.email, &user.password).await);
    let version = before["ver"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer ver claim in {before}"));
    assert_eq!(
        cookie_claims["ver"].as_i64(),
        Some(version),
        "{cookie_claims}"
    );

    assert_redirects_to(&log_out_everywhere(&app).await, "/login");

    let after = jwt_claims(&app.login_via_api(&user.email, &user.password).await);
    let new_version = after["ver"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer ver claim in {after}"));
    assert_ne!(new_version, version, "the version did not change: {after}");
}

async fn revoke_sessions_kills_every_token_of_the_user_on_the_running_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let cookie = app.auth_cookie().unwrap();
    let token = app.login_via_api(&user.email, &user.password).await;
    let bystander = app.new_browser().register_cookie_user().await;
    let bystander_token = app
        .login_via_api(&bystander.user.email, &bystander.user.password)
        .await;

    let finished = run_gatehouse(
        &app.database,
        &["user", "revoke-sessions", &user.email],
        &[],
    );

    assert_eq!(finished.status.code(), Some(0), "{finished:#?}");
    assert_token_rejected_within_a_second(&app, &token).await;
    app.assert_rejected_as_cookie_and_bearer(&cookie).await;
    assert_redirects_to(&app.get_me().await, LOGIN_FOR_ME);
    bystander.me().await;
    app.assert_accepted_as_cookie_and_bearer(&bystander_token)
        .await;
    let fresh = app.login_via_api(&user.email, &user.password).await;
    app.assert_accepted_as_cookie_and_bearer(&fresh).await;
}

async fn revoke_sessions_matches_the_email_without_regard_to_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let token = app.login_via_api(&user.email, &user.password).await;
    let shouted = user.email.to_uppercase();

    let finished = run_gatehouse(&app.database, &["user", "revoke-sessions", &shouted], &[]);

    assert_eq!(finished.status.code(), Some(0), "{finished:#?}");
    assert_token_rejected_within_a_second(&app, &token).await;
}

async fn revoke_sessions_of_an_unknown_email_fails_and_names_the_problem(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;
    let nobody = TestUser::generate().email;

    let finished = run_gatehouse(&app.database, &["user", "revoke-sessions", &nobody], &[]);

    assert_eq!(finished.status.code(), Some(1), "{finished:#?}");
    assert!(
        finished.stderr.to_lowercase().contains(&nobody),
        "stderr does not name {nobody}: {finished:#?}"
    );
    app.assert_accepted_as_cookie_and_bearer(&token).await;
}

async fn a_csrf_token_from_before_login_is_refused_after_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let before = app.csrf_token_from("/login").await;

    let response = app
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("csrf_token", before.as_str()),
        ])
        .await;
    assert_redirects_to(&response, "/me");

    assert_eq!(
        app.post_logout(&[("csrf_token", before.as_str())])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "logout with the token from before login"
    );
    assert_eq!(app.get_me().await.status(), StatusCode::OK);
    let newcomer = TestUser::generate();
    assert_eq!(
        app.post_register(&newcomer.register_form(&before))
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "register with the token from before login"
    );
    assert_eq!(
        app.api_login(&serde_json::json!({
            "email": newcomer.email,
            "password": newcomer.password,
        }))
        .await
        .status(),
        StatusCode::UNAUTHORIZED,
        "the refused registration created the user"
    );
    // The token issued at login works.
    assert_redirects_to(&app.logout_via_form().await, "/login");
}

async fn a_csrf_token_from_before_registering_is_refused_after_registering(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let before = app.csrf_token_from("/register").await;

    assert_redirects_to(
        &app.post_register(&user.register_form(&before)).await,
        "/me",
    );

    assert_eq!(
        app.post_logout(&[("csrf_token", before.as_str())])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "logout with the token from before registering"
    );
    assert_eq!(app.get_me().await.status(), StatusCode::OK);
}

async fn a_csrf_token_from_before_logout_is_refused_after_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let me = app.get_me().await.text().await.unwrap();
    let before = csrf_from(&me);

    assert_redirects_to(
        &app.post_logout(&[("csrf_token", before.as_str())]).await,
        "/login",
    );

    let newcomer = TestUser::generate();
    assert_eq!(
        app.post_register(&newcomer.register_form(&before))
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "register with the token from before logout"
    );
    assert_eq!(
        app.post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("csrf_token", before.as_str()),
        ])
        .await
        .status(),
        StatusCode::FORBIDDEN,
        "login with the token from before logout"
    );
    assert_eq!(
        app.post_logout(&[("csrf_token", before.as_str())])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "logout with the token from before logout"
    );
    assert!(app.auth_cookie().is_none());
}

async fn the_session_cookie_changes_at_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let csrf = app.csrf_token_from("/login").await;
    let before = app
        .cookies()
        .remove(SESSION_COOKIE)
        .unwrap_or_else(|| panic!("no {SESSION_COOKIE} cookie after GET /login"));

    let response = app
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .await;
    assert_redirects_to(&response, "/me");

    let after = app
        .cookies()
        .remove(SESSION_COOKIE)
        .unwrap_or_else(|| panic!("no {SESSION_COOKIE} cookie after login"));
    assert_ne!(before, after);
}

/// The stored password hash of the user with this (normalized) email.
fn stored_hash(database_url: &str, email: &str) -> String {
    let pool = gatehouse::db::build_pool(&DatabaseUrl::parse(database_url).unwrap(), 1);
    let mut conn = pool.get().unwrap();
    users::table
        .filter(users::email.eq(email))
        .select(users::hashed_password)
        .first(&mut *conn)
        .unwrap()
}

/// A user registered at bcrypt cost 4, and a second server on the same
/// database at cost 5.
async fn user_hashed_at_cost_4_and_a_server_at_cost_5(
    backend: Backend,
) -> (TestApp, TestUser, String, TestApp) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let hash = stored_hash(&app.database.url, &user.email);
    assert!(hash.starts_with("$2b$04$"), "stored at cost 4: {hash}");
    let server = app
        .builder_on_this_database()
        .env("GATEHOUSE_BCRYPT_COST", "5")
        .spawn()
        .await;
    (app, user, hash, server)
}

async fn a_login_rehashes_a_password_stored_at_a_lower_cost(backend: Backend) {
    let (app, user, old_hash, cost_5) = user_hashed_at_cost_4_and_a_server_at_cost_5(backend).await;

    let token = cost_5
        .browser
        .login_via_api(&user.email, &user.password)
        .await;
    assert_eq!(cost_5.browser.api_me(&token).await.status(), StatusCode::OK);

    // The rehash may be written just after the answer: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    let new_hash = loop {
        let hash = stored_hash(&app.database.url, &user.email);
        if hash.starts_with("$2b$05$") || Instant::now() > deadline {
            break hash;
        }
        tokio::time::sleep(POLL).await;
    };
    assert!(
        new_hash.starts_with("$2b$05$"),
        "not rehashed at cost 5: {new_hash} (was {old_hash})"
    );
    assert!(bcrypt::verify(&user.password, &new_hash).unwrap());
    cost_5
        .browser
        .login_via_api(&user.email, &user.password)
        .await;
    app.login_via_api(&user.email, &user.password).await;
    assert_redirects_to(
        &cost_5
            .browser
            .login_via_form(&user.email, &user.password)
            .await,
        "/me",
    );
}

async fn a_failed_login_leaves_a_hash_of_a_lower_cost_unchanged(backend: Backend) {
    let (app, user, old_hash, cost_5) = user_hashed_at_cost_4_and_a_server_at_cost_5(backend).await;

    let response = cost_5
        .browser
        .api_login(&serde_json::json!({ "email": user.email, "password": "not-the-password" }))
        .await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "body: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(stored_hash(&app.database.url, &user.email), old_hash);
    app.login_via_api(&user.email, &user.password).await;
}

async fn registering_through_the_api_with_a_common_password_is_refused_at_the_password_field(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    for password in COMMON_PASSWORDS {
        let mut user = TestUser::generate();
        user.password = password.to_owned();

        let errors = validation_errors(app.api_register(&user.api_registration()).await).await;

        assert_field_error(&errors, "password", PASSWORD_TOO_COMMON);
        assert_eq!(errors.len(), 1, "{password:?}: {errors:?}");
        assert_eq!(
            app.api_login(&serde_json::json!({ "email": user.email, "password": password }))
                .await
                .status(),
            StatusCode::UNAUTHORIZED,
            "{password:?} was registered"
        );
    }
}

async fn registering_through_the_form_with_a_common_password_is_refused_at_the_password_field(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let csrf = app.csrf_token_from("/register").await;
    for password in COMMON_PASSWORDS {
        let mut user = TestUser::generate();
        user.password = password.to_owned();

        let response = app.post_register(&user.register_form(&csrf)).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password:?}"
        );
        let html = response.text().await.unwrap();
        let message = html
            .find(PASSWORD_TOO_COMMON)
            .unwrap_or_else(|| panic!("no {PASSWORD_TOO_COMMON:?} for {password:?} in:\n{html}"));
        // At the password field: after its input, before the confirmation's.
        let password_field = html.find("name=\"password\"").expect("no password field");
        let confirm_field = html
            .find("name=\"password_confirm\"")
            .expect("no password_confirm field");
        assert!(
            password_field < message && message < confirm_field,
            "the message is not at the password field:\n{html}"
        );
        assert_password_inputs_are_empty(&html);
        assert!(app.auth_cookie().is_none());
    }
}

//! The activity log: the events each flow records (with the client's
//! address and device), the account's page, `gatehouse audit`, what a
//! deletion leaves, retention, and the log line of a failed login for an
//! unknown email.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, CONFIRM_MAIL, NEW_ADDRESS_MAIL, RESET_MAIL, TestApp, TestUser,
    assert_no_store, assert_redirects_to, audit, csrf_from, event_names, events_named,
    fresh_address, fresh_password, json_body, links_to, run_gatehouse, run_sql, spawn_with_mail,
};

backend_tests!(
    each_flow_records_its_event_with_the_address_and_the_device,
    the_activity_page_lists_the_newest_events_in_words,
    the_activity_page_needs_a_login_and_is_not_stored,
    audit_filters_by_user_and_time_and_refuses_an_unknown_email,
    a_burst_of_throttled_logins_is_one_event,
    a_deleted_account_keeps_one_event_without_address_or_device,
    events_past_the_retention_are_purged,
    a_failed_login_for_an_unknown_email_is_logged_but_not_stored,
    sessions_ended_by_their_owner_or_the_operator_are_recorded_once_each,
    a_spent_refresh_token_presented_again_records_the_ended_session,
    a_new_confirmation_link_on_request_is_recorded,
    audit_reads_a_long_log_in_order_and_whole,
);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// `DELETE /api/sessions/{id}` with a bearer token.
async fn end_api_session(client: &Browser, token: &str, id: &str) -> StatusCode {
    client
        .client
        .delete(client.url(&format!("/api/sessions/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE /api/sessions/{id}")
        .status()
}

/// The session list of a bearer token.
async fn api_sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/sessions");
    json_body(response, StatusCode::OK)
        .await
        .as_array()
        .expect("a list")
        .clone()
}

async fn each_flow_records_its_event_with_the_address_and_the_device(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let mailbox = mail.mailbox();
    let browser = Browser::with_user_agent(&app.address, FIREFOX);
    let api = Browser::with_user_agent(&app.address, CHROME);
    let mut user = TestUser::generate();

    // Registering through the form logs the browser in.
    assert_redirects_to(&browser.register_via_form(&user).await, "/me");
    let mut expected = vec![
        "account.created",
        "email.confirmation_sent",
        "login.succeeded",
    ];
    assert_eq!(event_names(&app, &user.email), expected);

    // A wrong password, then two API logins; one of them is ended from the
    // other, which then logs out.
    let wrong = api
        .api_login(&json!({ "email": user.email, "password": "not-the-password" }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let first = api.login_via_api(&user.email, &user.password).await;
    let second = api.login_via_api(&user.email, &user.password).await;
    let sessions = api_sessions(&app, &first).await;
    let other = sessions
        .iter()
        .find(|s| s["current"] == false && s["device"] == "Chrome on Windows 10")
        .expect("the second API session");
    let other = other["id"].as_str().expect("id");
    assert_eq!(
        end_api_session(&api, &first, other).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.api_me(&second).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.api_logout(&first).await.status(),
        StatusCode::NO_CONTENT
    );
    expected.extend([
        "login.failed",
        "login.succeeded",
        "login.succeeded",
        "session.ended",
        "logout",
    ]);
    assert_eq!(event_names(&app, &user.email), expected);

    // The confirmation link, opened and used in the browser.
    let letter = mailbox.wait_for(&user.email, CONFIRM_MAIL).await;
    assert_redirects_to(&browser.press_button(&letter.link_path()).await, "/me");
    expected.push("email.confirmed");

    // A password change through the API.
    let token = api.login_via_api(&user.email, &user.password).await;
    let new_password = fresh_password();
    let changed = api
        .api_change_password(
            Some(&token),
            &json!({ "current_password": user.password, "new_password": new_password }),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    user.password = new_password;
    expected.extend(["login.succeeded", "password.changed"]);

    // A forgotten password: the request is recorded when its mail is made,
    // with the address and device that asked.
    api.forgot_via_api(&user.email).await;
    let letter = mailbox.wait_for(&user.email, RESET_MAIL).await;
    let reset_password = fresh_password();
    assert_eq!(
        api.api_reset(&letter.token(), &reset_password)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    user.password = reset_password;
    expected.extend(["password.reset_requested", "password.reset"]);

    // A new address, confirmed from its link.
    browser.log_in_as(&user).await;
    let new_email = fresh_address();
    assert_redirects_to(
        &browser
            .change_email_via_form(&new_email, &user.password)
            .await,
        "/me",
    );
    let letter = mailbox.wait_for(&new_email, NEW_ADDRESS_MAIL).await;
    assert_redirects_to(&browser.press_button(&letter.link_path()).await, "/me");
    expected.extend([
        "login.succeeded",
        "email.confirmation_sent",
        "email.changed",
    ]);
    user.email = new_email;

    let events = audit(&app, &["--user", &user.email]);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected);
    let id = events[0]["user_id"].as_i64().expect("user_id");
    for event in &events {
        assert_eq!(event["user_id"], id, "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert!(event["at"].as_str().unwrap().ends_with('Z'), "{event}");
        let device = event["device"].as_str().unwrap();
        assert!(
            device == "Firefox on Linux" || device == "Chrome on Windows 10",
            "{event}"
        );
    }
    // Each request's own device: the form's and the API's.
    assert_eq!(events[0]["device"], "Firefox on Linux");
    assert_eq!(events[3]["device"], "Chrome on Windows 10");
    let requested = &events[names
        .iter()
        .position(|n| *n == "password.reset_requested")
        .unwrap()];
    assert_eq!(requested["device"], "Chrome on Windows 10");
}

async fn the_activity_page_lists_the_newest_events_in_words(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = Browser::with_user_agent(&app.address, FIREFOX);
    let owner = browser.register_cookie_user().await;
    let wrong = app
        .api_login(&json!({ "email": owner.user.email, "password": "not-the-password" }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let me = owner.me().await;
    assert!(links_to(&me, "/me/activity"), "{me}");
    let page = browser.get("/me/activity").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("body");
    let document = scraper::Html::parse_document(&html);
    let rows = scraper::Selector::parse("[data-event]").unwrap();
    let listed: Vec<(String, String)> = document
        .select(&rows)
        .map(|row| {
            (
                row.value().attr("data-event").unwrap().to_owned(),
                row.text().collect::<String>(),
            )
        })
        .collect();
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "login.failed",
            "login.succeeded",
            "email.confirmation_sent",
            "account.created"
        ],
        "newest first"
    );
    let words = |name: &str| &listed.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(words("login.failed").contains("Failed login"), "{html}");
    assert!(words("login.succeeded").contains("Logged in"), "{html}");
    assert!(words("login.succeeded").contains("127.0.0.1"), "{html}");
    assert!(
        words("login.succeeded").contains("Firefox on Linux"),
        "{html}"
    );
    assert!(
        words("account.created").contains("Account created"),
        "{html}"
    );
    assert!(html.contains("kept for 90 days"), "{html}");

    // Fifty at most, the newest.
    for _ in 0..55 {
        app.api_login(&json!({ "email": owner.user.email, "password": "not-the-password" }))
            .await;
    }
    let html = browser.page_text("/me/activity").await;
    let document = scraper::Html::parse_document(&html);
    let listed: Vec<&str> = document
        .select(&rows)
        .map(|row| row.value().attr("data-event").unwrap())
        .collect();
    assert_eq!(listed.len(), 50);
    assert!(listed.iter().all(|n| *n == "login.failed"), "{listed:?}");
}

async fn the_activity_page_needs_a_login_and_is_not_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = app.new_browser();
    assert_redirects_to(
        &anonymous.get("/me/activity").await,
        "/login?next=%2Fme%2Factivity",
    );
    let owner = app.new_browser().register_cookie_user().await;
    let page = owner.browser.get("/me/activity").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_no_store(&page, "GET /me/activity");
}

async fn audit_filters_by_user_and_time_and_refuses_an_unknown_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register_user().await;
    let bob = app.register_user().await;
    app.login_via_api(&bob.email, &bob.password).await;

    let everyone = audit(&app, &[]);
    assert_eq!(everyone.len(), 5, "{everyone:?}");
    for event in &everyone {
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["at", "device", "event", "ip", "user_id"], "{event}");
    }
    assert_eq!(
        event_names(&app, &alice.email.to_uppercase()),
        ["account.created", "email.confirmation_sent"]
    );
    assert_eq!(
        event_names(&app, &bob.email),
        [
            "account.created",
            "email.confirmation_sent",
            "login.succeeded"
        ]
    );
    assert_eq!(audit(&app, &["--since", "1h"]).len(), 5);
    // Two hours old: outside the last hour, inside the last three.
    age_events(&app, 2 * 3600);
    assert!(audit(&app, &["--since", "1h"]).is_empty());
    assert_eq!(audit(&app, &["--since", "3h"]).len(), 5);
    assert_eq!(
        audit(&app, &["--since", "3h", "--user", &alice.email]).len(),
        2
    );

    // The table: a header and one line per event, the names in it.
    let table = run_gatehouse(
        &app.database,
        &["audit", "--user", &bob.email, "--since", "3h"],
        &[],
    );
    assert!(table.status.success(), "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", table.stdout);
    assert!(lines[0].starts_with("AT"), "{}", table.stdout);
    assert!(lines[3].contains("login.succeeded"), "{}", table.stdout);
    assert!(lines[3].contains("127.0.0.1"), "{}", table.stdout);

    let unknown = run_gatehouse(
        &app.database,
        &["audit", "--user", "nobody@example.com"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(unknown.stderr.trim().lines().count(), 1, "{unknown:?}");
    assert!(unknown.stdout.is_empty(), "{unknown:?}");

    let bad = run_gatehouse(&app.database, &["audit", "--since", "soon"], &[]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(bad.stderr.contains("--since"), "{bad:?}");
}

async fn a_burst_of_throttled_logins_is_one_event(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "3/15m")
        .spawn()
        .await;
    let user = app.register_user().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let answer = app
            .api_login(&json!({ "email": user.email, "password": "not-the-password" }))
            .await;
        statuses.push(answer.status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 5]);
    let names = event_names(&app, &user.email);
    assert_eq!(names.iter().filter(|n| *n == "login.failed").count(), 3);
    assert_eq!(
        names.iter().filter(|n| *n == "login.throttled").count(),
        1,
        "{names:?}"
    );
    let throttled = events_named(&app, &user.email, "login.throttled");
    assert_eq!(throttled[0]["ip"], "127.0.0.1");
}

async fn a_deleted_account_keeps_one_event_without_address_or_device(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, id, token) = app.user_with_token().await;
    let other = app.register_user().await;
    let deleted = app
        .client
        .delete(app.url("/api/me"))
        .bearer_auth(&token)
        .json(&json!({ "current_password": user.password }))
        .send()
        .await
        .expect("DELETE /api/me");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let left: Vec<Value> = audit(&app, &[])
        .into_iter()
        .filter(|e| e["user_id"] == id)
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["event"], "account.deleted");
    assert_eq!(left[0]["ip"], "");
    assert_eq!(left[0]["device"], "");
    // Nothing else of the account, nothing of the others lost.
    let everything = run_gatehouse(&app.database, &["audit", "--json"], &[]).stdout;
    assert!(!everything.contains(&user.email), "{everything}");
    assert_eq!(event_names(&app, &other.email).len(), 2);

    // The command line's deletion does the same.
    let (cli_user, cli_id, _) = app.user_with_token().await;
    let removed = run_gatehouse(&app.database, &["user", "delete", &cli_user.email], &[]);
    assert!(removed.status.success(), "{removed:?}");
    let left: Vec<Value> = audit(&app, &[])
        .into_iter()
        .filter(|e| e["user_id"] == cli_id)
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["event"], "account.deleted");
}

async fn events_past_the_retention_are_purged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    assert_eq!(event_names(&app, &user.email).len(), 2);
    // Kept for an hour: today's events stay through a purge.
    let purge = run_gatehouse(
        &app.database,
        &["purge-denylist"],
        &[("GATEHOUSE_ACTIVITY_RETENTION", "1h")],
    );
    assert!(purge.status.success(), "{purge:?}");
    assert_eq!(event_names(&app, &user.email).len(), 2);
    // Two hours old: past the retention.
    age_events(&app, 2 * 3600);
    let purge = run_gatehouse(
        &app.database,
        &["purge-denylist"],
        &[("GATEHOUSE_ACTIVITY_RETENTION", "1h")],
    );
    assert!(purge.status.success(), "{purge:?}");
    assert!(event_names(&app, &user.email).is_empty());

    let bad = run_gatehouse(
        &app.database,
        &["purge-denylist"],
        &[("GATEHOUSE_ACTIVITY_RETENTION", "forever")],
    );
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        bad.stderr.contains("GATEHOUSE_ACTIVITY_RETENTION"),
        "{bad:?}"
    );
}

/// Moves every event `secs` into the past, straight in the database.
fn age_events(app: &TestApp, secs: i64) {
    run_sql(
        &app.database.url,
        &format!("UPDATE events SET at = at - {secs}"),
    );
}

async fn a_failed_login_for_an_unknown_email_is_logged_but_not_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    let answer = app
        .api_login(&json!({ "email": "nobody@example.com", "password": "whatever-it-is" }))
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let line = app.wait_for_log_line("failed login").await;
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("127.0.0.1"), "{line}");
    let logs = app.logs();
    assert!(!logs.contains("nobody@example.com"), "{logs}");
    assert!(!logs.contains("whatever-it-is"), "{logs}");
    // Only the registered account has events.
    let everyone = audit(&app, &[]);
    assert!(
        everyone.iter().all(|e| e["event"] != "login.failed"),
        "{everyone:?}"
    );
    assert_eq!(event_names(&app, &user.email).len(), 2);
}

/// How many of the user's events are named `name`.
fn count(app: &TestApp, email: &str, name: &str) -> usize {
    events_named(app, email, name).len()
}

async fn sessions_ended_by_their_owner_or_the_operator_are_recorded_once_each(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.new_browser().register_cookie_user().await;
    let email = owner.user.email.clone();
    let api_token = app.login_via_api(&email, &owner.user.password).await;
    assert_eq!(count(&app, &email, "session.ended"), 0);

    // One session ended from the page.
    let listed = api_sessions(&app, &api_token).await;
    let page_session = listed
        .iter()
        .find(|s| s["current"] == false)
        .expect("the page's session")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.new_browser().log_in_as(&owner.user).await;
    let csrf = csrf_from(&second.browser.page_text("/me/sessions").await);
    let ended = second
        .browser
        .post_form(
            &format!("/me/sessions/{page_session}/end"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_redirects_to(&ended, "/me/sessions");
    assert_eq!(count(&app, &email, "session.ended"), 1);

    // "End all other sessions": the API session goes; with none left, a
    // second press ends nothing and records nothing.
    let csrf = csrf_from(&second.browser.page_text("/me/sessions").await);
    for _ in 0..2 {
        let ended = second
            .browser
            .post_form("/me/sessions/end-others", &[("csrf_token", csrf.as_str())])
            .await;
        assert_redirects_to(&ended, "/me/sessions");
    }
    assert_eq!(
        app.api_me(&api_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(count(&app, &email, "session.ended"), 2);

    // A page logout with both cookies is one logout.
    assert_redirects_to(&second.browser.logout_via_form().await, "/login");
    assert_eq!(count(&app, &email, "logout"), 1);

    // The operator: one session, then all of them; none left, nothing more.
    let token = app.login_via_api(&email, &owner.user.password).await;
    let id = api_sessions(&app, &token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = run_gatehouse(&app.database, &["user", "end-session", &email, &id], &[]);
    assert!(ended.status.success(), "{ended:?}");
    app.login_via_api(&email, &owner.user.password).await;
    let revoked = run_gatehouse(&app.database, &["user", "revoke-sessions", &email], &[]);
    assert!(revoked.status.success(), "{revoked:?}");
    let again = run_gatehouse(&app.database, &["user", "revoke-sessions", &email], &[]);
    assert!(again.status.success(), "{again:?}");
    let ended = events_named(&app, &email, "session.ended");
    assert_eq!(ended.len(), 4, "{ended:?}");
    assert_eq!(ended[2]["device"], "Command line");
    assert_eq!(ended[3]["device"], "Command line");
}

async fn a_spent_refresh_token_presented_again_records_the_ended_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    let (_, refresh) = app.api_session(&user.email, &user.password).await;
    assert_eq!(app.api_refresh(&refresh).await.status(), StatusCode::OK);
    assert_eq!(count(&app, &user.email, "session.ended"), 0);
    // The spent one again: taken as stolen, the session ends.
    assert_eq!(
        app.api_refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(count(&app, &user.email, "session.ended"), 1);
}

async fn a_new_confirmation_link_on_request_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_token_user().await;
    assert_eq!(count(&app, &owner.user.email, "email.confirmation_sent"), 1);
    let resent = app
        .client
        .post(app.url("/api/me/verify-email"))
        .bearer_auth(&owner.token)
        .send()
        .await
        .expect("POST /api/me/verify-email");
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    assert_eq!(count(&app, &owner.user.email, "email.confirmation_sent"), 2);
}

async fn audit_reads_a_long_log_in_order_and_whole(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    // 2,500 older events of the user (id 1, the first account), seven to a
    // second, straight in the database: more than one batch of the
    // command's reads.
    let insert = if app.database.is_postgres() {
        "INSERT INTO events (user_id, at, event, ip, device) \
         SELECT 1, CAST(extract(epoch FROM now()) AS BIGINT) - 3000 + n / 7, 'login.failed', \
         '192.0.2.' || (n % 200), 'Device ' || n FROM generate_series(1, 2500) AS n"
    } else {
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 2500) \
         INSERT INTO events (user_id, at, event, ip, device) \
         SELECT 1, CAST(strftime('%s', 'now') AS INTEGER) - 3000 + n / 7, 'login.failed', \
         '192.0.2.' || (n % 200), 'Device ' || n FROM seq"
    };
    run_sql(&app.database.url, insert);
    let events = audit(&app, &["--user", &user.email]);
    assert_eq!(events.len(), 2502);
    let devices: Vec<String> = events[..2500]
        .iter()
        .map(|e| e["device"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=2500).map(|n| format!("Device {n}")).collect();
    assert_eq!(devices, expected, "oldest first, none twice, none left out");
    assert_eq!(events[2500]["event"], "account.created");
    let table = run_gatehouse(&app.database, &["audit"], &[]);
    assert!(table.status.success(), "{table:?}");
    assert_eq!(table.stdout.lines().count(), 2503, "one header");
}

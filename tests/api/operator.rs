//! The operator's `gatehouse user` commands on accounts: create, list,
//! show, set-password, disable, enable, delete and confirm-email, their
//! output and exit codes, and their effect on a running server.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ACCOUNT_DISABLED, Backend, CONFIRM_MAIL, EMAIL_INVALID, EMAIL_TAKEN, Finished,
    INVALID_CREDENTIALS, PASSWORD_CHANGED_MAIL, PASSWORD_TOO_LONG, PASSWORD_TOO_SHORT, RESET_MAIL,
    TestApp, TestUser, USERNAME_LENGTH, USERNAME_TAKEN, assert_api_login, assert_has_field,
    event_names, events_named, fresh_password, input_value, json_body, run_gatehouse,
    run_gatehouse_on_terminal, run_gatehouse_with_input, spawn_with_mail,
};

backend_tests!(
    deleting_a_user_ends_its_tokens_and_frees_its_name_and_address,
    confirming_an_address_shows_in_the_account_at_once,
    creating_a_user_takes_the_password_from_standard_input_and_the_account_logs_in,
    creating_a_user_checks_the_registration_rules_before_asking_for_a_password,
    without_a_terminal_the_password_must_come_with_password_stdin,
    at_a_terminal_the_password_is_asked_twice_without_echo,
    users_are_listed_and_shown_as_a_table_and_as_json_lines,
    setting_a_password_ends_every_session_and_only_the_new_password_logs_in,
    a_disabled_user_is_logged_out_and_its_right_password_gets_403_until_enabled,
);

/// The keys of a user as `list --json` and `show --json` print it.
const USER_KEYS: [&str; 7] = [
    "created_at",
    "disabled",
    "email",
    "email_verified",
    "id",
    "two_factor",
    "username",
];

/// Waits up to a second for `check` to hold (the server learns of another
/// process's change when its token cache entry ends).
async fn within_a_second(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} not within a second");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deleting_a_user_ends_its_tokens_and_frees_its_name_and_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;
    let other = app.register_token_user().await;
    user.me().await;

    let deleted = run_gatehouse(
        &app.database,
        &["user", "delete", &user.user.email.to_uppercase()],
        &[],
    );
    assert!(deleted.status.success(), "{deleted:?}");
    within_a_second("the deleted user's token refused", async || {
        app.api_me(&user.token).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    let login = app.api_login(&user.user.api_login()).await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    other.me().await;
    // The same username and address register again.
    app.register_via_api(&user.user).await;

    let unknown = run_gatehouse(
        &app.database,
        &["user", "delete", "nobody@example.com"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(unknown.stderr.trim().lines().count(), 1, "{unknown:?}");
}

async fn confirming_an_address_shows_in_the_account_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;
    assert_eq!(app.api_me_json(&user.token).await["email_verified"], false);

    let confirmed = run_gatehouse(
        &app.database,
        &["user", "confirm-email", &user.user.email],
        &[],
    );
    assert!(confirmed.status.success(), "{confirmed:?}");
    within_a_second("the address confirmed", async || {
        app.api_me_json(&user.token).await["email_verified"] == true
    })
    .await;

    let unknown = run_gatehouse(
        &app.database,
        &["user", "confirm-email", "nobody@example.com"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(unknown.stderr.trim().lines().count(), 1, "{unknown:?}");
}

/// `gatehouse ARGS` with `password` and a newline on standard input.
fn with_password(app: &TestApp, args: &[&str], password: &str) -> Finished {
    run_gatehouse_with_input(&app.database, args, &[], Some(&format!("{password}\n")))
}

/// Asserts exit status 1 and one line on stderr that contains `needle`.
fn assert_refused(finished: &Finished, needle: &str) {
    assert_eq!(finished.status.code(), Some(1), "{finished:?}");
    let lines: Vec<&str> = finished.stderr.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "{finished:?}");
    assert!(lines[0].contains(needle), "{needle:?} not in {finished:?}");
}

/// Asserts that `password` shows in neither output.
fn assert_not_shown(finished: &Finished, password: &str) {
    assert!(
        !finished.stdout.contains(password) && !finished.stderr.contains(password),
        "the password shows in the output: {finished:?}"
    );
}

/// Each line of `stdout` as a JSON user with exactly the keys of
/// [`USER_KEYS`].
fn json_users(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            let user: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
            let mut keys: Vec<&str> = user
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, USER_KEYS, "{line}");
            user
        })
        .collect()
}

/// The test's clock as RFC 3339 UTC to the second, as the commands print
/// times.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("a second");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("a time")
}

async fn creating_a_user_takes_the_password_from_standard_input_and_the_account_logs_in(
    backend: Backend,
) {
    let (mail, app) = spawn_with_mail(backend).await;
    let user = TestUser::generate();
    let created = with_password(
        &app,
        &[
            "user",
            "create",
            &user.email.to_uppercase(),
            &user.username,
            "--password-stdin",
        ],
        &user.password,
    );
    assert!(created.status.success(), "{created:?}");
    assert!(created.stdout.contains(&user.username), "{created:?}");
    assert_not_shown(&created, &user.password);
    // The newline is not part of the password; the address is stored
    // lower-cased, not confirmed, and the running server mails the link.
    let token = app.login_via_api(&user.email, &user.password).await;
    let me = app.api_me_json(&token).await;
    assert_eq!(me["username"], user.username.as_str());
    assert_eq!(me["email"], user.email.as_str());
    assert_eq!(me["email_verified"], false);
    mail.mailbox().wait_for(&user.email, CONFIRM_MAIL).await;

    // `--confirmed`, and a password ending in a Windows line end.
    let confirmed = TestUser::generate();
    let created = run_gatehouse_with_input(
        &app.database,
        &[
            "user",
            "create",
            &confirmed.email,
            &confirmed.username,
            "--password-stdin",
            "--confirmed",
        ],
        &[],
        Some(&format!("{}\r\n", confirmed.password)),
    );
    assert!(created.status.success(), "{created:?}");
    assert_not_shown(&created, &confirmed.password);
    let token = app
        .login_via_api(&confirmed.email, &confirmed.password)
        .await;
    assert_eq!(app.api_me_json(&token).await["email_verified"], true);
    // Mail queued after its creation arrives; none for the confirmed one.
    let later = TestUser::generate();
    let created = with_password(
        &app,
        &[
            "user",
            "create",
            &later.email,
            &later.username,
            "--password-stdin",
        ],
        &later.password,
    );
    assert!(created.status.success(), "{created:?}");
    mail.mailbox().wait_for(&later.email, CONFIRM_MAIL).await;
    assert!(mail.mailbox().to(&confirmed.email, "").is_empty());

    // Recorded as the command line's doing, without an address.
    let created = events_named(&app, &user.email, "account.created");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["device"], "Command line");
    assert_eq!(created[0]["ip"], "");
    assert_eq!(
        event_names(&app, &confirmed.email)[..2],
        ["account.created", "email.confirmed"]
    );
}

async fn creating_a_user_checks_the_registration_rules_before_asking_for_a_password(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let existing = app.register_user().await;
    let user = TestUser::generate();
    let create = |email: &str, username: &str, password: Option<&str>| {
        let mut args = vec!["user", "create", email, username];
        match password {
            Some(password) => {
                args.push("--password-stdin");
                with_password(&app, &args, password)
            }
            // No password on offer: a refusal must come before one is asked for.
            None => run_gatehouse(&app.database, &args, &[]),
        }
    };

    let taken_email = create(&existing.email.to_uppercase(), &user.username, None);
    assert_refused(&taken_email, EMAIL_TAKEN);
    let taken_name = create(&user.email, &existing.username.to_uppercase(), None);
    assert_refused(&taken_name, USERNAME_TAKEN);
    // Every broken rule, on one line.
    let invalid = create("not-an-address", "ab", None);
    assert_refused(&invalid, USERNAME_LENGTH);
    assert!(invalid.stderr.contains(EMAIL_INVALID), "{invalid:?}");

    let short = create(&user.email, &user.username, Some("short7!"));
    assert_refused(&short, PASSWORD_TOO_SHORT);
    assert_not_shown(&short, "short7!");
    let long = "x".repeat(73);
    assert_refused(
        &create(&user.email, &user.username, Some(&long)),
        PASSWORD_TOO_LONG,
    );
    let empty = run_gatehouse_with_input(
        &app.database,
        &[
            "user",
            "create",
            &user.email,
            &user.username,
            "--password-stdin",
        ],
        &[],
        Some(""),
    );
    assert_refused(&empty, "no password");
    // Nothing was created: the same values make the account now.
    let created = create(&user.email, &user.username, Some(&user.password));
    assert!(created.status.success(), "{created:?}");
    assert_api_login(&app, &user.email, &user.password, StatusCode::OK).await;

    // Usage errors: exit 2. A password is never an argument.
    for args in [
        vec!["user", "create", "someone@example.com"],
        vec![
            "user",
            "create",
            "someone@example.com",
            "someone",
            "hunter2hunter2",
        ],
        vec![
            "user",
            "create",
            "someone@example.com",
            "someone",
            "--password",
            "x",
        ],
    ] {
        let usage = run_gatehouse(&app.database, &args, &[]);
        assert_eq!(usage.status.code(), Some(2), "{args:?}: {usage:?}");
    }
}

async fn without_a_terminal_the_password_must_come_with_password_stdin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register_token_user().await;
    let user = TestUser::generate();
    // Standard input is not a terminal here: no prompt, a clear refusal.
    let create = run_gatehouse(
        &app.database,
        &["user", "create", &user.email, &user.username],
        &[],
    );
    assert_refused(&create, "--password-stdin");
    let shown = run_gatehouse(&app.database, &["user", "show", &user.email], &[]);
    assert_eq!(shown.status.code(), Some(1), "{shown:?}");

    let set = run_gatehouse(
        &app.database,
        &["user", "set-password", &owner.user.email],
        &[],
    );
    assert_refused(&set, "--password-stdin");
    owner.me().await;
    assert_api_login(
        &app,
        &owner.user.email,
        &owner.user.password,
        StatusCode::OK,
    )
    .await;
}

async fn at_a_terminal_the_password_is_asked_twice_without_echo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    let create = [
        "user",
        "create",
        user.email.as_str(),
        user.username.as_str(),
    ];
    // Two different answers: refused, nothing created.
    let other = fresh_password();
    let Some(differ) = run_gatehouse_on_terminal(&app.database, &create, &[&user.password, &other])
    else {
        return;
    };
    assert_eq!(differ.stuck_at_line, None, "{differ:?}");
    assert_eq!(differ.status, 1, "{differ:?}");
    assert!(
        differ.shown.contains("the two passwords differ"),
        "{differ:?}"
    );
    assert!(!differ.shown.contains(&user.password), "{differ:?}");
    let shown = run_gatehouse(&app.database, &["user", "show", &user.email], &[]);
    assert_eq!(shown.status.code(), Some(1), "{shown:?}");

    // The same twice: both prompts shown with echo off (the driver types
    // only then), the password never on the screen, and it logs in.
    let created =
        run_gatehouse_on_terminal(&app.database, &create, &[&user.password, &user.password])
            .expect("the terminal ran before");
    assert_eq!(created.stuck_at_line, None, "{created:?}");
    assert_eq!(created.status, 0, "{created:?}");
    assert!(created.shown.contains("New password: "), "{created:?}");
    assert!(created.shown.contains("Once more: "), "{created:?}");
    assert!(created.shown.contains(&user.username), "{created:?}");
    assert!(!created.shown.contains(&user.password), "{created:?}");
    app.login_via_api(&user.email, &user.password).await;

    // set-password asks the same way, and the new password replaces the old.
    let owner = app.register_token_user().await;
    let new = fresh_password();
    let set = run_gatehouse_on_terminal(
        &app.database,
        &["user", "set-password", &owner.user.email],
        &[&new, &new],
    )
    .expect("the terminal ran before");
    assert_eq!((set.status, set.stuck_at_line), (0, None), "{set:?}");
    assert!(!set.shown.contains(&new), "{set:?}");
    assert_api_login(
        &app,
        &owner.user.email,
        &owner.user.password,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    app.login_via_api(&owner.user.email, &new).await;
}

async fn users_are_listed_and_shown_as_a_table_and_as_json_lines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = now_rfc3339();
    let first = app.register_token_user().await;
    let second = app.register_user().await;
    let after = now_rfc3339();
    for args in [
        ["user", "confirm-email", second.email.as_str()],
        ["user", "disable", second.email.as_str()],
    ] {
        let done = run_gatehouse(&app.database, &args, &[]);
        assert!(done.status.success(), "{done:?}");
    }

    let listed = run_gatehouse(&app.database, &["user", "list", "--json"], &[]);
    assert!(listed.status.success(), "{listed:?}");
    let users = json_users(&listed.stdout);
    assert_eq!(users.len(), 2, "{listed:?}");
    let created_at = users[0]["created_at"]
        .as_str()
        .expect("a string")
        .to_owned();
    assert!(
        before <= created_at && created_at <= after && created_at.ends_with('Z'),
        "{created_at} is not between {before} and {after}"
    );
    assert_eq!(
        users[0],
        json!({
            "id": first.id,
            "username": first.user.username,
            "email": first.user.email,
            "email_verified": false,
            "disabled": false,
            "two_factor": false,
            "created_at": created_at,
        })
    );
    assert_eq!(users[1]["username"], second.username.as_str());
    assert_eq!(users[1]["email_verified"], true);
    assert_eq!(users[1]["disabled"], true);
    assert_eq!(users[1]["two_factor"], false);

    // The table: a header, then a row per user with the same values.
    let table = run_gatehouse(&app.database, &["user", "list"], &[]);
    assert!(table.status.success(), "{table:?}");
    let rows: Vec<Vec<&str>> = table
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "ID",
            "USERNAME",
            "EMAIL",
            "CONFIRMED",
            "DISABLED",
            "TWO-FACTOR",
            "CREATED"
        ],
        "{table:?}"
    );
    assert_eq!(rows.len(), 3, "{table:?}");
    let second_id = users[1]["id"].to_string();
    let second_created = users[1]["created_at"].as_str().expect("a string");
    assert_eq!(
        rows[2],
        [
            second_id.as_str(),
            second.username.as_str(),
            second.email.as_str(),
            "yes",
            "yes",
            "off",
            second_created
        ]
    );

    // `show`: the same object, found by the address in any case.
    let shown = run_gatehouse(
        &app.database,
        &["user", "show", &first.user.email.to_uppercase(), "--json"],
        &[],
    );
    assert!(shown.status.success(), "{shown:?}");
    assert_eq!(json_users(&shown.stdout), [users[0].clone()]);
    // … and as a field a line, with the live sessions (the API login).
    let shown = run_gatehouse(&app.database, &["user", "show", &first.user.email], &[]);
    assert!(shown.status.success(), "{shown:?}");
    let fields: Vec<(&str, &str)> = shown
        .stdout
        .lines()
        .map(|line| {
            let (key, value) = line.split_once("  ").expect("a key and a value");
            (key, value.trim())
        })
        .collect();
    let first_id = first.id.to_string();
    assert_eq!(
        fields,
        [
            ("id", first_id.as_str()),
            ("username", first.user.username.as_str()),
            ("email", first.user.email.as_str()),
            ("confirmed", "no"),
            ("disabled", "no"),
            ("two-factor", "off"),
            ("created", created_at.as_str()),
            ("live sessions", "1"),
        ]
    );

    assert_refused(
        &run_gatehouse(&app.database, &["user", "show", "nobody@example.com"], &[]),
        "nobody@example.com",
    );
    let usage = run_gatehouse(&app.database, &["user", "list", "--bogus"], &[]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

async fn setting_a_password_ends_every_session_and_only_the_new_password_logs_in(backend: Backend) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_token_user().await;
    let browser = app.new_browser().log_in_as(&owner.user).await;
    let (access, refresh) = app
        .api_session(&owner.user.email, &owner.user.password)
        .await;
    let email = owner.user.email.to_uppercase();

    // A password that breaks the rules changes nothing.
    let common = with_password(
        &app,
        &["user", "set-password", &email, "--password-stdin"],
        "password123",
    );
    assert_refused(&common, "too common");
    owner.me().await;
    // An unknown address is refused before a password is read.
    assert_refused(
        &run_gatehouse(
            &app.database,
            &[
                "user",
                "set-password",
                "nobody@example.com",
                "--password-stdin",
            ],
            &[],
        ),
        "nobody@example.com",
    );

    let new = fresh_password();
    let set = with_password(
        &app,
        &["user", "set-password", &email, "--password-stdin"],
        &new,
    );
    assert!(set.status.success(), "{set:?}");
    assert!(!set.stdout.trim().is_empty(), "{set:?}");
    assert_not_shown(&set, &new);
    within_a_second("the old token refused", async || {
        app.api_me(&owner.token).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    within_a_second("the page session ended", async || {
        browser.get_me().await.status() == StatusCode::SEE_OTHER
    })
    .await;
    browser.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    assert_api_login(
        &app,
        &owner.user.email,
        &owner.user.password,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_api_login(&app, &owner.user.email, &new, StatusCode::OK).await;
    // The owner learns of it.
    mail.mailbox()
        .wait_for(&owner.user.email, PASSWORD_CHANGED_MAIL)
        .await;
    let changed = events_named(&app, &owner.user.email, "password.changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["device"], "Command line");
}

async fn a_disabled_user_is_logged_out_and_its_right_password_gets_403_until_enabled(
    backend: Backend,
) {
    let (mail, app) = spawn_with_mail(backend).await;
    let owner = app.register_token_user().await;
    let other = app.register_token_user().await;
    let browser = app.new_browser().log_in_as(&owner.user).await;
    let (access, refresh) = app
        .api_session(&owner.user.email, &owner.user.password)
        .await;
    let user = owner.user.clone();

    let disabled = run_gatehouse(
        &app.database,
        &["user", "disable", &user.email.to_uppercase()],
        &[],
    );
    assert!(disabled.status.success(), "{disabled:?}");
    assert!(!disabled.stdout.trim().is_empty(), "{disabled:?}");
    within_a_second("the bearer token refused", async || {
        app.api_me(&owner.token).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    within_a_second("the page session ended", async || {
        browser.get_me().await.status() == StatusCode::SEE_OTHER
    })
    .await;
    browser.assert_logged_out().await;
    app.assert_api_session_ended(&access, &refresh).await;
    other.me().await;

    // The right password learns that the account is disabled; a wrong one
    // learns nothing.
    let api = app.api_login(&user.api_login()).await;
    assert_eq!(
        json_body(api, StatusCode::FORBIDDEN).await,
        json!({ "detail": ACCOUNT_DISABLED })
    );
    let wrong = app
        .api_login(&json!({ "email": user.email, "password": "not-the-password" }))
        .await;
    assert_eq!(
        json_body(wrong, StatusCode::UNAUTHORIZED).await,
        json!({ "detail": INVALID_CREDENTIALS })
    );
    let page = app.new_browser();
    let response = page.login_via_form(&user.email, &user.password).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.expect("body");
    assert!(html.contains(ACCOUNT_DISABLED), "{html}");
    for field in ["email", "password", "csrf_token"] {
        assert_has_field(&html, field);
    }
    assert_eq!(
        input_value(&html, "email").as_deref(),
        Some(user.email.as_str())
    );
    let response = page.login_via_form(&user.email, "not-the-password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.expect("body");
    assert!(!html.contains(ACCOUNT_DISABLED), "{html}");

    // A password reset does not let it in either.
    app.forgot_via_api(&user.email).await;
    let letter = mail.mailbox().wait_for(&user.email, RESET_MAIL).await;
    let new = fresh_password();
    let reset = app.api_reset(&letter.token(), &new).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let api = app
        .api_login(&json!({ "email": user.email, "password": new }))
        .await;
    assert_eq!(api.status(), StatusCode::FORBIDDEN);

    // Again: it says so and changes nothing.
    let again = run_gatehouse(&app.database, &["user", "disable", &user.email], &[]);
    assert!(again.status.success(), "{again:?}");
    assert!(again.stdout.contains("already"), "{again:?}");
    assert_api_login(&app, &user.email, &new, StatusCode::FORBIDDEN).await;

    let enabled = run_gatehouse(&app.database, &["user", "enable", &user.email], &[]);
    assert!(enabled.status.success(), "{enabled:?}");
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;
    let response = page.login_via_form(&user.email, &new).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let again = run_gatehouse(&app.database, &["user", "enable", &user.email], &[]);
    assert!(again.status.success(), "{again:?}");
    assert!(again.stdout.contains("already"), "{again:?}");
    assert_api_login(&app, &user.email, &new, StatusCode::OK).await;

    // One event each: the repeated commands changed nothing.
    let names = event_names(&app, &user.email);
    let count = |name: &str| names.iter().filter(|n| *n == name).count();
    assert_eq!(count("account.disabled"), 1, "{names:?}");
    assert_eq!(count("account.enabled"), 1, "{names:?}");
    assert!(
        names.iter().position(|n| n == "account.disabled")
            < names.iter().position(|n| n == "account.enabled"),
        "{names:?}"
    );

    for command in ["disable", "enable"] {
        assert_refused(
            &run_gatehouse(&app.database, &["user", command, "nobody@example.com"], &[]),
            "nobody@example.com",
        );
    }
}

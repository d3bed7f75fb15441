//! Configuration and the command line.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{
    Backend, DEFAULT_TTL_SECS, TestApp, TestDatabase, TestUser, assert_auth_cookie_attributes,
    auth_set_cookie, run_gatehouse,
};

backend_tests!(
    a_short_secret_is_refused_at_start,
    a_secret_of_32_bytes_is_accepted,
    a_bcrypt_cost_outside_4_to_31_is_refused_at_start,
    an_unreadable_token_lifetime_is_refused_at_start,
    an_unreadable_bind_address_is_refused_at_start,
    an_unreadable_cookie_secure_flag_is_refused_at_start,
    migrate_prepares_a_fresh_database,
    purge_denylist_succeeds_on_a_migrated_database,
    running_without_a_subcommand_serves_the_app,
    cookies_are_marked_secure_when_configured,
    cookies_are_marked_secure_by_default,
    unreadable_mail_settings_are_refused_at_start,
    a_public_bind_without_a_public_url_warns_once,
);

/// Asserts that `serve` with `var=value` exits with status 2 and one line
/// on stderr naming the variable.
fn assert_refused(backend: &Backend, var: &str, value: &str) {
    let database = TestDatabase::create(backend);
    let started = Instant::now();

    let finished = run_gatehouse(&database, &["serve"], &[(var, value)]);

    assert_eq!(
        finished.status.code(),
        Some(2),
        "{var}={value}: {finished:#?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{var}={value} took {:?} to be refused",
        started.elapsed()
    );
    let naming: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|line| line.contains(var))
        .collect();
    assert_eq!(naming.len(), 1, "{var}={value}: {finished:#?}");
    assert!(!finished.stdout.contains("listening on"), "{finished:#?}");
}

async fn a_short_secret_is_refused_at_start(backend: Backend) {
    assert_refused(&backend, "GATEHOUSE_SECRET", "short");
    assert_refused(&backend, "GATEHOUSE_SECRET", &"x".repeat(31));
}

async fn a_secret_of_32_bytes_is_accepted(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SECRET", &"k".repeat(32))
        .spawn()
        .await;

    let user = app.register_token_user().await;

    user.me().await;
}

async fn a_bcrypt_cost_outside_4_to_31_is_refused_at_start(backend: Backend) {
    for cost in ["3", "32", "0", "twelve"] {
        assert_refused(&backend, "GATEHOUSE_BCRYPT_COST", cost);
    }
}

async fn an_unreadable_token_lifetime_is_refused_at_start(backend: Backend) {
    for ttl in ["forever", "-5m", "m", "5 parsecs"] {
        assert_refused(&backend, "GATEHOUSE_TOKEN_TTL", ttl);
    }
}

async fn an_unreadable_bind_address_is_refused_at_start(backend: Backend) {
    assert_refused(&backend, "GATEHOUSE_BIND", "nonsense");
}

async fn an_unreadable_cookie_secure_flag_is_refused_at_start(backend: Backend) {
    assert_refused(&backend, "GATEHOUSE_COOKIE_SECURE", "maybe");
}

async fn migrate_prepares_a_fresh_database(backend: Backend) {
    let database = TestDatabase::create(&backend);

    let first = run_gatehouse(&database, &["migrate"], &[]);
    assert!(first.status.success(), "{first:#?}");
    let again = run_gatehouse(&database, &["migrate"], &[]);
    assert!(again.status.success(), "{again:#?}");

    if !database.is_postgres() {
        assert!(database.dir.path().join("gatehouse.db").exists());
    }
}

async fn purge_denylist_succeeds_on_a_migrated_database(backend: Backend) {
    let database = TestDatabase::create(&backend);
    let migrate = run_gatehouse(&database, &["migrate"], &[]);
    assert!(migrate.status.success(), "{migrate:#?}");

    let purge = run_gatehouse(&database, &["purge-denylist"], &[]);

    assert!(purge.status.success(), "{purge:#?}");
}

async fn running_without_a_subcommand_serves_the_app(backend: Backend) {
    let app = TestApp::builder(backend).args(&[]).spawn().await;

    let response = app.healthz().await;

    assert_eq!(response.status(), StatusCode::OK);
}

async fn cookies_are_marked_secure_when_configured(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_COOKIE_SECURE", "true")
        .spawn()
        .await;

    let response = app.register_via_form(&TestUser::generate()).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_auth_cookie_attributes(&auth_set_cookie(&response), DEFAULT_TTL_SECS, true);
}

async fn cookies_are_marked_secure_by_default(backend: Backend) {
    let app = TestApp::builder(backend)
        .without_env("GATEHOUSE_COOKIE_SECURE")
        .spawn()
        .await;

    let response = app.register_via_form(&TestUser::generate()).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_auth_cookie_attributes(&auth_set_cookie(&response), DEFAULT_TTL_SECS, true);
}

#[test]
fn the_version_and_the_settings_are_in_the_help() {
    let database = TestDatabase::create(&Backend::Sqlite);
    let version = run_gatehouse(&database, &["--version"], &[]);
    assert!(version.status.success(), "{version:#?}");
    assert_eq!(
        version.stdout.trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run_gatehouse(&database, &["serve", "--help"], &[]);
    assert!(help.status.success(), "{help:#?}");
    for variable in [
        "DATABASE_URL",
        "GATEHOUSE_BIND",
        "GATEHOUSE_SECRET",
        "GATEHOUSE_SMTP_URL",
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_LOG_FORMAT",
        "GATEHOUSE_ACTIVITY_RETENTION",
        "RUST_LOG",
    ] {
        assert!(
            help.stdout.lines().any(|line| line.trim() == variable),
            "{variable} missing from:\n{}",
            help.stdout
        );
    }
}

#[test]
fn every_command_has_a_help_that_says_what_it_does() {
    let database = TestDatabase::create(&Backend::Sqlite);
    let commands: [&[&str]; 21] = [
        &["serve"],
        &["migrate"],
        &["purge-denylist"],
        &["backup"],
        &["audit"],
        &["user"],
        &["user", "create"],
        &["user", "list"],
        &["user", "show"],
        &["user", "set-password"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "delete"],
        &["user", "confirm-email"],
        &["user", "sessions"],
        &["user", "end-session"],
        &["user", "revoke-sessions"],
        &["user", "reset-two-factor"],
        &[],
        &["help"],
        &["user", "help"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        if !args.ends_with(&["help"]) {
            args.push("--help");
        }
        let help = run_gatehouse(&database, &args, &[]);
        assert!(help.status.success(), "{args:?}: {help:#?}");
        let first = help.stdout.lines().next().unwrap_or_default();
        // A sentence first, then the usage.
        assert!(
            first.len() > 10 && !first.starts_with("Usage"),
            "{args:?} says nothing of what it does:\n{}",
            help.stdout
        );
        assert!(help.stdout.contains("Usage: gatehouse"), "{args:?}");
    }
    let top = run_gatehouse(&database, &["--help"], &[]).stdout;
    for subcommand in [
        "serve",
        "migrate",
        "purge-denylist",
        "backup",
        "user",
        "audit",
    ] {
        assert!(
            top.lines()
                .any(|line| line.trim_start().starts_with(subcommand)),
            "{subcommand} missing from:\n{top}"
        );
    }
    let users = run_gatehouse(&database, &["user", "--help"], &[]).stdout;
    for subcommand in &commands[6..18] {
        assert!(
            users
                .lines()
                .any(|line| line.trim_start().starts_with(subcommand[1])),
            "{} missing from:\n{users}",
            subcommand[1]
        );
    }
    // A usage error: exit 2, one message on standard error.
    let wrong = run_gatehouse(&database, &["user", "frobnicate"], &[]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:#?}");
    assert!(wrong.stderr.contains("frobnicate"), "{wrong:#?}");
}

async fn unreadable_mail_settings_are_refused_at_start(backend: Backend) {
    for (var, value) in [
        ("GATEHOUSE_PUBLIC_URL", "auth.example.com"),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com/?next=1"),
        ("GATEHOUSE_SMTP_URL", "mail.example.com:25"),
        (
            "GATEHOUSE_SMTP_URL",
            "smtp://mail.example.com?tls=sometimes",
        ),
        ("GATEHOUSE_SMTP_CA_FILE", "/nonexistent/ca.pem"),
        ("GATEHOUSE_MAIL_FROM", "nobody at all"),
        ("GATEHOUSE_VERIFY_TTL", "soon"),
        ("GATEHOUSE_RESET_TTL", "0s"),
        ("GATEHOUSE_RESET_LIMIT", "3"),
        ("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "perhaps"),
        ("GATEHOUSE_LOG_FORMAT", "xml"),
    ] {
        assert_refused(&backend, var, value);
    }
}

async fn a_public_bind_without_a_public_url_warns_once(backend: Backend) {
    const WARNING: &str = "GATEHOUSE_PUBLIC_URL is not set";
    let public = TestApp::builder(backend.clone())
        .env("GATEHOUSE_BIND", "0.0.0.0:0")
        .spawn()
        .await;
    assert_eq!(
        public.logs().matches(WARNING).count(),
        1,
        "{}",
        public.logs()
    );
    let loopback = TestApp::spawn(backend.clone()).await;
    assert!(!loopback.logs().contains(WARNING), "{}", loopback.logs());
    let configured = TestApp::builder(backend)
        .env("GATEHOUSE_BIND", "0.0.0.0:0")
        .env("GATEHOUSE_PUBLIC_URL", "https://auth.example.test")
        .spawn()
        .await;
    assert!(
        !configured.logs().contains(WARNING),
        "{}",
        configured.logs()
    );
}

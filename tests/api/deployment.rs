//! What a deployer sets: a host name to bind, a secret in a file, trusted
//! proxy ranges, `.env` in the working directory, and the warnings for what
//! gatehouse would otherwise ignore.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, TestDatabase, TestUser, random_secret, run_gatehouse, sign_token,
    valid_claims,
};

backend_tests!(
    a_host_name_is_accepted_as_the_bind_address,
    a_misspelled_variable_and_an_invalid_rust_log_are_named_at_start,
    the_secret_can_be_read_from_a_file,
    dot_env_is_read_from_the_working_directory_and_not_its_parents,
    a_trusted_proxy_range_lets_the_forwarded_address_count,
);

async fn a_host_name_is_accepted_as_the_bind_address(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_BIND", "localhost:0")
        .spawn()
        .await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK, "at {}", app.address);
}

async fn a_misspelled_variable_and_an_invalid_rust_log_are_named_at_start(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_BCRYPTCOST", "4")
        .env("RUST_LOG", "info,gatehouse=loudest")
        .spawn()
        .await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let logs = app.logs();
    let misspelled: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("GATEHOUSE_BCRYPTCOST"))
        .collect();
    assert_eq!(misspelled.len(), 1, "{logs}");
    assert!(misspelled[0].contains("WARN"), "{}", misspelled[0]);
    assert!(
        misspelled[0].contains("GATEHOUSE_BCRYPT_COST"),
        "{}",
        misspelled[0]
    );
    let filter: Vec<&str> = logs.lines().filter(|l| l.contains("RUST_LOG")).collect();
    assert_eq!(filter.len(), 1, "{logs}");
    assert!(filter[0].contains("WARN"), "{}", filter[0]);
}

async fn the_secret_can_be_read_from_a_file(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let secret = random_secret();
    let path = dir.path().join("gatehouse-secret");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SECRET_FILE", &path.display().to_string())
        .spawn()
        .await;
    let (_, _, issued) = app.user_with_token().await;
    // A token signed with the file's content (without its newline) is ours.
    let forged_by_the_operator = sign_token(&valid_claims(&issued), secret.as_bytes());
    assert_eq!(
        app.api_me(&forged_by_the_operator).await.status(),
        StatusCode::OK
    );

    // A file that cannot be read stops the start, naming the variable.
    let database = TestDatabase::create(&Backend::Sqlite);
    let missing = dir.path().join("missing");
    let finished = run_gatehouse(
        &database,
        &["serve"],
        &[("GATEHOUSE_SECRET_FILE", missing.to_str().unwrap())],
    );
    assert_eq!(finished.status.code(), Some(2), "{finished:#?}");
    assert!(
        finished.stderr.contains("GATEHOUSE_SECRET_FILE"),
        "{finished:#?}"
    );
}

async fn dot_env_is_read_from_the_working_directory_and_not_its_parents(backend: Backend) {
    let database = TestDatabase::create(&backend);
    let below = database.dir.path().join("below");
    std::fs::create_dir(&below).unwrap();
    // A parent's .env is not read: its bad value would stop the program.
    std::fs::write(
        database.dir.path().join(".env"),
        "GATEHOUSE_BCRYPT_COST=99\n",
    )
    .unwrap();
    let mut command = database.command(&["migrate"], &[]);
    command
        .env_remove("GATEHOUSE_BCRYPT_COST")
        .current_dir(&below);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The working directory's .env is.
    std::fs::write(below.join(".env"), "GATEHOUSE_TOKEN_TTL=forever\n").unwrap();
    let mut command = database.command(&["migrate"], &[]);
    command.current_dir(&below);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("GATEHOUSE_TOKEN_TTL"));
}

async fn a_trusted_proxy_range_lets_the_forwarded_address_count(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_RATE_LIMITS", "on")
        .env("GATEHOUSE_LOGIN_LIMIT", "2/15m")
        .env("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.0/8")
        .spawn()
        .await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let wrong = json!({ "email": user.email, "password": "not the password" });
    let attempt = |forwarded: &'static str| {
        let wrong = wrong.clone();
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/login"))
                .header("X-Forwarded-For", forwarded)
                .json(&wrong)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(attempt("198.51.100.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt("198.51.100.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt("198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own count; a hop from
    // inside the trusted range is skipped.
    assert_eq!(
        attempt("198.51.100.2, 10.1.2.3").await,
        StatusCode::UNAUTHORIZED
    );
    // Request lines may be written just after the response.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = app.logs();
    assert!(logs.contains("client=198.51.100.1"), "{logs}");
    assert!(logs.contains("client=198.51.100.2"), "{logs}");
}

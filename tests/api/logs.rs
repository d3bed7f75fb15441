//! What the server writes to its log.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestUser, mentions_request, random_secret};

backend_tests! {
    both:
        the_logs_never_contain_passwords_tokens_or_the_secret,
        every_request_is_logged_once_with_its_method_and_path,
        json_logs_are_one_object_a_line_with_the_request_fields;
    postgres_only:
        the_logs_never_contain_the_database_password;
}

async fn the_logs_never_contain_passwords_tokens_or_the_secret(backend: Backend) {
    let secret = random_secret();
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_SECRET", &secret)
        .spawn()
        .await;
    let browser = app.register_cookie_user().await;
    let user = &browser.user;
    let page_token = browser.token();
    browser.me().await;
    assert_eq!(app.logout_via_form().await.status(), StatusCode::SEE_OTHER);
    let login = app.login_via_form(&user.email, &user.password).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let wrong = app.login_via_form(&user.email, "Wrong-Password-987").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let api_token = app.login_via_api(&user.email, &user.password).await;
    assert_eq!(app.api_me(&api_token).await.status(), StatusCode::OK);
    assert_eq!(
        app.api_logout(&api_token).await.status(),
        StatusCode::NO_CONTENT
    );
    let other = TestUser::generate();
    app.register_via_api(&other).await;

    let logs = app.logs();

    assert!(logs.contains("listening on"), "{logs}");
    for (what, needle) in [
        ("password", user.password.as_str()),
        ("wrong password", "Wrong-Password-987"),
        ("API password", other.password.as_str()),
        ("page token", page_token.as_str()),
        ("API token", api_token.as_str()),
        ("secret", secret.as_str()),
    ] {
        assert!(!logs.contains(needle), "the {what} is in the logs:\n{logs}");
    }
    // Not even a token's signature.
    for token in [&page_token, &api_token] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a token signature is in the logs:\n{logs}"
        );
    }
}

async fn every_request_is_logged_once_with_its_method_and_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();

    let requests = [
        ("GET", "/register"),
        ("POST", "/register"),
        ("GET", "/me"),
        ("GET", "/"),
        ("POST", "/logout"),
        ("GET", "/login"),
        ("POST", "/api/login"),
        ("GET", "/api/me"),
        ("POST", "/api/logout"),
        ("GET", "/healthz"),
    ];
    let csrf = app.csrf_token_from("/register").await;
    app.post_register(&user.register_form(&csrf)).await;
    app.get_me().await;
    let home = app.get_home().await.text().await.unwrap();
    app.post_logout(&[("csrf_token", crate::helpers::csrf_from(&home))])
        .await;
    app.get_login(None).await;
    let token = app.login_via_api(&user.email, &user.password).await;
    app.api_me(&token).await;
    app.api_logout(&token).await;
    app.healthz().await;
    // Access logs may be written just after the response.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let logs = app.logs();

    for (method, path) in requests {
        let lines: Vec<&str> = logs
            .lines()
            .filter(|line| mentions_request(line, method, path))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one log line for {method} {path}, got {lines:#?} in:\n{logs}"
        );
    }
}

async fn the_logs_never_contain_the_database_password(backend: Backend) {
    let Backend::Postgres(admin_url) = &backend else {
        return;
    };
    // An admin URL with a password keeps it; without one the server
    // authenticates some other way and ignores the one made up here.
    let password = reqwest::Url::parse(admin_url)
        .ok()
        .and_then(|url| url.password().map(str::to_owned))
        .unwrap_or_else(|| format!("db-pw-{}", uuid::Uuid::new_v4().simple()));
    let app = TestApp::builder(backend.clone())
        .database_password(&password)
        .spawn()
        .await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    assert_eq!(app.healthz().await.status(), StatusCode::OK);

    let logs = app.logs();

    assert!(
        !logs.contains(&password),
        "the database password is in the logs:\n{logs}"
    );
}

async fn json_logs_are_one_object_a_line_with_the_request_fields(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .spawn()
        .await;
    let user = app.register_token_user().await;
    user.me().await;
    assert_eq!(
        app.get("/verify-email/a-made-up-link-token").await.status(),
        StatusCode::BAD_REQUEST
    );
    app.wait_for_log_line("/verify-email/{token}").await;

    let logs = app.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    // The request's line carries its span's fields and its outcome.
    let me = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["span"]["route"] == "/api/me")
        .unwrap_or_else(|| panic!("no request line for /api/me:\n{logs}"));
    assert_eq!(me["span"]["method"], "GET");
    assert_eq!(me["span"]["path"], "/api/me");
    assert_eq!(me["span"]["user"], user.id);
    assert!(me["span"]["id"].is_string() && me["span"]["client"].is_string());
    assert_eq!(me["fields"]["status"], 200);
    assert!(!logs.contains("a-made-up-link-token"), "{logs}");
}

//! One span per request: its id on every line logged while serving it, on
//! any thread; the request line names the client address and the user.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestUser, run_sql};

backend_tests!(
    lines_logged_on_the_hashing_and_database_threads_carry_the_request_id,
    the_request_line_names_the_client_and_the_user_but_not_the_email,
);

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("an X-Request-Id header")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn lines_logged_on_the_hashing_and_database_threads_carry_the_request_id(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_BCRYPT_COST", "5")
        .spawn()
        .await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    // A hash of another cost makes the next login rehash (a bcrypt job)
    // and store the new hash (database work), each logging one line.
    let older = bcrypt::hash(&user.password, 4).unwrap();
    run_sql(
        &app.database_url,
        &format!(
            "UPDATE users SET hashed_password = '{older}' WHERE email = '{}'",
            user.email
        ),
    );
    let response = app
        .api_login(&serde_json::json!({ "email": user.email, "password": user.password }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(&response);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = app.logs();
    for message in [
        "rehashing a password made at another bcrypt cost",
        "stored the rehashed password",
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(message)).collect();
        assert_eq!(lines.len(), 1, "{message:?} in:\n{logs}");
        assert!(
            lines[0].contains(&id),
            "{message:?} without the request id {id}: {}",
            lines[0]
        );
    }
}

async fn the_request_line_names_the_client_and_the_user_but_not_the_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, user_id, token) = app.user_with_token().await;
    let response = app.api_me(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(&response);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = app.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&id)).collect();
    assert_eq!(lines.len(), 1, "one line for request {id} in:\n{logs}");
    let line = lines[0];
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains("client=127.0.0.1"), "{line}");
    assert!(line.contains(&format!("user={user_id}")), "{line}");
    assert!(line.contains("route=/api/me"), "{line}");
    assert!(
        !logs.contains(&user.email),
        "the email is in the logs:\n{logs}"
    );
}

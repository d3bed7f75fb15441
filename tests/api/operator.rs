//! The operator's `gatehouse user` commands on accounts: delete and
//! confirm-email, their exit codes, and their effect on a running server.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, run_gatehouse};

backend_tests!(
    deleting_a_user_ends_its_tokens_and_frees_its_name_and_address,
    confirming_an_address_shows_in_the_account_at_once,
);

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

//! Registration races: the database decides, and the loser gets a 409.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, EMAIL_TAKEN, TestApp, USERNAME_TAKEN};

const RACERS: usize = 20;

backend_tests! {
    multi_thread:
        parallel_api_registrations_of_one_email_create_exactly_one_user,
        parallel_api_registrations_of_one_username_in_different_cases_create_exactly_one_user,
        parallel_form_registrations_of_one_email_create_exactly_one_user;
}

/// Counts statuses; panics on anything but `winner` and 409.
fn tally(statuses: &[(StatusCode, String)], winner: StatusCode, conflict_message: &str) {
    let winners = statuses.iter().filter(|(s, _)| *s == winner).count();
    let losers: Vec<&(StatusCode, String)> =
        statuses.iter().filter(|(s, _)| *s != winner).collect();
    assert_eq!(winners, 1, "expected exactly one {winner}: {statuses:#?}");
    for (status, body) in &losers {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains(conflict_message), "{body}");
    }
    assert_eq!(losers.len(), RACERS - 1);
}

async fn parallel_api_registrations_of_one_email_create_exactly_one_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut racers = Vec::new();
    for i in 0..RACERS {
        let client = app.new_browser();
        racers.push(tokio::spawn(async move {
            let response = client
                .api_register(&json!({
                    "username": format!("racer{i}"),
                    "email": "contested@example.com",
                    "password": "Password-123",
                }))
                .await;
            (response.status(), response.text().await.unwrap())
        }));
    }

    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }

    tally(&statuses, StatusCode::CREATED, EMAIL_TAKEN);
    app.login_via_api("contested@example.com", "Password-123")
        .await;
}

async fn parallel_api_registrations_of_one_username_in_different_cases_create_exactly_one_user(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let spellings = [
        "contested",
        "Contested",
        "CONTESTED",
        "conTested",
        "contesteD",
    ];
    let mut racers = Vec::new();
    for i in 0..RACERS {
        let client = app.new_browser();
        let username = spellings[i % spellings.len()];
        racers.push(tokio::spawn(async move {
            let response = client
                .api_register(&json!({
                    "username": username,
                    "email": format!("racer{i}@example.com"),
                    "password": "Password-123",
                }))
                .await;
            (response.status(), response.text().await.unwrap())
        }));
    }

    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }

    tally(&statuses, StatusCode::CREATED, USERNAME_TAKEN);
}

async fn parallel_form_registrations_of_one_email_create_exactly_one_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Every browser first gets its own session and CSRF token...
    let mut browsers = Vec::new();
    for _ in 0..RACERS {
        let browser = app.new_browser();
        let csrf = browser.csrf_token_from("/register").await;
        browsers.push((browser, csrf));
    }
    // ...then they all press the button at once.
    let mut racers = Vec::new();
    for (i, (browser, csrf)) in browsers.into_iter().enumerate() {
        racers.push(tokio::spawn(async move {
            let username = format!("racer{i}");
            let response = browser
                .post_register(&[
                    ("username", username.as_str()),
                    ("email", "contested@example.com"),
                    ("password", "Password-123"),
                    ("password_confirm", "Password-123"),
                    ("csrf_token", csrf.as_str()),
                ])
                .await;
            (response.status(), response.text().await.unwrap())
        }));
    }

    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }

    tally(&statuses, StatusCode::SEE_OTHER, EMAIL_TAKEN);
}

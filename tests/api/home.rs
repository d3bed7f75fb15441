//! `GET /`, the home page.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, csrf_from, form_with_action};

backend_tests!(
    the_home_page_offers_visitors_to_log_in_or_register,
    the_home_page_shows_the_signed_in_user_and_a_logout_button,
);

async fn the_home_page_offers_visitors_to_log_in_or_register(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get_home().await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"href="/login""#), "{html}");
    assert!(html.contains(r#"href="/register""#), "{html}");
    assert!(!html.contains("Signed in as"), "{html}");
    assert!(!html.contains(r#"action="/logout""#), "{html}");
}

async fn the_home_page_shows_the_signed_in_user_and_a_logout_button(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;

    let response = app.get_home().await;

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("Signed in as {}", user.username)),
        "{html}"
    );
    let form =
        form_with_action(&html, "/logout").unwrap_or_else(|| panic!("no logout form in:\n{html}"));
    assert!(
        form.to_ascii_lowercase().contains(r#"method="post""#),
        "{form}"
    );
    assert!(!csrf_from(&form).is_empty());
}

//! Assertions on what the server answered: redirects, caching, form pages
//! shown again with a message, JSON bodies, the API's 401 and its
//! validation errors.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::html::{assert_password_inputs_are_empty, field_message};

/// The `Location` header of a response.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header in a {} response", response.status()))
        .to_str()
        .expect("Location is not ASCII")
        .to_owned()
}

/// Asserts a 303 to `path`.
pub fn assert_redirects_to(response: &Response, path: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a 303 to {path}"
    );
    assert_eq!(location(response), path);
}

/// Asserts `Cache-Control: no-store` on the answer for `what`.
pub fn assert_no_store(response: &Response, what: &str) {
    assert_eq!(
        response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "Cache-Control of {what}"
    );
}

/// Asserts a 422 page with `message` at `field` and no password kept in
/// its inputs; returns the page.
pub async fn assert_form_error(response: Response, field: &str, message: &str) -> String {
    let status = response.status();
    let html = response.text().await.expect("no body");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(
        field_message(&html, field).as_deref(),
        Some(message),
        "at {field}:\n{html}"
    );
    assert_password_inputs_are_empty(&html);
    html
}

/// Asserts a 422 page with a message, whichever, at `field`; returns the
/// page.
pub async fn assert_form_error_at(response: Response, field: &str) -> String {
    let status = response.status();
    let html = response.text().await.expect("no body");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        field_message(&html, field).is_some(),
        "no message at {field}:\n{html}"
    );
    html
}

/// Asserts that an API answer has the status and a JSON body, and returns it.
pub async fn json_body(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("no body");
    assert_eq!(actual, status, "body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?} for body {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a 401 with `WWW-Authenticate: Bearer` and a JSON `detail`.
pub async fn assert_api_unauthorized(response: Response) {
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate is {challenge:?}"
    );
    assert!(body["detail"].is_string(), "no detail in {body}");
}

/// The `{field, message}` pairs of a 422 API answer.
pub async fn validation_errors(response: Response) -> Vec<(String, String)> {
    let body = json_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail is not a list: {body}"));
    assert!(!detail.is_empty(), "detail is empty: {body}");
    detail
        .iter()
        .map(|item| {
            (
                item["field"].as_str().unwrap_or_default().to_owned(),
                item["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Asserts that a list of validation errors holds `message` for `field`.
pub fn assert_field_error(errors: &[(String, String)], field: &str, message: &str) {
    assert!(
        errors.iter().any(|(f, m)| f == field && m == message),
        "expected {field}: {message:?} in {errors:?}"
    );
}

/// Asserts that a list of validation errors holds one, whichever, for
/// `field`.
pub fn assert_error_for(errors: &[(String, String)], field: &str) {
    assert!(
        errors.iter().any(|(f, _)| f == field),
        "expected an error for {field} in {errors:?}"
    );
}

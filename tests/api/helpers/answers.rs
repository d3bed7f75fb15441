//! Assertions on what the server answered: redirects, JSON bodies, the
//! API's 401 and its validation errors.

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;

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

//! A page POST with an empty body is an empty form, whatever its content
//! type or none: the CSRF check refuses it with 403.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

backend_tests!(an_empty_page_post_gets_the_csrf_403_with_or_without_a_content_type);

async fn an_empty_page_post_gets_the_csrf_403_with_or_without_a_content_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/register", "/login", "/logout", "/logout-everywhere"] {
        for content_type in [None, Some("text/plain"), Some("application/json")] {
            let mut request = app.client.post(app.url(path)).body(Vec::<u8>::new());
            if let Some(content_type) = content_type {
                request = request.header("Content-Type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "empty POST {path} with Content-Type {content_type:?}"
            );
            assert!(
                response
                    .headers()
                    .get("set-cookie")
                    .is_none_or(|c| !c.to_str().unwrap().starts_with("gatehouse_token="))
            );
            let body = response.text().await.unwrap();
            assert!(body.contains("Invalid or expired form"), "{path}: {body}");
        }
    }
    // The API keeps its 415 for a body that is not JSON.
    let response = app
        .client
        .post(app.url("/api/login"))
        .body(Vec::<u8>::new())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

//! `GET /healthz`, static files and unknown pages.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};

use crate::helpers::{Backend, TestApp};

backend_tests! {
    both:
        the_health_check_answers_ok,
        an_unknown_page_is_not_found,
        an_unknown_static_file_is_not_found,
        the_stylesheet_is_served_as_css,
        pages_link_a_versioned_stylesheet_cached_for_a_year;
    postgres_only:
        the_health_check_fails_when_the_database_is_gone;
}

async fn the_health_check_answers_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.healthz().await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
}

async fn an_unknown_page_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/nope", "/me/extra", "/api/nope"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn an_unknown_static_file_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in [
        "/static/nope.css",
        "/static/..%2FCargo.toml",
        "/static/%2e%2e%2fsrc%2fmain.rs",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn the_stylesheet_is_served_as_css(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = app.get("/static/style.css").await;

    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/css"), "{content_type}");
    assert!(!response.text().await.unwrap().is_empty());
}

async fn pages_link_a_versioned_stylesheet_cached_for_a_year(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let html = app.get_home().await.text().await.unwrap();
    let start = html
        .find("/static/style.css?v=")
        .expect("a versioned stylesheet link");
    let url = &html[start..start + html[start..].find('"').unwrap()];

    let versioned = app.get(url).await;
    assert_eq!(versioned.status(), StatusCode::OK);
    let cache = versioned.headers()[CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache.contains("max-age=31536000") && cache.contains("immutable"),
        "{cache}"
    );

    // Another version's URL is not kept for long: it may be a newer file.
    let other = app.get("/static/style.css?v=0").await;
    assert_eq!(other.status(), StatusCode::OK);
    let cache = other.headers()[CACHE_CONTROL].to_str().unwrap().to_owned();
    assert!(!cache.contains("immutable"), "{cache}");
}

async fn the_health_check_fails_when_the_database_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.healthz().await.status(), StatusCode::OK);

    app.database.drop_postgres_database();

    let response = app.healthz().await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(response.text().await.unwrap(), "ok");
}

//! HEAD on every GET route, and 405 with `Allow` for a method a route does
//! not take.

use reqwest::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp, TestUser};

backend_tests!(
    every_get_route_answers_head_with_the_get_status_and_headers_and_no_body,
    head_of_a_protected_page_redirects_like_get,
    a_method_a_route_does_not_take_gets_405_with_allow,
);

/// Headers that must be the same for HEAD and GET of one page.
const SAME: [&str; 4] = [
    "content-type",
    "cache-control",
    "content-security-policy",
    "x-content-type-options",
];

async fn every_get_route_answers_head_with_the_get_status_and_headers_and_no_body(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let token = app.login_via_api(&user.email, &user.password).await;
    let stylesheet = {
        let home = app.get("/").await.text().await.unwrap();
        let start = home.find("/static/style.css").expect("a stylesheet link");
        let end = start + home[start..].find('"').unwrap();
        home[start..end].replace("&amp;", "&")
    };

    for path in [
        "/",
        "/register",
        "/login",
        "/login?next=%2Fme",
        "/healthz",
        stylesheet.as_str(),
    ] {
        let get = app.client.get(app.url(path)).send().await.unwrap();
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        for name in SAME {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{name} of HEAD {path}"
            );
        }
        let get_length = get.headers().get(CONTENT_LENGTH).cloned();
        let get_body = get.bytes().await.unwrap();
        assert_eq!(
            head.headers().get(CONTENT_LENGTH),
            get_length.as_ref(),
            "Content-Length of HEAD {path}"
        );
        assert!(!get_body.is_empty(), "GET {path} has a body");
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has a body"
        );
    }

    // The API's GET route too, with its bearer token.
    let get = app.api_me(&token).await;
    let head = app
        .client
        .head(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers().get(CONTENT_TYPE),
        get.headers().get(CONTENT_TYPE)
    );
    assert_eq!(
        head.headers().get(CACHE_CONTROL),
        get.headers().get(CACHE_CONTROL)
    );
    assert!(head.bytes().await.unwrap().is_empty());

    // An address nothing serves is 404 for HEAD as for GET.
    let head = app
        .client
        .head(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert!(head.bytes().await.unwrap().is_empty());
}

async fn head_of_a_protected_page_redirects_like_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let head = app.client.head(app.url("/me")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::SEE_OTHER);
    assert_eq!(head.headers().get(LOCATION).unwrap(), "/login?next=%2Fme");
}

async fn a_method_a_route_does_not_take_gets_405_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (Method::DELETE, "/", "GET, HEAD", false),
        (Method::POST, "/healthz", "GET, HEAD", false),
        (Method::PUT, "/login", "GET, HEAD, POST", false),
        (Method::GET, "/logout", "POST", false),
        (Method::HEAD, "/logout", "POST", false),
        (Method::PATCH, "/me", "GET, HEAD", false),
        (Method::GET, "/api/login", "POST", true),
        (Method::PUT, "/api/me", "DELETE, GET, HEAD", true),
    ];
    for (method, path, allowed, api) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allow = response
            .headers()
            .get(ALLOW)
            .unwrap_or_else(|| panic!("no Allow on {method} {path}"))
            .to_str()
            .unwrap();
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        let mut expected: Vec<&str> = allowed.split(", ").collect();
        expected.sort_unstable();
        assert_eq!(listed, expected, "Allow of {method} {path}");
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        if method == Method::HEAD {
            continue;
        }
        let body = response.text().await.unwrap();
        if api {
            assert!(
                content_type.starts_with("application/json"),
                "{method} {path}: {content_type}"
            );
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(json["detail"].is_string(), "{method} {path}: {body}");
        } else {
            assert!(
                content_type.starts_with("text/html"),
                "{method} {path}: {content_type}"
            );
            assert!(
                body.contains("Method not allowed"),
                "{method} {path}: {body}"
            );
        }
    }
}

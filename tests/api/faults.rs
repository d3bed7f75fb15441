//! The database going away and coming back, through a TCP proxy of the
//! test's own between gatehouse and PostgreSQL.

use std::time::Duration;

use crate::helpers::{Backend, TcpProxy, TestApp, postgres_address};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_service_comes_back_by_itself() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let Backend::Postgres(admin) = &backend else {
        unreachable!("the proxy stands in front of PostgreSQL")
    };
    let proxy = TcpProxy::start(postgres_address(admin)).await;
    let app = TestApp::builder(backend)
        .database_port(proxy.address.port())
        .spawn()
        .await;
    let api = app.register_token_user().await;
    let page = app.new_browser().register_cookie_user().await;
    page.me().await;

    proxy.cut();

    let health = app.healthz().await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    let me = app.api_me(&api.token).await;
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(me.headers().contains_key(RETRY_AFTER));
    let body: serde_json::Value = me.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );

    let login = app.api_login(&api.user.api_login()).await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);

    let me = page.get_me().await;
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        me.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = me.text().await.unwrap();
    assert!(html.contains("Service unavailable"), "{html}");
    assert!(html.contains("Please try again"), "{html}");
    for leak in ["SELECT", "connection", "panicked", "r2d2", "diesel"] {
        assert!(!html.contains(leak), "the page shows {leak:?}: {html}");
    }

    proxy.restore();

    // The pool re-connects on its own; give it a few seconds.
    let mut healthy = false;
    for _ in 0..100 {
        if app.healthz().await.status() == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the health check did not recover: {}", app.logs());
    api.me().await;
    page.me().await;
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}

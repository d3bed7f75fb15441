//! Several servers sharing one database, and the PostgreSQL connection.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestUser};

backend_tests! {
    both:
        a_logout_on_one_instance_is_honoured_by_another,
        instances_sharing_a_database_share_the_generated_secret;
    postgres_only:
        the_server_connects_to_postgres_over_tls;
}

async fn a_logout_on_one_instance_is_honoured_by_another(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = a.spawn_another().await;
    let on_a = a.register_token_user().await;
    let on_b = on_a.on(&b);
    on_a.me().await;
    on_b.me().await;

    on_b.logout().await;

    on_b.assert_token_rejected().await;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = a.api_me(&on_a.token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "instance A still accepts the token 1 s after the logout on B (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    on_a.assert_token_rejected().await;
}

async fn instances_sharing_a_database_share_the_generated_secret(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = a.spawn_another().await;
    let user = TestUser::generate();
    b.register_via_api(&user).await;

    let from_a = a.login_via_api(&user.email, &user.password).await;
    let from_b = b.login_via_api(&user.email, &user.password).await;

    assert_eq!(b.api_me(&from_a).await.status(), StatusCode::OK);
    assert_eq!(a.api_me(&from_b).await.status(), StatusCode::OK);
    // A page login on one instance is a page login on the other.
    let cookie = a.register_cookie_user().await.token();
    assert_eq!(b.api_me(&cookie).await.status(), StatusCode::OK);
}

async fn the_server_connects_to_postgres_over_tls(backend: Backend) {
    let app = TestApp::builder(backend)
        .database_url_query("sslmode=require")
        .spawn()
        .await;
    assert!(app.database_url.contains("sslmode=require"));

    let response = app.healthz().await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
    app.register_token_user().await.me().await;
}

//! Several servers sharing one database, and the PostgreSQL connection.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestUser, assert_api_unauthorized};

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
    let user = TestUser::generate();
    a.register_via_api(&user).await;
    let token = a.login_via_api(&user.email, &user.password).await;
    assert_eq!(a.api_me(&token).await.status(), StatusCode::OK);
    assert_eq!(b.api_me(&token).await.status(), StatusCode::OK);

    assert_eq!(b.api_logout(&token).await.status(), StatusCode::NO_CONTENT);

    assert_api_unauthorized(b.api_me(&token).await).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = a.api_me(&token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "instance A still accepts the token 1 s after the logout on B (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_api_unauthorized(a.api_me(&token).await).await;
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
    a.register_and_login_via_form().await;
    let cookie = a.auth_cookie().unwrap();
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
    let (_, _, token) = app.user_with_token().await;
    assert_eq!(app.api_me(&token).await.status(), StatusCode::OK);
}

//! Several servers sharing one database, and the PostgreSQL connection.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{
    Backend, TcpProxy, TestApp, TestUser, TokenUser, postgres_address, run_gatehouse,
};
use crate::metrics::scrape;

backend_tests! {
    both:
        a_logout_on_one_instance_is_honoured_by_another,
        instances_sharing_a_database_share_the_generated_secret;
    postgres_only:
        the_server_connects_to_postgres_over_tls,
        revocations_are_pushed_and_the_cache_falls_back_while_the_channel_is_down;
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

/// How many revocations `app` has heard on its channel, and whether the
/// channel is up, from its metrics.
async fn channel_state(app: &TestApp) -> (f64, f64) {
    let scrape = scrape(app).await;
    (
        scrape.value("gatehouse_revocations_heard_total", &[]),
        scrape.value("gatehouse_revocation_channel_up", &[]),
    )
}

/// Polls until `app` refuses `user`'s token. The deadline is far below the
/// minute an entry lives while the channel vouches for it, and above the
/// one-second promise without it: a refusal inside it came from the push
/// or from the fallback, never from the entry's end.
async fn refused_soon(app: &TestApp, user: &TokenUser, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.api_me(&user.token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            Instant::now() < deadline,
            "instance B still accepts the token 10 s after {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn revocations_are_pushed_and_the_cache_falls_back_while_the_channel_is_down(
    backend: Backend,
) {
    let a = TestApp::spawn(backend).await;
    // B hears revocations through a line the test can cut; its pool goes
    // to the database directly.
    let mut listen_url = url::Url::parse(&a.database_url).unwrap();
    let proxy = TcpProxy::start(postgres_address(&a.database_url)).await;
    listen_url.set_host(Some("127.0.0.1")).unwrap();
    listen_url.set_port(Some(proxy.address.port())).unwrap();
    let b = a
        .builder_on_this_database()
        .env("GATEHOUSE_LISTEN_URL", listen_url.as_str())
        .env("GATEHOUSE_METRICS_BIND", "127.0.0.1:0")
        .spawn()
        .await;
    b.wait_for_log_line("listening for revocations made elsewhere")
        .await;
    assert!(
        !b.logs().contains(listen_url.as_str()),
        "the channel's URL is never logged"
    );

    // Up: a logout on A reaches B's cache through the channel.
    let first = a.register_token_user().await;
    first.on(&b).me().await;
    let (heard, up) = channel_state(&b).await;
    assert_eq!(up, 1.0);
    first.logout().await;
    refused_soon(&b, &first.on(&b), "a logout on A").await;
    let (heard_after, _) = channel_state(&b).await;
    assert!(
        heard_after > heard,
        "B heard the logout ({heard} → {heard_after})"
    );

    // Down: a token B checked while the channel vouched for it is refused
    // after a logout on A all the same, within the short promise.
    let second = a.register_token_user().await;
    second.on(&b).me().await;
    proxy.cut();
    b.wait_for_log_line("the revocation channel is down").await;
    let (heard, up) = channel_state(&b).await;
    assert_eq!(up, 0.0);
    second.logout().await;
    refused_soon(&b, &second.on(&b), "a logout on A, the channel down").await;
    let (heard_after, _) = channel_state(&b).await;
    assert_eq!(heard_after, heard, "nothing was heard: the cache fell back");

    // Back: the operator disables an account and B hears of it at once.
    let third = a.register_token_user().await;
    third.on(&b).me().await;
    proxy.restore();
    b.wait_for_log_line("the revocation channel is back").await;
    let (heard, up) = channel_state(&b).await;
    assert_eq!(up, 1.0);
    // Past the short life of the entry made while the channel was down, B
    // checks the token again, now vouched for by the new connection.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    third.on(&b).me().await;
    let disabled = run_gatehouse(&a.database, &["user", "disable", &third.user.email], &[]);
    assert!(disabled.status.success(), "{disabled:?}");
    refused_soon(&b, &third.on(&b), "the operator disabled the account").await;
    let (heard_after, _) = channel_state(&b).await;
    assert!(heard_after > heard, "B heard the account disabled");
}

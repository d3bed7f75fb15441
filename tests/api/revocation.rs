//! Logged-out tokens stay dead: as cookie and as bearer, across restarts.

use diesel::prelude::*;
use gatehouse::config::DatabaseUrl;
use gatehouse::models::denylist;
use gatehouse::schema::denylisted_tokens;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, assert_redirects_to, run_gatehouse};

backend_tests!(
    a_logged_out_token_is_rejected_as_cookie_and_as_bearer,
    a_logged_out_token_stays_rejected_after_a_restart,
    a_live_token_keeps_working_after_a_restart,
    purging_the_denylist_keeps_tokens_that_have_not_expired,
    purging_the_denylist_deletes_only_rows_of_expired_tokens,
);

async fn a_logged_out_token_is_rejected_as_cookie_and_as_bearer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let page_token = app.auth_cookie().unwrap();
    let api_token = app.login_via_api(&user.email, &user.password).await;
    app.assert_accepted_as_cookie_and_bearer(&page_token).await;
    app.assert_accepted_as_cookie_and_bearer(&api_token).await;

    assert_redirects_to(&app.logout_via_form().await, "/login");
    assert_eq!(
        app.api_logout(&api_token).await.status(),
        StatusCode::NO_CONTENT
    );

    app.assert_rejected_as_cookie_and_bearer(&page_token).await;
    app.assert_rejected_as_cookie_and_bearer(&api_token).await;
}

async fn a_logged_out_token_stays_rejected_after_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;
    let token = app.auth_cookie().unwrap();
    assert_redirects_to(&app.logout_via_form().await, "/login");
    app.assert_rejected_as_cookie_and_bearer(&token).await;

    app.restart().await;

    app.assert_rejected_as_cookie_and_bearer(&token).await;
}

async fn a_live_token_keeps_working_after_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;
    let page_token = app.auth_cookie().unwrap();
    let api_token = app.login_via_api(&user.email, &user.password).await;

    app.restart().await;

    app.assert_accepted_as_cookie_and_bearer(&page_token).await;
    app.assert_accepted_as_cookie_and_bearer(&api_token).await;
    // The jar still holds the cookie, so the browser is still logged in.
    assert_eq!(app.get_me().await.status(), StatusCode::OK);
}

async fn purging_the_denylist_keeps_tokens_that_have_not_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;
    user.logout().await;

    let purge = run_gatehouse(&app.database, &["purge-denylist"], &[]);

    assert!(purge.status.success(), "{purge:#?}");
    app.assert_rejected_as_cookie_and_bearer(&user.token).await;
}

fn denylisted_jtis(database_url: &str) -> Vec<String> {
    let pool = gatehouse::db::build_pool(&DatabaseUrl::parse(database_url).unwrap(), 1);
    let mut conn = pool.get().unwrap();
    denylisted_tokens::table
        .select(denylisted_tokens::jti)
        .order(denylisted_tokens::jti)
        .load(&mut *conn)
        .unwrap()
}

async fn purging_the_denylist_deletes_only_rows_of_expired_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_token_user().await;
    user.logout().await;
    {
        let pool = gatehouse::db::build_pool(&DatabaseUrl::parse(&app.database.url).unwrap(), 1);
        let mut conn = pool.get().unwrap();
        let now = crate::helpers::now();
        for (jti, expires_at) in [
            ("expired-a", now - 60),
            ("expired-b", now - 1),
            ("still-live", now + 600),
        ] {
            denylist::denylist_token(&mut conn, jti, expires_at).unwrap();
        }
    }
    assert_eq!(denylisted_jtis(&app.database.url).len(), 4);

    let purge = run_gatehouse(&app.database, &["purge-denylist"], &[]);

    assert!(purge.status.success(), "{purge:#?}");
    let left = denylisted_jtis(&app.database.url);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"still-live".to_owned()), "{left:?}");
    assert!(
        !left.iter().any(|jti| jti.starts_with("expired-")),
        "{left:?}"
    );
    app.assert_rejected_as_cookie_and_bearer(&user.token).await;
}

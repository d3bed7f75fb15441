//! Seeing and ending sessions: the page, the API, the command line, and a
//! session ended on one instance refused by another.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, LOCATION, USER_AGENT};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, TestApp, TestUser, csrf_from, json_body, jwt_claims, load_sql, run_gatehouse,
};

backend_tests!(
    the_sessions_page_lists_each_device_and_marks_this_one,
    another_session_ends_from_the_page_at_once,
    all_other_sessions_end_from_the_page,
    another_users_session_is_not_found_and_stays,
    an_id_holding_a_nul_is_not_found,
    an_anonymous_visitor_is_sent_to_log_in,
    the_api_lists_sessions_and_ends_one,
    the_command_line_lists_and_ends_sessions,
    a_session_ended_on_one_instance_is_refused_by_another_within_a_second,
    ended_and_expired_sessions_are_purged,
);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// An API login as `FIREFOX`: its access token.
async fn firefox_login(app: &TestApp, user: &TestUser) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/login", app.address))
        .header(USER_AGENT, FIREFOX)
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .expect("POST /api/login");
    let body = json_body(answer, StatusCode::OK).await;
    body["access_token"].as_str().expect("a token").to_owned()
}

/// A user logged in in a browser (through the form) and once more as
/// Firefox through the API; the Firefox session's token.
async fn two_sessions(app: &TestApp) -> (Browser, TestUser, String) {
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let browser = app.new_browser();
    let login = browser.login_via_form(&user.email, &user.password).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let firefox = firefox_login(app, &user).await;
    (browser, user, firefox)
}

fn sid(token: &str) -> String {
    jwt_claims(token)["sid"].as_str().expect("a sid").to_owned()
}

async fn sessions_page(browser: &Browser) -> String {
    let page = browser.get("/me/sessions").await;
    assert_eq!(page.status(), StatusCode::OK);
    let cache = page.headers()[CACHE_CONTROL]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(cache.contains("no-store"), "{cache}");
    page.text().await.expect("page")
}

async fn the_sessions_page_lists_each_device_and_marks_this_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _, firefox) = two_sessions(&app).await;
    let page = sessions_page(&browser).await;
    assert!(page.contains("Firefox on Linux"), "{page}");
    assert_eq!(page.matches("This device").count(), 1, "{page}");
    assert!(page.contains("127.0.0.1"), "{page}");
    assert!(page.contains("just now"), "{page}");
    // Only the other session has an end button, and it names it by id.
    let action = format!("/me/sessions/{}/end", sid(&firefox));
    assert!(page.contains(&action), "{page}");
    assert_eq!(page.matches("End this session").count(), 1, "{page}");
    assert!(page.contains("/me/sessions/end-others"));
    // The account page links here.
    let account = browser.get_me().await.text().await.expect("page");
    assert!(account.contains("href=\"/me/sessions\""), "{account}");
}

async fn another_session_ends_from_the_page_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, user, firefox) = two_sessions(&app).await;
    assert_eq!(app.api_me(&firefox).await.status(), StatusCode::OK);
    let csrf = csrf_from(&sessions_page(&browser).await);
    let ended = browser
        .post_form(
            &format!("/me/sessions/{}/end", sid(&firefox)),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()[LOCATION], "/me/sessions");
    let page = sessions_page(&browser).await;
    assert!(page.contains("Session ended"), "{page}");
    assert!(!page.contains("Firefox on Linux"), "{page}");
    assert_eq!(
        app.api_me(&firefox).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Without the CSRF token nothing ends.
    let another = firefox_login(&app, &user).await;
    let refused = browser
        .post_form(
            &format!("/me/sessions/{}/end", sid(&another)),
            &[("x", "y")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.api_me(&another).await.status(), StatusCode::OK);
}

async fn all_other_sessions_end_from_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, user, firefox) = two_sessions(&app).await;
    let another = firefox_login(&app, &user).await;
    let csrf = csrf_from(&sessions_page(&browser).await);
    let ended = browser
        .post_form("/me/sessions/end-others", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    let page = sessions_page(&browser).await;
    assert!(page.contains("Other sessions ended"), "{page}");
    assert_eq!(page.matches("This device").count(), 1);
    assert!(!page.contains("End this session"), "{page}");
    for token in [&firefox, &another] {
        assert_eq!(app.api_me(token).await.status(), StatusCode::UNAUTHORIZED);
    }
    // This browser is still logged in.
    assert_eq!(browser.get_me().await.status(), StatusCode::OK);
}

async fn another_users_session_is_not_found_and_stays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _, mine) = two_sessions(&app).await;
    let (_, _, theirs) = two_sessions(&app).await;
    let csrf = csrf_from(&sessions_page(&browser).await);
    for id in [sid(&theirs), "no-such-session".to_owned()] {
        let response = browser
            .post_form(
                &format!("/me/sessions/{id}/end"),
                &[("csrf_token", csrf.as_str())],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    let delete = app
        .browser
        .client
        .delete(format!("{}/api/sessions/{}", app.address, sid(&theirs)))
        .bearer_auth(&mine)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.api_me(&theirs).await.status(), StatusCode::OK);
}

/// No session id holds a NUL (and PostgreSQL refuses one in any text):
/// such an id is not found, on the page and in the API, and ends nothing.
async fn an_id_holding_a_nul_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (browser, _, firefox) = two_sessions(&app).await;
    let csrf = csrf_from(&sessions_page(&browser).await);
    let id = format!("{}%00", sid(&firefox));
    let page = browser
        .post_form(
            &format!("/me/sessions/{id}/end"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let api = app
        .browser
        .client
        .delete(format!("{}/api/sessions/{id}", app.address))
        .bearer_auth(&firefox)
        .send()
        .await
        .expect("DELETE");
    let body = json_body(api, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "Page not found");
    assert_eq!(app.api_me(&firefox).await.status(), StatusCode::OK);
    assert_eq!(browser.get_me().await.status(), StatusCode::OK);
}

async fn an_anonymous_visitor_is_sent_to_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = app.new_browser().get("/me/sessions").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/login?next=%2Fme%2Fsessions");
}

fn is_rfc3339_utc(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|t| t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T')
}

async fn the_api_lists_sessions_and_ends_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user, firefox) = two_sessions(&app).await;
    let mine = app.login_via_api(&user.email, &user.password).await;
    let list = |token: String| {
        let app = &app;
        async move {
            let response = app
                .browser
                .client
                .get(format!("{}/api/sessions", app.address))
                .bearer_auth(token)
                .send()
                .await
                .expect("GET /api/sessions");
            json_body(response, StatusCode::OK).await
        }
    };
    let sessions = list(mine.clone()).await;
    let sessions = sessions.as_array().expect("an array");
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for s in sessions {
        let keys: Vec<&String> = s.as_object().expect("object").keys().collect();
        for key in [
            "id",
            "device",
            "ip",
            "created_at",
            "last_used_at",
            "current",
        ] {
            assert!(keys.iter().any(|k| *k == key), "{key} missing in {s}");
        }
        assert!(
            is_rfc3339_utc(&s["created_at"]) && is_rfc3339_utc(&s["last_used_at"]),
            "{s}"
        );
    }
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], sid(&mine).as_str());
    assert!(sessions.iter().any(|s| s["device"] == "Firefox on Linux"));

    let delete = |id: String| {
        let app = &app;
        let mine = mine.clone();
        async move {
            app.browser
                .client
                .delete(format!("{}/api/sessions/{id}", app.address))
                .bearer_auth(mine)
                .send()
                .await
                .expect("DELETE")
                .status()
        }
    };
    assert_eq!(delete(sid(&firefox)).await, StatusCode::NO_CONTENT);
    assert_eq!(
        app.api_me(&firefox).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(delete(sid(&firefox)).await, StatusCode::NOT_FOUND);
    assert_eq!(list(mine.clone()).await.as_array().map(Vec::len), Some(2));
    let anonymous = app
        .browser
        .client
        .get(format!("{}/api/sessions", app.address))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn the_command_line_lists_and_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user, firefox) = two_sessions(&app).await;
    let listed = run_gatehouse(
        &app.database,
        &["user", "sessions", &user.email, "--json"],
        &[],
    );
    assert!(listed.status.success(), "{listed:?}");
    let sessions: Vec<Value> = listed
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    for session in &sessions {
        let mut keys: Vec<&str> = session
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "device",
                "id",
                "ip",
                "last_used_at"
            ],
            "the shape of GET /api/sessions"
        );
    }
    let table = run_gatehouse(&app.database, &["user", "sessions", &user.email], &[]);
    assert!(table.stdout.contains("Firefox on Linux"), "{table:?}");

    let ended = run_gatehouse(
        &app.database,
        &["user", "end-session", &user.email, &sid(&firefox)],
        &[],
    );
    assert!(ended.status.success(), "{ended:?}");
    // The operator's command runs on its own: this instance learns within
    // its cache's lifetime.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.api_me(&firefox).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = run_gatehouse(
        &app.database,
        &["user", "end-session", &user.email, &sid(&firefox)],
        &[],
    );
    assert!(!again.status.success(), "{again:?}");
    let nobody = run_gatehouse(
        &app.database,
        &["user", "sessions", "nobody@example.com"],
        &[],
    );
    assert!(!nobody.status.success(), "{nobody:?}");
}

async fn a_session_ended_on_one_instance_is_refused_by_another_within_a_second(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = first.spawn_another().await;
    let (browser, _, firefox) = two_sessions(&first).await;
    assert_eq!(second.api_me(&firefox).await.status(), StatusCode::OK);
    let csrf = csrf_from(&sessions_page(&browser).await);
    let ended = browser
        .post_form(
            &format!("/me/sessions/{}/end", sid(&firefox)),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    let at = Instant::now();
    assert_eq!(
        first.api_me(&firefox).await.status(),
        StatusCode::UNAUTHORIZED,
        "at once here"
    );
    loop {
        if second.api_me(&firefox).await.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(1),
            "the other instance still accepts it"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ended_and_expired_sessions_are_purged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user, firefox) = two_sessions(&app).await;
    let live = app.login_via_api(&user.email, &user.password).await;
    let ended = run_gatehouse(
        &app.database,
        &["user", "end-session", &user.email, &sid(&firefox)],
        &[],
    );
    assert!(ended.status.success(), "{ended:?}");
    let count = || {
        let listed = run_gatehouse(
            &app.database,
            &["user", "sessions", &user.email, "--json"],
            &[],
        );
        listed.stdout.lines().count()
    };
    assert_eq!(count(), 2);
    let purge = run_gatehouse(&app.database, &["purge-denylist"], &[]);
    assert!(purge.status.success(), "{purge:?}");
    // The ended row is gone from the database, not only from the list.
    let rows = session_rows(&app).await;
    assert_eq!(rows, 2, "the ended session's row is still stored");
    assert_eq!(app.api_me(&live).await.status(), StatusCode::OK);
}

/// How many rows the sessions table holds.
async fn session_rows(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Vec<Count> = load_sql(&app.database_url, "SELECT COUNT(*) AS n FROM sessions");
    rows[0].n
}

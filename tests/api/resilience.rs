//! Resilience: a kill in the middle of writes, a graceful shutdown with
//! requests in flight, and races between many clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;
use gatehouse::config::DatabaseUrl;
use gatehouse::schema::users;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, EMAIL_TAKEN, TestApp, TestUser};

backend_tests! {
    both:
        a_graceful_shutdown_finishes_the_requests_in_flight_and_exits_with_status_0;
    multi_thread:
        fifty_parallel_registrations_of_one_email_create_exactly_one_user,
        two_hundred_parallel_logins_of_one_user_all_succeed,
        logging_out_while_the_token_is_in_use_never_errs_and_kills_it_for_good;
}

/// Asserts that no log line reports a locked database or a panic.
fn assert_logs_are_clean(app: &TestApp) {
    let logs = app.logs();
    for line in logs.lines() {
        assert!(
            !line.contains("database is locked") && !line.contains("panicked"),
            "the server logged: {line}"
        );
    }
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// `PRAGMA integrity_check` of the SQLite database at `url`.
fn sqlite_integrity(url: &str) -> Vec<String> {
    let DatabaseUrl::Sqlite(path) = DatabaseUrl::parse(url).unwrap() else {
        panic!("not an SQLite URL: {url}");
    };
    let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
    diesel::sql_query("PRAGMA integrity_check")
        .load::<IntegrityCheck>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| row.integrity_check)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_acknowledged_before_a_kill_on_sqlite_survive_a_restart() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let unexpected = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let browser = app.new_browser();
        let acknowledged = Arc::clone(&acknowledged);
        let unexpected = Arc::clone(&unexpected);
        writers.push(tokio::spawn(async move {
            loop {
                let user = TestUser::generate();
                let sent = browser
                    .client
                    .post(browser.url("/api/register"))
                    .json(&user.api_registration())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push(user);
                    }
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        unexpected.lock().unwrap().push(format!("{status}: {body}"));
                    }
                    // The server is gone.
                    Err(_) => break,
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    app.signal("KILL");
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("a writer kept going after the kill")
            .unwrap();
    }
    assert!(
        app.wait_for_exit(Duration::from_secs(10)).is_some(),
        "the server survived kill -9"
    );
    app.start_again().await;

    let unexpected = unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty(), "no registration was acknowledged");
    eprintln!(
        "{} registrations acknowledged before the kill",
        acknowledged.len()
    );
    let mut checkers = Vec::new();
    for chunk in acknowledged.chunks(acknowledged.len().div_ceil(4)) {
        let browser = app.new_browser();
        let chunk = chunk.to_vec();
        checkers.push(tokio::spawn(async move {
            for user in chunk {
                let response = browser
                    .api_login(&json!({ "email": user.email, "password": user.password }))
                    .await;
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "{} got 201 before the kill but cannot log in after the restart",
                    user.email
                );
            }
        }));
    }
    for checker in checkers {
        checker.await.unwrap();
    }
    assert_eq!(sqlite_integrity(&app.database.url), ["ok"]);
    assert_logs_are_clean(&app);
}

async fn a_graceful_shutdown_finishes_the_requests_in_flight_and_exits_with_status_0(
    backend: Backend,
) {
    // Cost 12 makes each registration take a noticeable moment of CPU.
    let mut app = TestApp::builder(backend)
        .env("GATEHOUSE_BCRYPT_COST", "12")
        .spawn()
        .await;
    let mut in_flight = Vec::new();
    for _ in 0..4 {
        let browser = app.new_browser();
        in_flight.push(tokio::spawn(async move {
            let user = TestUser::generate();
            let response = browser.api_register(&user.api_registration()).await;
            let status = response.status();
            (status, response.text().await.unwrap_or_default())
        }));
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        in_flight.iter().all(|request| !request.is_finished()),
        "a registration finished before SIGTERM: nothing was in flight"
    );
    app.signal("TERM");

    for request in in_flight {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "body: {body}");
    }
    let exit = app
        .wait_for_exit(Duration::from_secs(30))
        .expect("the server did not exit within 30 s of SIGTERM");
    assert!(exit.success(), "exit status {exit}; logs:\n{}", app.logs());
}

async fn fifty_parallel_registrations_of_one_email_create_exactly_one_user(backend: Backend) {
    const RACERS: usize = 50;
    let app = TestApp::spawn(backend).await;
    let email = "contested@example.com";
    let mut racers = Vec::new();
    for i in 0..RACERS {
        let browser = app.new_browser();
        racers.push(tokio::spawn(async move {
            let response = browser
                .api_register(&json!({
                    "username": format!("racer{i}"),
                    "email": email,
                    "password": "Password-123",
                }))
                .await;
            (response.status(), response.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for racer in racers {
        answers.push(racer.await.unwrap());
    }

    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:#?}");
    for (status, body) in &answers {
        assert!(!status.is_server_error(), "{status}: {body}");
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert!(body.contains(EMAIL_TAKEN), "{body}");
        }
    }
    let pool = gatehouse::db::build_pool(&DatabaseUrl::parse(&app.database.url).unwrap(), 1);
    let mut conn = pool.get().unwrap();
    let rows: i64 = users::table
        .filter(users::email.eq(email))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(rows, 1);
    assert_logs_are_clean(&app);
}

async fn two_hundred_parallel_logins_of_one_user_all_succeed(backend: Backend) {
    const CLIENTS: usize = 200;
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let credentials = json!({ "email": user.email, "password": user.password });
    let mut logins = Vec::new();
    for _ in 0..CLIENTS {
        let browser = app.new_browser();
        let credentials = credentials.clone();
        logins.push(tokio::spawn(async move {
            let response = browser.api_login(&credentials).await;
            (response.status(), response.text().await.unwrap())
        }));
    }

    let mut failures = Vec::new();
    for login in logins {
        let (status, body) = login.await.unwrap();
        if status != StatusCode::OK {
            failures.push(format!("{status}: {body}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} logins failed: {failures:#?}",
        failures.len()
    );
    assert_logs_are_clean(&app);
}

async fn logging_out_while_the_token_is_in_use_never_errs_and_kills_it_for_good(backend: Backend) {
    const USERS_OF_THE_TOKEN: usize = 20;
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.user_with_token().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..USERS_OF_THE_TOKEN {
        let browser = app.new_browser();
        let token = token.clone();
        let stop = Arc::clone(&stop);
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let status = browser.api_me(&token).await.status();
                answers.push((sent, status));
            }
            answers
        }));
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    let logout = app.api_logout(&token).await;
    let logged_out_at = Instant::now();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut after = 0;
    for worker in workers {
        for (sent, status) in worker.await.unwrap() {
            assert!(
                status == StatusCode::OK || status == StatusCode::UNAUTHORIZED,
                "GET /api/me answered {status}"
            );
            if sent > logged_out_at {
                after += 1;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "the token worked for a request sent {:?} after the logout answered",
                    sent - logged_out_at
                );
            }
        }
    }
    assert!(after > 0, "no request was sent after the logout");
    assert_logs_are_clean(&app);
}

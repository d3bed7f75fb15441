//! The hardening rules: a body deadline, private database files, two auth
//! cookies, "log out everywhere" without a login, allowed hosts, `crit`
//! headers and overlong tokens, one character that normalizes into many,
//! dummy verifications at the stored hashes' cost, and hash jobs of clients
//! that have gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, HOST, LOCATION};
use serde_json::json;

use crate::helpers::{
    AUTH_COOKIE, Backend, LOGIN_FOR_ME, PASSWORD_TOO_SHORT, TestApp, TestDatabase, TestUser,
    json_body, now, sign_token, spawn_with_known_secret, valid_claims,
};

backend_tests!(
    a_body_that_does_not_arrive_in_ten_seconds_gets_408_and_the_connection_closes,
    two_auth_cookies_log_in_nobody_and_logout_ends_both,
    log_out_everywhere_without_a_valid_login_claims_nothing,
    only_allowed_hosts_are_answered,
    tokens_with_a_crit_header_or_a_lifetime_past_the_configured_one_are_refused,
    one_character_that_normalizes_into_many_is_not_a_long_password,
    the_api_registration_is_not_cached,
    after_a_cost_change_unknown_emails_cost_what_stored_hashes_cost,
    hash_jobs_of_clients_that_have_gone_are_dropped,
);

async fn a_body_that_does_not_arrive_in_ten_seconds_gets_408_and_the_connection_closes(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let slow = |path: &'static str, content_type: &'static str| {
        let server = SlowClient(app.address.clone());
        tokio::task::spawn_blocking(move || server.send_half_a_body(path, content_type))
    };
    let page = slow("/login", "application/x-www-form-urlencoded");
    let api = slow("/api/login", "application/json");
    for (what, answer) in [("page", page.await), ("api", api.await)] {
        let (answer, took) = answer.expect("the slow client panicked");
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{what}: expected 408, got {answer}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{what}: {answer}"
        );
        // Not before the deadline: a slow but steady body is not cut.
        assert!(took >= Duration::from_secs(9), "{what}: cut after {took:?}");
    }
    // The server still serves.
    assert_eq!(app.get_home().await.status(), StatusCode::OK);
}

/// A client that sends the head of a request and part of its body, then
/// nothing.
struct SlowClient(String);

impl SlowClient {
    /// The answer, read until the server closes the connection, and how
    /// long that took.
    fn send_half_a_body(&self, path: &str, content_type: &str) -> (String, Duration) {
        let mut stream = TcpStream::connect(self.0.trim_start_matches("http://")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let started = Instant::now();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
             Content-Length: 100\r\n\r\nemail="
        )
        .expect("write");
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the connection was not closed");
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    }
}

#[tokio::test]
async fn the_sqlite_files_are_readable_by_their_owner_only() {
    let database = Arc::new(TestDatabase::create(&Backend::Sqlite));
    let app = TestApp::builder_on(Arc::clone(&database)).spawn().await;
    app.register_via_api(&TestUser::generate()).await;
    for name in ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"] {
        let path = database.dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
    assert!(!app.logs().contains("can be read by other users"));
}

#[tokio::test]
async fn an_existing_database_others_can_read_gets_a_warning() {
    let database = Arc::new(TestDatabase::create(&Backend::Sqlite));
    let path = database.dir.path().join("gatehouse.db");
    std::fs::write(&path, b"").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let app = TestApp::builder_on(Arc::clone(&database)).spawn().await;
    let warnings: Vec<String> = app
        .logs()
        .lines()
        .filter(|l| l.contains("can be read by other users"))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", app.logs());
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("chmod 600"),
        "{warnings:?}"
    );
}

/// Rows of the table an earlier version kept the generated secret in.
fn stored_secrets(database: &TestDatabase) -> Vec<String> {
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection, sql_query};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let path = database.dir.path().join("gatehouse.db");
    let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("open");
    let rows: Vec<Row> = sql_query("SELECT secret FROM server_secret")
        .load(&mut conn)
        .expect("query");
    rows.into_iter().map(|r| r.secret).collect()
}

#[tokio::test]
async fn a_generated_secret_is_kept_beside_the_sqlite_database_not_in_it() {
    let database = Arc::new(TestDatabase::create(&Backend::Sqlite));
    let app = TestApp::builder_on(Arc::clone(&database)).spawn().await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let token = app.login_via_api(&user.email, &user.password).await;

    let key = database.dir.path().join("gatehouse.key");
    let mode = std::fs::metadata(&key)
        .expect("no key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        stored_secrets(&database).is_empty(),
        "the database holds a secret"
    );

    // A copy of the database files alone, started elsewhere, cannot
    // accept the original's tokens: it has not got the key.
    let copy = Arc::new(TestDatabase::create(&Backend::Sqlite));
    drop(app);
    for name in ["gatehouse.db", "gatehouse.db-wal"] {
        let from = database.dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, copy.dir.path().join(name)).expect("copy");
        }
    }
    let thief = TestApp::builder_on(copy).spawn().await;
    assert_eq!(
        thief.api_me(&token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The owner's server, with its key, still does.
    let owner = TestApp::builder_on(database).spawn().await;
    assert_eq!(owner.api_me(&token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_secret_kept_in_the_database_moves_to_the_key_file() {
    let database = Arc::new(TestDatabase::create(&Backend::Sqlite));
    let first = TestApp::builder_on(Arc::clone(&database)).spawn().await;
    let (_, _, issued) = first.user_with_token().await;
    drop(first);
    // As an earlier version left it: the secret in the table, no key file.
    let old_secret = crate::helpers::random_secret();
    std::fs::remove_file(database.dir.path().join("gatehouse.key")).expect("remove");
    {
        use diesel::{Connection, RunQueryDsl, SqliteConnection, sql_query};
        let path = database.dir.path().join("gatehouse.db");
        let mut conn = SqliteConnection::establish(&path.display().to_string()).expect("open");
        sql_query(format!(
            "INSERT INTO server_secret (id, secret) VALUES (1, '{old_secret}')"
        ))
        .execute(&mut conn)
        .expect("insert");
    }
    let app = TestApp::builder_on(Arc::clone(&database)).spawn().await;
    let token = sign_token(&valid_claims(&issued), old_secret.as_bytes());
    assert_eq!(app.api_me(&token).await.status(), StatusCode::OK);
    let kept = std::fs::read_to_string(database.dir.path().join("gatehouse.key")).expect("key");
    assert_eq!(kept.trim(), old_secret);
    assert!(stored_secrets(&database).is_empty());
}

/// A client without a jar: every cookie is what the test sends.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn two_auth_cookies_log_in_nobody_and_logout_ends_both(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = TestUser::generate();
    let attacker = TestUser::generate();
    app.register_via_api(&victim).await;
    app.register_via_api(&attacker).await;
    let real = app.login_via_api(&victim.email, &victim.password).await;
    let planted = app.login_via_api(&attacker.email, &attacker.password).await;

    // A session and its CSRF token, as the logout button carries them.
    let visitor = app.new_browser();
    let csrf = visitor.csrf_token_from("/login").await;
    let session: Vec<String> = visitor
        .cookies()
        .into_iter()
        .filter(|(name, _)| name != AUTH_COOKIE)
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let cookies = format!(
        "{}; {AUTH_COOKIE}={planted}; {AUTH_COOKIE}={real}",
        session.join("; ")
    );
    let client = bare_client();

    let me = client
        .get(format!("{}/me", app.address))
        .header(COOKIE, &cookies)
        .send()
        .await
        .expect("GET /me");
    assert_eq!(
        me.status(),
        StatusCode::SEE_OTHER,
        "two cookies must log in nobody"
    );
    assert_eq!(me.headers()[LOCATION], LOGIN_FOR_ME);

    let logout = client
        .post(format!("{}/logout", app.address))
        .header(COOKIE, &cookies)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    for (whose, token) in [("the real", &real), ("the planted", &planted)] {
        assert_eq!(
            app.api_me(token).await.status(),
            StatusCode::UNAUTHORIZED,
            "{whose} token must be dead after logout"
        );
    }
}

async fn log_out_everywhere_without_a_valid_login_claims_nothing(backend: Backend) {
    let (app, secret) = spawn_with_known_secret(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let elsewhere = app.login_via_api(&user.email, &user.password).await;

    // The browser holds the user's own token, expired.
    let browser = app.new_browser();
    let own = app.login_via_api(&user.email, &user.password).await;
    let mut claims = valid_claims(&own);
    claims["iat"] = json!(now() - 1000);
    claims["exp"] = json!(now() - 100);
    browser.set_cookie(AUTH_COOKIE, &sign_token(&claims, secret.as_bytes()));
    let csrf = browser.csrf_token_from("/login").await;
    let response = browser
        .post_form("/logout-everywhere", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], LOGIN_FOR_ME);
    let next = browser
        .get_login(Some("/me"))
        .await
        .text()
        .await
        .expect("page");
    assert!(!next.contains("logged out everywhere"), "{next}");
    // Nothing was revoked.
    assert_eq!(app.api_me(&elsewhere).await.status(), StatusCode::OK);
}

async fn only_allowed_hosts_are_answered(backend: Backend) {
    let app = TestApp::builder(backend)
        .env(
            "GATEHOUSE_ALLOWED_HOSTS",
            "gatehouse.test, www.gatehouse.test",
        )
        .spawn()
        .await;
    let client = bare_client();
    let get = |path: &'static str, host: &'static str| {
        client
            .get(format!("{}{path}", app.address))
            .header(HOST, host)
            .send()
    };
    for host in ["gatehouse.test", "WWW.gatehouse.test:8443"] {
        assert_eq!(
            get("/", host).await.expect("GET").status(),
            StatusCode::OK,
            "{host}"
        );
    }
    let page = get("/", "rebound.example").await.expect("GET");
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.expect("body").contains("Unknown host"));
    let api = get("/api/me", "rebound.example:80").await.expect("GET");
    assert_eq!(
        json_body(api, StatusCode::BAD_REQUEST).await,
        json!({ "detail": "Unknown host" })
    );
}

async fn tokens_with_a_crit_header_or_a_lifetime_past_the_configured_one_are_refused(
    backend: Backend,
) {
    let (app, secret) = spawn_with_known_secret(backend).await;
    let (_, _, issued) = app.user_with_token().await;
    let good = sign_token(&valid_claims(&issued), secret.as_bytes());
    assert_eq!(app.api_me(&good).await.status(), StatusCode::OK);

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.crit = Some(vec!["exp".into()]);
    let crit = jsonwebtoken::encode(
        &header,
        &valid_claims(&issued),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign");
    assert_eq!(app.api_me(&crit).await.status(), StatusCode::UNAUTHORIZED);

    // The default lifetime is 15 minutes; this one claims a year.
    let mut claims = valid_claims(&issued);
    claims["exp"] = json!(now() + 365 * 86_400);
    let long = sign_token(&claims, secret.as_bytes());
    assert_eq!(app.api_me(&long).await.status(), StatusCode::UNAUTHORIZED);
}

async fn one_character_that_normalizes_into_many_is_not_a_long_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // U+FDFA is one character; NFKC makes 18 of it.
    let user = TestUser {
        password: "\u{FDFA}".to_owned(),
        ..TestUser::generate()
    };
    let response = app.api_register(&user.api_registration()).await;
    let body = json_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.to_string().contains(PASSWORD_TOO_SHORT), "{body}");
}

async fn the_api_registration_is_not_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .api_register(&TestUser::generate().api_registration())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let cache = response.headers()[CACHE_CONTROL].to_str().expect("ASCII");
    assert!(cache.contains("no-store"), "{cache}");
}

/// The costs the server's bcrypt verifications ran at, in order.
fn verification_costs(app: &TestApp) -> Vec<String> {
    app.logs()
        .lines()
        .filter(|l| l.contains("verifying a password"))
        .filter_map(|l| l.split("cost=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

async fn after_a_cost_change_unknown_emails_cost_what_stored_hashes_cost(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let users: Vec<TestUser> = (0..3).map(|_| TestUser::generate()).collect();
    for user in &users {
        app.register_via_api(user).await;
    }
    // The harness hashes at cost 4; the operator now asks for 5.
    let stronger = app
        .builder_on_this_database()
        .env("GATEHOUSE_BCRYPT_COST", "5")
        .env("RUST_LOG", "info,gatehouse::bcrypt=debug")
        .spawn()
        .await;
    let unknown = stronger
        .api_login(&json!({ "email": "nobody@example.com", "password": "whatever-it-is" }))
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let wrong = stronger
        .api_login(&json!({ "email": users[0].email, "password": "whatever-it-is" }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        verification_costs(&stronger),
        ["4", "4"],
        "{}",
        stronger.logs()
    );
}

async fn hash_jobs_of_clients_that_have_gone_are_dropped(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_HASH_THREADS", "1")
        .env("GATEHOUSE_BCRYPT_COST", "12")
        .env("RUST_LOG", "info,gatehouse::bcrypt=debug")
        .spawn()
        .await;
    let login = |client: &reqwest::Client, email: String| {
        client
            .post(format!("{}/api/login", app.address))
            .json(&json!({ "email": email, "password": "whatever-it-is" }))
            .send()
    };
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let gone: Vec<_> = (0..8)
        .map(|i| tokio::spawn(login(&impatient, format!("gone{i}@example.com"))))
        .collect();
    for request in gone {
        let answer = request.await.expect("a login task panicked");
        assert!(answer.is_err(), "the client gave up after 100 ms");
    }
    // Queued behind the eight: once it is answered, each of them has had
    // its turn, to run or to be dropped.
    let patient = reqwest::Client::new();
    let answer = login(&patient, "present@example.com".into())
        .await
        .expect("POST");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first job was already running when its client left; the others
    // never ran. The last is the patient client's.
    let ran = verification_costs(&app).len();
    assert_eq!(ran, 2, "hash jobs run: {}", app.logs());
}

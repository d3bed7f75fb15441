//! Malformed request bodies, for the pages and the API. Each gets its status
//! and an answer in the app's own form (an HTML page, or JSON with a
//! `detail`), never a 500, never serde, SQL or panic text, and stores
//! nothing: afterwards the bad request's credentials do not log in and its
//! email can still be registered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    AUTH_COOKIE, Backend, Browser, EMAIL_INVALID, FORM, INVALID_CREDENTIALS, LEAKS,
    PASSWORD_TOO_SHORT, PASSWORDS_DIFFER, TestApp, TestUser, USERNAME_LENGTH, json_body,
    set_cookie,
};

backend_tests!(
    a_register_form_with_missing_fields_is_shown_again_with_messages,
    a_login_form_with_a_missing_email_or_password_is_unauthorized,
    a_form_with_a_repeated_field_is_a_bad_request,
    a_register_form_with_invalid_utf8_escapes_is_a_bad_request_or_unprocessable,
    a_login_form_with_invalid_utf8_escapes_is_a_bad_request_or_unprocessable,
    a_nul_byte_in_a_form_username_or_email_is_unprocessable,
    a_password_with_a_control_character_is_refused,
    a_password_and_the_same_with_a_nul_are_not_both_accepted,
    a_nul_byte_in_a_login_form_is_an_ordinary_failed_login,
    a_nul_character_in_an_api_login_is_an_ordinary_failed_login,
    a_form_of_another_content_type_is_unsupported_before_the_csrf_check,
    a_form_over_16_kib_is_too_large_with_or_without_a_content_length,
    an_api_body_that_is_not_json_is_a_bad_request,
    an_api_body_of_another_or_no_content_type_is_unsupported,
    an_api_registration_that_is_not_a_json_object_is_unprocessable,
    an_api_login_that_is_not_a_json_object_is_unprocessable,
    api_fields_of_the_wrong_type_are_listed_in_the_detail,
    api_bodies_with_missing_fields_are_unprocessable,
    repeated_json_keys_are_a_bad_request_or_unprocessable,
    invalid_utf8_in_a_json_body_is_a_bad_request,
    a_nul_character_in_an_api_username_or_email_is_unprocessable,
    a_nul_character_in_an_api_password_never_causes_an_error,
    unknown_api_fields_are_ignored_and_never_applied,
    an_api_body_over_16_kib_is_too_large_with_or_without_a_content_length,
    sql_looking_input_is_stored_literally_or_refused_never_executed,
);

const JSON: &str = "application/json";
/// Comfortably over the 16 KiB limit.
const OVERSIZED: usize = 20 * 1024;

fn assert_no_leak(case: &str, body: &str) {
    for leak in LEAKS {
        assert!(
            !body.contains(leak),
            "{case}: the answer contains {leak:?}:\n{body}"
        );
    }
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts that the response sets no auth cookie with a token in it.
fn assert_not_logged_in(case: &str, response: &Response) {
    if let Some(cookie) = set_cookie(response, AUTH_COOKIE) {
        assert!(
            cookie.value().is_empty(),
            "{case}: an auth cookie was set: {}",
            cookie.raw
        );
    }
}

/// Asserts an HTML answer with one of `statuses` and no leak; returns the page.
async fn html_answer(case: &str, response: Response, statuses: &[StatusCode]) -> String {
    let status = response.status();
    let content_type = content_type(&response);
    let body = response.text().await.expect("no body");
    assert!(
        statuses.contains(&status),
        "{case}: status {status}, expected one of {statuses:?}:\n{body}"
    );
    assert!(
        content_type.starts_with("text/html"),
        "{case}: Content-Type {content_type:?}:\n{body}"
    );
    assert_no_leak(case, &body);
    body
}

/// Asserts a JSON answer with one of `statuses` and no leak; an error answer
/// must hold a `detail`.
async fn json_answer(case: &str, response: Response, statuses: &[StatusCode]) -> Value {
    let status = response.status();
    let content_type = content_type(&response);
    let text = response.text().await.expect("no body");
    assert!(
        statuses.contains(&status),
        "{case}: status {status}, expected one of {statuses:?}: {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{case}: Content-Type {content_type:?}: {text}"
    );
    assert_no_leak(case, &text);
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {text}"));
    if status.is_client_error() || status.is_server_error() {
        assert!(
            body.get("detail").is_some_and(|d| !d.is_null()),
            "{case}: no detail in {body}"
        );
    }
    body
}

/// Asserts a 422 whose `detail` is a non-empty list of `{field, message}`
/// strings; returns the pairs.
async fn api_validation_errors(case: &str, response: Response) -> Vec<(String, String)> {
    let body = json_answer(case, response, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    let detail = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: detail is not a list: {body}"));
    assert!(!detail.is_empty(), "{case}: detail is empty");
    detail
        .iter()
        .map(|item| {
            let field = item["field"].as_str();
            let message = item["message"].as_str();
            assert!(
                field.is_some() && message.is_some_and(|m| !m.is_empty()),
                "{case}: {item} is not a {{field, message}} pair"
            );
            (field.unwrap().to_owned(), message.unwrap().to_owned())
        })
        .collect()
}

/// After a refused request: its credentials do not log in, and its email can
/// still be registered (by someone else, with another username).
async fn assert_nothing_stored(app: &TestApp, case: &str, email: &str, password: &str) {
    let login = app
        .api_login(&json!({ "email": email, "password": password }))
        .await;
    assert_eq!(
        login.status(),
        StatusCode::UNAUTHORIZED,
        "{case}: the refused request's credentials log in"
    );
    let fresh = TestUser::generate();
    let register = app
        .api_register(&json!({
            "username": fresh.username,
            "email": email,
            "password": fresh.password,
        }))
        .await;
    assert_eq!(
        register.status(),
        StatusCode::CREATED,
        "{case}: {email} cannot be registered after the refused request"
    );
}

/// `key=value&…`, form-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("the form encodes")
}

/// A browser with a session and the CSRF token of the form at `path`.
async fn browser_with_csrf(app: &TestApp, path: &str) -> (Browser, String) {
    let browser = app.new_browser();
    let csrf = browser.csrf_token_from(path).await;
    (browser, csrf)
}

/// Posts `body` as-is to `path` from a browser holding a valid CSRF token;
/// `body` gets the token.
async fn post_page(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let (browser, csrf) = browser_with_csrf(app, path).await;
    browser
        .post_raw(path, content_type, body(&csrf).into_bytes())
        .await
}

fn register_fields(user: &TestUser) -> [(&'static str, &str); 4] {
    [
        ("username", user.username.as_str()),
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
        ("password_confirm", user.password.as_str()),
    ]
}

/// What a raw socket read back: the status and everything after it.
struct RawAnswer {
    status: u16,
    text: String,
}

/// POSTs `body` with `Transfer-Encoding: chunked` and no `Content-Length`,
/// over a plain socket, and reads the answer.
async fn post_chunked(
    app: &TestApp,
    path: &str,
    content_type: &str,
    cookie: Option<String>,
    body: Vec<u8>,
) -> RawAnswer {
    let host = app
        .address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let path = path.to_owned();
    let content_type = content_type.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&host).expect("cannot connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("cannot set a timeout");
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n{cookie}\r\n"
        )
        .into_bytes();
        for chunk in body.chunks(1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer and close before reading everything; what
        // it answered is what counts.
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer to a chunked POST {path}: {text:?}"));
        RawAnswer { status, text }
    })
    .await
    .expect("the socket task failed")
}

fn cookie_header(browser: &Browser) -> String {
    browser
        .cookies()
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

// ---- pages ----

async fn a_register_form_with_missing_fields_is_shown_again_with_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for (missing, messages) in [
        ("username", vec![USERNAME_LENGTH]),
        ("email", vec![EMAIL_INVALID]),
        ("password", vec![PASSWORD_TOO_SHORT]),
        ("password_confirm", vec![PASSWORDS_DIFFER]),
    ] {
        let user = TestUser::generate();
        let fields: Vec<(&str, &str)> = register_fields(&user)
            .into_iter()
            .filter(|(name, _)| *name != missing)
            .collect();
        let response = post_page(&app, "/register", FORM, |csrf| {
            format!("{}&csrf_token={csrf}", form(&fields))
        })
        .await;
        let case = format!("register without {missing}");
        assert_not_logged_in(&case, &response);
        let page = html_answer(&case, response, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
        for message in messages {
            assert!(page.contains(message), "{case}: no {message:?} in\n{page}");
        }
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }

    let response = post_page(&app, "/register", FORM, |csrf| format!("csrf_token={csrf}")).await;
    let case = "register with only a csrf token";
    assert_not_logged_in(case, &response);
    let page = html_answer(case, response, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    for message in [USERNAME_LENGTH, EMAIL_INVALID, PASSWORD_TOO_SHORT] {
        assert!(page.contains(message), "{case}: no {message:?} in\n{page}");
    }
}

async fn a_login_form_with_a_missing_email_or_password_is_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for (case, fields) in [
        (
            "login without email",
            vec![("password", user.password.as_str())],
        ),
        (
            "login without password",
            vec![("email", user.email.as_str())],
        ),
        ("login with only a csrf token", vec![]),
    ] {
        let response = post_page(&app, "/login", FORM, |csrf| {
            let mut fields = fields.clone();
            fields.push(("csrf_token", csrf));
            form(&fields)
        })
        .await;
        assert_not_logged_in(case, &response);
        let page = html_answer(case, response, &[StatusCode::UNAUTHORIZED]).await;
        assert!(page.contains(INVALID_CREDENTIALS), "{case}:\n{page}");
    }
}

async fn a_form_with_a_repeated_field_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for (path, field) in [
        ("/register", "email"),
        ("/register", "username"),
        ("/register", "password"),
        ("/register", "csrf_token"),
        ("/login", "email"),
        ("/login", "password"),
        ("/login", "csrf_token"),
    ] {
        let user = TestUser::generate();
        let other = TestUser::generate();
        if path == "/login" {
            app.register_via_api(&user).await;
        }
        let case = format!("POST {path} with {field} twice");
        let response = post_page(&app, path, FORM, |csrf| {
            let mut fields = if path == "/register" {
                register_fields(&user).to_vec()
            } else {
                vec![
                    ("email", user.email.as_str()),
                    ("password", user.password.as_str()),
                ]
            };
            fields.push(("csrf_token", csrf));
            let second = match field {
                "email" => other.email.as_str(),
                "username" => other.username.as_str(),
                "password" => other.password.as_str(),
                _ => csrf,
            };
            fields.push((field, second));
            form(&fields)
        })
        .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &[StatusCode::BAD_REQUEST]).await;
        if path == "/register" {
            assert_nothing_stored(&app, &case, &user.email, &user.password).await;
        }
        assert_nothing_stored(&app, &case, &other.email, &other.password).await;
    }
}

const BAD_REQUEST_OR_UNPROCESSABLE: [StatusCode; 2] =
    [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY];

async fn a_register_form_with_invalid_utf8_escapes_is_a_bad_request_or_unprocessable(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let refused = BAD_REQUEST_OR_UNPROCESSABLE;

    for field in ["username", "email", "password"] {
        let user = TestUser::generate();
        let case = format!("register with %FF%FE in {field}");
        let response = post_page(&app, "/register", FORM, |csrf| {
            let fields: Vec<(&str, &str)> = register_fields(&user)
                .into_iter()
                .filter(|(name, _)| {
                    *name != field && !(field == "password" && *name == "password_confirm")
                })
                .collect();
            let bad = if field == "password" {
                "password=%FF%FEpassword1&password_confirm=%FF%FEpassword1".to_owned()
            } else {
                format!("{field}=%FF%FE{field}")
            };
            format!("{}&{bad}&csrf_token={csrf}", form(&fields))
        })
        .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &refused).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
}

async fn a_login_form_with_invalid_utf8_escapes_is_a_bad_request_or_unprocessable(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let refused = BAD_REQUEST_OR_UNPROCESSABLE;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for (case, body) in [
        (
            "login with %FF%FE in email",
            format!("email=%FF%FE{}&password={}", user.email, user.password),
        ),
        (
            "login with %FF%FE in password",
            format!("email={}&password=%FF%FE", user.email),
        ),
    ] {
        let response = post_page(&app, "/login", FORM, |csrf| {
            format!("{body}&csrf_token={csrf}")
        })
        .await;
        assert_not_logged_in(case, &response);
        html_answer(case, response, &refused).await;
    }
}

async fn a_nul_byte_in_a_form_username_or_email_is_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for field in ["username", "email"] {
        let user = TestUser::generate();
        let with_nul = match field {
            "username" => user.username.replacen('_', "\0", 1),
            _ => user.email.replacen('@', "\0@", 1),
        };
        let case = format!("register with NUL in {field}");
        let response = post_page(&app, "/register", FORM, |csrf| {
            let mut fields: Vec<(&str, &str)> = register_fields(&user)
                .into_iter()
                .filter(|(name, _)| *name != field)
                .collect();
            fields.push((field, &with_nul));
            fields.push(("csrf_token", csrf));
            let body = form(&fields);
            assert!(body.contains("%00"), "{body}");
            body
        })
        .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
}

async fn a_password_with_a_control_character_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser {
        password: "nul\0in-the-middle".to_owned(),
        ..TestUser::generate()
    };

    let response = post_page(&app, "/register", FORM, |csrf| {
        format!("{}&csrf_token={csrf}", form(&register_fields(&user)))
    })
    .await;
    let status = response.status();
    let page = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("Password must not contain control characters"),
        "{page}"
    );
    let api = app.api_register(&user.api_registration()).await;
    assert_eq!(api.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was stored: the email is still free.
    let clean = TestUser {
        password: "tangerine-kettle-47".to_owned(),
        ..user.clone()
    };
    app.register_via_api(&clean).await;
}

/// bcrypt stops reading at NUL: a 71-byte password P and P followed by NUL
/// would hash alike. Only P logs in.
async fn a_password_and_the_same_with_a_nul_are_not_both_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser {
        password: format!("tangerine-kettle-{}", "q".repeat(54)),
        ..TestUser::generate()
    };
    assert_eq!(user.password.len(), 71);
    app.register_via_api(&user).await;
    app.login_via_api(&user.email, &user.password).await;
    let with_nul = app
        .api_login(&json!({ "email": user.email, "password": format!("{}\0", user.password) }))
        .await;
    assert_eq!(with_nul.status(), StatusCode::UNAUTHORIZED);
    let browser = app.new_browser();
    let page = browser
        .login_via_form(&user.email, &format!("{}\0", user.password))
        .await;
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
}

/// Logins whose email or password holds a NUL: PostgreSQL refuses NUL in
/// text, and that must not surface as an error.
fn nul_logins(user: &TestUser) -> Vec<(&'static str, String, String)> {
    vec![
        (
            "NUL in the email",
            user.email.replacen('@', "\0@", 1),
            user.password.clone(),
        ),
        (
            "only a NUL as email",
            "\0".to_owned(),
            user.password.clone(),
        ),
        ("NUL in the password", user.email.clone(), "\0".to_owned()),
    ]
}

async fn a_nul_byte_in_a_login_form_is_an_ordinary_failed_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for (case, email, password) in nul_logins(&user) {
        let response = post_page(&app, "/login", FORM, |csrf| {
            form(&[
                ("email", &email),
                ("password", &password),
                ("csrf_token", csrf),
            ])
        })
        .await;
        assert_not_logged_in(case, &response);
        html_answer(
            case,
            response,
            &[StatusCode::UNAUTHORIZED, StatusCode::UNPROCESSABLE_ENTITY],
        )
        .await;
    }
    app.login_via_api(&user.email, &user.password).await;
}

async fn a_nul_character_in_an_api_login_is_an_ordinary_failed_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for (case, email, password) in nul_logins(&user) {
        let response = app
            .api_login(&json!({ "email": email, "password": password }))
            .await;
        json_answer(
            case,
            response,
            &[StatusCode::UNAUTHORIZED, StatusCode::UNPROCESSABLE_ENTITY],
        )
        .await;
    }
    app.login_via_api(&user.email, &user.password).await;
}

async fn a_form_of_another_content_type_is_unsupported_before_the_csrf_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for content_type in ["text/plain", JSON] {
        let user = TestUser::generate();
        let case = format!("register as {content_type}");
        let response = post_page(&app, "/register", content_type, |csrf| {
            if content_type == JSON {
                let mut body = user.api_registration();
                body["password_confirm"] = json!(user.password);
                body["csrf_token"] = json!(csrf);
                body.to_string()
            } else {
                format!("{}&csrf_token={csrf}", form(&register_fields(&user)))
            }
        })
        .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &[StatusCode::UNSUPPORTED_MEDIA_TYPE]).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }

    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for content_type in ["text/plain", JSON] {
        let case = format!("login as {content_type}");
        let response = post_page(&app, "/login", content_type, |csrf| {
            if content_type == JSON {
                json!({ "email": user.email, "password": user.password, "csrf_token": csrf })
                    .to_string()
            } else {
                form(&[
                    ("email", user.email.as_str()),
                    ("password", user.password.as_str()),
                    ("csrf_token", csrf),
                ])
            }
        })
        .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &[StatusCode::UNSUPPORTED_MEDIA_TYPE]).await;
    }

    // Without a session or a token at all, the content type still comes first.
    for path in ["/register", "/login", "/logout"] {
        let case = format!("POST {path} as text/plain without a csrf token");
        let response = app
            .new_browser()
            .post_raw(path, "text/plain", b"hello".to_vec())
            .await;
        html_answer(&case, response, &[StatusCode::UNSUPPORTED_MEDIA_TYPE]).await;
    }
}

async fn a_form_over_16_kib_is_too_large_with_or_without_a_content_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "a".repeat(OVERSIZED);

    for path in ["/register", "/login"] {
        let user = TestUser::generate();
        let (browser, csrf) = browser_with_csrf(&app, path).await;
        let mut fields = register_fields(&user).to_vec();
        fields.push(("csrf_token", &csrf));
        fields.push(("padding", &padding));
        let body = form(&fields);

        let case = format!("POST {path} of {} bytes with a Content-Length", body.len());
        let response = browser
            .post_raw(path, FORM, body.clone().into_bytes())
            .await;
        assert_not_logged_in(&case, &response);
        html_answer(&case, response, &[StatusCode::PAYLOAD_TOO_LARGE]).await;

        let case = format!("POST {path} of {} bytes, chunked", body.len());
        let answer = post_chunked(
            &app,
            path,
            FORM,
            Some(cookie_header(&browser)),
            body.into_bytes(),
        )
        .await;
        assert_eq!(answer.status, 413, "{case}: {}", answer.text);
        assert!(
            answer
                .text
                .to_ascii_lowercase()
                .contains("content-type: text/html"),
            "{case}: {}",
            answer.text
        );
        assert_no_leak(&case, &answer.text);
        assert!(
            !answer.text.contains(&format!("{AUTH_COOKIE}=ey")),
            "{case}: logged in: {}",
            answer.text
        );

        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
}

// ---- API ----

async fn an_api_body_that_is_not_json_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/register", "/api/login"] {
        let user = TestUser::generate();
        let valid = user.api_registration().to_string();
        for (case, body) in [
            ("an empty body", String::new()),
            ("not JSON", "{not json".to_owned()),
            (
                "a form",
                form(&[("email", &user.email), ("password", &user.password)]),
            ),
            ("cut short", valid[..valid.len() - 1].to_owned()),
            ("trailing garbage", format!("{valid} x")),
            ("two objects", format!("{valid}{valid}")),
            ("single quotes", valid.replace('"', "'")),
            ("a trailing comma", valid.replacen('}', ",}", 1)),
        ] {
            let case = format!("POST {path} with {case}");
            let response = app.post_raw(path, JSON, body.into_bytes()).await;
            json_answer(&case, response, &[StatusCode::BAD_REQUEST]).await;
        }
        assert_nothing_stored(&app, path, &user.email, &user.password).await;
    }
}

async fn an_api_body_of_another_or_no_content_type_is_unsupported(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/register", "/api/login"] {
        let user = TestUser::generate();
        let body = user.api_registration().to_string();
        for content_type in ["text/plain", FORM, "multipart/form-data; boundary=x"] {
            let case = format!("POST {path} as {content_type}");
            let response = app
                .post_raw(path, content_type, body.clone().into_bytes())
                .await;
            json_answer(&case, response, &[StatusCode::UNSUPPORTED_MEDIA_TYPE]).await;
        }
        let case = format!("POST {path} without a content type");
        let response = app
            .client
            .post(app.url(path))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        json_answer(&case, response, &[StatusCode::UNSUPPORTED_MEDIA_TYPE]).await;
        assert_nothing_stored(&app, path, &user.email, &user.password).await;
    }
}

/// JSON values that are not objects; serde would read a struct from an
/// array of its fields in order, which must not happen.
fn non_objects(fields: Value) -> Vec<(&'static str, Value)> {
    vec![
        ("an array", json!([1, 2, 3])),
        ("an empty array", json!([])),
        ("an array of the fields in order", fields),
        ("a string", json!("a string")),
        ("a number", json!(42)),
        ("null", Value::Null),
        ("true", json!(true)),
    ]
}

async fn an_api_registration_that_is_not_a_json_object_is_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let newcomer = TestUser::generate();

    let fields = json!([newcomer.username, newcomer.email, newcomer.password]);
    for (case, body) in non_objects(fields) {
        let case = format!("register with {case}");
        api_validation_errors(&case, app.api_register(&body).await).await;
    }
    assert_nothing_stored(&app, "arrays", &newcomer.email, &newcomer.password).await;
}

async fn an_api_login_that_is_not_a_json_object_is_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let member = TestUser::generate();
    app.register_via_api(&member).await;

    let fields = json!([member.email, member.password]);
    for (case, body) in non_objects(fields) {
        let case = format!("login with {case}");
        api_validation_errors(&case, app.api_login(&body).await).await;
    }
}

async fn api_fields_of_the_wrong_type_are_listed_in_the_detail(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for (field, value) in [
        ("username", json!(5)),
        ("email", json!(true)),
        ("password", json!(12_345_678)),
        ("password", json!(["a-long-password"])),
        ("email", json!({ "address": "x@example.com" })),
        ("username", Value::Null),
    ] {
        let user = TestUser::generate();
        let mut body = user.api_registration();
        body[field] = value.clone();
        let case = format!("register with {field} = {value}");
        api_validation_errors(&case, app.api_register(&body).await).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }

    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for (field, value) in [
        ("email", json!(5)),
        ("password", json!(12_345_678)),
        ("password", json!([user.password])),
        ("email", json!([user.email])),
    ] {
        let mut body = json!({ "email": user.email, "password": user.password });
        body[field] = value.clone();
        let case = format!("login with {field} = {value}");
        api_validation_errors(&case, app.api_login(&body).await).await;
    }
}

async fn api_bodies_with_missing_fields_are_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for missing in ["username", "email", "password"] {
        let user = TestUser::generate();
        let mut body = user.api_registration();
        body.as_object_mut().unwrap().remove(missing);
        let case = format!("register without {missing}");
        api_validation_errors(&case, app.api_register(&body).await).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
    api_validation_errors("register with {}", app.api_register(&json!({})).await).await;

    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for (case, body) in [
        ("login without email", json!({ "password": user.password })),
        ("login without password", json!({ "email": user.email })),
        ("login with {}", json!({})),
    ] {
        api_validation_errors(case, app.api_login(&body).await).await;
    }
}

async fn repeated_json_keys_are_a_bad_request_or_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let refused = [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY];

    for key in ["username", "email", "password"] {
        let user = TestUser::generate();
        let other = TestUser::generate();
        let second = match key {
            "username" => &other.username,
            "email" => &other.email,
            _ => &other.password,
        };
        let body = format!(
            r#"{{"username":"{}","email":"{}","password":"{}","{key}":"{second}"}}"#,
            user.username, user.email, user.password
        );
        let case = format!("register with {key} twice");
        let response = app.post_raw("/api/register", JSON, body.into_bytes()).await;
        json_answer(&case, response, &refused).await;
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
        assert_nothing_stored(&app, &case, &other.email, &other.password).await;
    }

    let user = TestUser::generate();
    app.register_via_api(&user).await;
    for body in [
        format!(
            r#"{{"email":"{0}","password":"wrong-password","password":"{1}"}}"#,
            user.email, user.password
        ),
        format!(
            r#"{{"email":"nobody@example.com","email":"{0}","password":"{1}"}}"#,
            user.email, user.password
        ),
    ] {
        let response = app
            .post_raw("/api/login", JSON, body.clone().into_bytes())
            .await;
        json_answer(&format!("login with {body}"), response, &refused).await;
    }
}

async fn invalid_utf8_in_a_json_body_is_a_bad_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/register", "/api/login"] {
        for field in ["username", "email", "password"] {
            let user = TestUser::generate();
            // The field under test starts with two bytes that are not UTF-8.
            let mut body = Vec::new();
            for (name, value) in [
                ("username", user.username.as_bytes()),
                ("email", user.email.as_bytes()),
                ("password", user.password.as_bytes()),
            ] {
                body.extend_from_slice(if body.is_empty() { b"{" } else { b"," });
                body.extend_from_slice(format!(r#""{name}":""#).as_bytes());
                if name == field {
                    body.extend_from_slice(b"\xff\xfe");
                }
                body.extend_from_slice(value);
                body.push(b'"');
            }
            body.push(b'}');
            let case = format!("POST {path} with invalid UTF-8 in {field}");
            let response = app.post_raw(path, JSON, body).await;
            json_answer(&case, response, &[StatusCode::BAD_REQUEST]).await;
            assert_nothing_stored(&app, &case, &user.email, &user.password).await;
        }
    }
}

async fn a_nul_character_in_an_api_username_or_email_is_unprocessable(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for field in ["username", "email"] {
        let user = TestUser::generate();
        let mut body = user.api_registration();
        body[field] = json!(match field {
            "username" => user.username.replacen('_', "\0", 1),
            _ => user.email.replacen('@', "\0@", 1),
        });
        assert!(body.to_string().contains("\\u0000"), "{body}");
        let case = format!("register with NUL in {field}");
        let errors = api_validation_errors(&case, app.api_register(&body).await).await;
        assert!(
            errors.iter().any(|(f, _)| f == field),
            "{case}: no error for {field} in {errors:?}"
        );
        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
}

async fn a_nul_character_in_an_api_password_never_causes_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser {
        password: "nul\0in-the-middle".to_owned(),
        ..TestUser::generate()
    };

    let response = app.api_register(&user.api_registration()).await;

    // The form treats NUL in a password as a character; the API may do the
    // same or refuse it, but never fail.
    let status = response.status();
    let body = json_answer(
        "register with NUL in the password",
        response,
        &[StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
    )
    .await;
    if status == StatusCode::CREATED {
        assert_eq!(body["email"], json!(user.email));
        app.login_via_api(&user.email, &user.password).await;
        for wrong in ["nul", "nulin-the-middle"] {
            let login = app
                .api_login(&json!({ "email": user.email, "password": wrong }))
                .await;
            assert_eq!(
                login.status(),
                StatusCode::UNAUTHORIZED,
                "password {wrong:?}"
            );
        }
    } else {
        assert_nothing_stored(&app, "NUL in the password", &user.email, &user.password).await;
    }
}

async fn unknown_api_fields_are_ignored_and_never_applied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = TestUser::generate();
    let first_id = app.register_via_api(&first).await["id"].clone();

    let user = TestUser::generate();
    let mut body = user.api_registration();
    body["id"] = first_id.clone();
    body["hashed_password"] = json!("x");
    body["is_admin"] = json!(true);
    body["username_key"] = json!("admin");
    body["created_at"] = json!("1970-01-01T00:00:00");
    let response = app.api_register(&body).await;
    let created = json_answer(
        "register with extra fields",
        response,
        &[StatusCode::CREATED],
    )
    .await;
    assert_ne!(created["id"], first_id, "the id was forced: {created}");
    assert!(created["id"].is_i64(), "{created}");
    assert!(created.get("is_admin").is_none(), "{created}");
    assert!(created.get("hashed_password").is_none(), "{created}");

    let forced = TestUser::generate();
    let mut body = forced.api_registration();
    body["id"] = json!(987_654);
    let created_forced = json_body(app.api_register(&body).await, StatusCode::CREATED).await;
    assert_ne!(created_forced["id"], json!(987_654), "{created_forced}");

    let token = app.login_via_api(&user.email, &user.password).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["id"], created["id"]);
    assert_eq!(me["email"], json!(user.email));
    assert!(me.get("is_admin").is_none(), "{me}");
    let with_x = app
        .api_login(&json!({ "email": user.email, "password": "x" }))
        .await;
    assert_eq!(with_x.status(), StatusCode::UNAUTHORIZED);
    // The first user is untouched.
    let token = app.login_via_api(&first.email, &first.password).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["id"], first_id);
    assert_eq!(me["email"], json!(first.email));
    // The username key was not taken over either.
    let admin = TestUser {
        username: "admin".to_owned(),
        ..TestUser::generate()
    };
    app.register_via_api(&admin).await;
    // And login ignores extra fields too.
    let mut login = json!({ "email": user.email, "password": user.password });
    login["id"] = first_id;
    json_answer(
        "login with extra fields",
        app.api_login(&login).await,
        &[StatusCode::OK],
    )
    .await;
}

async fn an_api_body_over_16_kib_is_too_large_with_or_without_a_content_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for path in ["/api/register", "/api/login"] {
        let user = TestUser::generate();
        let mut body = user.api_registration();
        body["padding"] = json!("a".repeat(OVERSIZED));
        let body = body.to_string();

        let case = format!("POST {path} of {} bytes with a Content-Length", body.len());
        let response = app.post_raw(path, JSON, body.clone().into_bytes()).await;
        json_answer(&case, response, &[StatusCode::PAYLOAD_TOO_LARGE]).await;

        let case = format!("POST {path} of {} bytes, chunked", body.len());
        let answer = post_chunked(&app, path, JSON, None, body.into_bytes()).await;
        assert_eq!(answer.status, 413, "{case}: {}", answer.text);
        assert!(
            answer
                .text
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{case}: {}",
            answer.text
        );
        assert!(
            answer.text.contains("\"detail\""),
            "{case}: {}",
            answer.text
        );
        assert_no_leak(&case, &answer.text);

        assert_nothing_stored(&app, &case, &user.email, &user.password).await;
    }
}

async fn sql_looking_input_is_stored_literally_or_refused_never_executed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = TestUser::generate();
    app.register_via_api(&first).await;

    let quoted = TestUser {
        username: "obrien".to_owned(),
        email: "o'brien+x@example.com".to_owned(),
        password: "' OR '1'='1' --".to_owned(),
    };
    let created = json_body(
        app.api_register(&quoted.api_registration()).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["email"], json!(quoted.email));
    let token = app.login_via_api(&quoted.email, &quoted.password).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["email"], json!("o'brien+x@example.com"));
    assert_eq!(me["username"], json!("obrien"));
    let page = app
        .new_browser()
        .login_via_form(&quoted.email, &quoted.password)
        .await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);

    for (email, password) in [
        ("' OR '1'='1", "x' OR 'x'='x"),
        ("' OR 1=1 --", "x' OR 'x'='x"),
        ("o'brien+x@example.com' --", "x' OR 'x'='x"),
        // Lower case: the login form shows the email again, and upper-case SQL
        // keywords count as leaks.
        ("' union select 1, 'a', 'b', 'c', 'd', 'e' --", "x"),
        (first.email.as_str(), "' OR '1'='1' --"),
        (first.email.as_str(), "x' OR 'x'='x"),
    ] {
        let case = format!("login as {email:?} with {password:?}");
        let response = app
            .api_login(&json!({ "email": email, "password": password }))
            .await;
        json_answer(&case, response, &[StatusCode::UNAUTHORIZED]).await;
        let response = app.new_browser().login_via_form(email, password).await;
        assert_not_logged_in(&case, &response);
        let page = html_answer(&case, response, &[StatusCode::UNAUTHORIZED]).await;
        assert!(page.contains(INVALID_CREDENTIALS), "{case}");
    }

    let dropper = TestUser {
        username: "robert'); DROP TABLE users;--".to_owned(),
        ..TestUser::generate()
    };
    let errors = api_validation_errors(
        "a username that drops the table",
        app.api_register(&dropper.api_registration()).await,
    )
    .await;
    assert!(errors.iter().any(|(f, _)| f == "username"), "{errors:?}");
    let response = app.new_browser().register_via_form(&dropper).await;
    html_answer(
        "a username that drops the table, through the form",
        response,
        &[StatusCode::UNPROCESSABLE_ENTITY],
    )
    .await;

    // The table is still there, with both users in it.
    let token = app.login_via_api(&first.email, &first.password).await;
    let me = json_body(app.api_me(&token).await, StatusCode::OK).await;
    assert_eq!(me["email"], json!(first.email));
    app.login_via_api(&quoted.email, &quoted.password).await;
    assert_nothing_stored(&app, "after the SQL", &dropper.email, &dropper.password).await;
}

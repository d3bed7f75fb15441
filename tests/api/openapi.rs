//! `GET /api/openapi.json`: an OpenAPI 3.1 document that lists every API
//! route the server has (and nothing else), whose schemas real answers
//! match, that schemathesis finds true against the live server, and from
//! which a client generator makes a client that works.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::header::{ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Browser, TestApp, TestUser, needed, runs};

backend_tests!(
    the_document_is_openapi_3_1_and_lists_every_api_route,
    real_answers_match_their_documented_schemas,
    schemathesis_finds_the_server_true_to_the_document,
    a_client_generated_from_the_document_works_against_the_server,
);

/// Every route under `/api` the server has: what the document must list.
const API_ROUTES: [(&str, &str); 13] = [
    ("POST", "/api/register"),
    ("POST", "/api/login"),
    ("POST", "/api/refresh"),
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    ("DELETE", "/api/me"),
    ("POST", "/api/me/verify-email"),
    ("POST", "/api/me/password"),
    ("POST", "/api/password/forgot"),
    ("POST", "/api/password/reset"),
    ("GET", "/api/sessions"),
    ("DELETE", "/api/sessions/{id}"),
    ("GET", "/api/openapi.json"),
];

/// The operations that need no login.
const OPEN: [&str; 6] = [
    "/api/register",
    "/api/login",
    "/api/refresh",
    "/api/password/forgot",
    "/api/password/reset",
    "/api/openapi.json",
];

/// The pinned version `.ci/run` installs.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// The client generator `.ci/run` installs, at this version.
const CLIENT_GENERATOR: &str = "openapi-python-client==0.29.1";
/// Drives the generated client through the account's life.
const CLIENT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/api_client.py");
/// Test cases per operation and phase: enough to reach every documented
/// status, few enough to stay well under a minute.
const SCHEMATHESIS_EXAMPLES: &str = "60";
const SCHEMATHESIS_TIMEOUT: Duration = Duration::from_secs(300);

async fn fetch_document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = header(&response, CONTENT_TYPE.as_str());
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?}"
    );
    response.json().await.expect("the document is not JSON")
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// (METHOD, path) of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("no paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is not an object");
            item.keys()
                .filter(|key| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&key.as_str())
                })
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The paths `src/startup.rs` registers inside its `/api` scope, read
/// from the source, so that a route added there without a line in
/// [`API_ROUTES`] (and so in the document) fails this test.
fn paths_in_startup() -> BTreeSet<String> {
    let source = include_str!("../../src/startup.rs");
    let start = source
        .find(r#"web::scope("/api")"#)
        .expect("src/startup.rs has no /api scope");
    let end = start
        + source[start..]
            .find(".default_service(")
            .expect("the /api scope has no default service");
    source[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/') && *literal != "/api")
        .map(|literal| {
            if literal.starts_with("/api/") {
                literal.to_owned()
            } else {
                format!("/api{literal}")
            }
        })
        .collect()
}

/// A request the route answers whatever the caller: no login, an empty
/// JSON object for a body.
async fn probe(browser: &Browser, method: &str, path: &str) -> Response {
    let url = browser.url(&path.replace("{id}", "no-such-session"));
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = browser.client.request(method.clone(), url);
    if method != Method::GET {
        request = request.json(&json!({}));
    }
    request.send().await.expect("the request failed")
}

async fn the_document_is_openapi_3_1_and_lists_every_api_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = fetch_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "gatehouse");

    let listed: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        documented_operations(&doc),
        listed,
        "the document and the server's routes differ"
    );
    let listed_paths: BTreeSet<String> = API_ROUTES.iter().map(|(_, p)| (*p).to_owned()).collect();
    assert_eq!(
        paths_in_startup(),
        listed_paths,
        "src/startup.rs registers other /api paths than the document lists"
    );

    let mut methods_by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in API_ROUTES {
        methods_by_path.entry(path).or_default().insert(method);
        // The route is there: neither the API's 404 nor a 405.
        let response = probe(&app.browser, method, path).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && path != "/api/sessions/{id}"),
            "{method} {path}: {status} {body}"
        );
        let operation = &doc["paths"][path][method.to_lowercase()];
        let locked = operation["security"] == json!([{"bearer": []}]);
        assert_eq!(
            locked,
            !OPEN.contains(&path),
            "{method} {path}: security {}",
            operation["security"]
        );
        if locked {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
        assert!(
            operation["responses"][status.as_str()].is_object(),
            "{method} {path} answered {status}, which the document does not list: {body}"
        );
    }
    // Each path takes only the documented methods (and HEAD with GET):
    // its 405 for a method no route takes says which in `Allow`.
    for (path, methods) in methods_by_path {
        let response = probe(&app.browser, "PATCH", path).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = header(&response, ALLOW.as_str());
        let allowed: BTreeSet<&str> = allow
            .split(',')
            .map(str::trim)
            .filter(|m| *m != "HEAD")
            .collect();
        assert_eq!(allowed, methods, "Allow of {path}");
        let head = allow.split(',').any(|m| m.trim() == "HEAD");
        assert_eq!(head, methods.contains("GET"), "HEAD on {path}: {allow}");
    }

    let schemes = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(schemes["type"], "http");
    assert_eq!(schemes["scheme"], "bearer");
    assert_eq!(schemes["bearerFormat"], "JWT");
}

/// Checks an answer against the schema the document gives for its
/// operation and status; returns the body.
async fn assert_documented(doc: &Value, method: &str, path: &str, response: Response) -> Value {
    let status = response.status();
    let content_type = header(&response, CONTENT_TYPE.as_str());
    let text = response.text().await.expect("no body");
    let documented = &doc["paths"][path][method]["responses"][status.as_str()];
    assert!(
        documented.is_object(),
        "{method} {path}: {status} is not documented: {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path} {status}: Content-Type {content_type:?}"
    );
    let body: Value = serde_json::from_str(&text).expect("the answer is not JSON");
    // The document is the schema's root, so that its `$ref`s resolve.
    let pointer = format!(
        "#/paths/{}/{method}/responses/{}/content/application~1json/schema",
        path.replace('~', "~0")
            .replace('/', "~1")
            .replace('{', "%7B")
            .replace('}', "%7D"),
        status.as_str()
    );
    let mut schema = doc.clone();
    schema["$ref"] = json!(pointer);
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the schema does not build: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {body} does not match its schema: {errors:?}"
    );
    body
}

async fn real_answers_match_their_documented_schemas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = fetch_document(&app).await;
    let user = TestUser::generate();

    let created = app.api_register(&user.api_registration()).await;
    assert_documented(&doc, "post", "/api/register", created).await;

    let login = app.api_login(&user.api_login()).await;
    let tokens = assert_documented(&doc, "post", "/api/login", login).await;
    assert_eq!(tokens["token_type"], "bearer");
    let token = tokens["access_token"].as_str().expect("no access_token");

    let me = app.api_me(token).await;
    let me = assert_documented(&doc, "get", "/api/me", me).await;
    assert_eq!(me["email"], user.email.as_str());

    let sessions = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET failed");
    let sessions = assert_documented(&doc, "get", "/api/sessions", sessions).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");

    // 401: a wrong password, and no token, with the bearer challenge.
    let wrong = app
        .api_login(&json!({ "email": user.email, "password": "not the password" }))
        .await;
    let refusal = assert_documented(&doc, "post", "/api/login", wrong).await;
    assert_eq!(refusal["detail"], "Invalid email or password");
    let anonymous = app.get("/api/me").await;
    assert_eq!(header(&anonymous, WWW_AUTHENTICATE.as_str()), "Bearer");
    let documented_challenge =
        &doc["paths"]["/api/me"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"];
    assert!(documented_challenge.is_object(), "401 of GET /api/me");
    assert_documented(&doc, "get", "/api/me", anonymous).await;

    // 422: invalid fields, listed.
    let invalid = app
        .api_register(&json!({ "username": "x", "email": "not an address", "password": 5 }))
        .await;
    let errors = assert_documented(&doc, "post", "/api/register", invalid).await;
    assert!(!errors["detail"].as_array().expect("a list").is_empty());

    // The edge's answers: a body that is not JSON, and one of another type.
    let broken = app
        .post_raw("/api/login", "application/json", b"{".to_vec())
        .await;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_documented(&doc, "post", "/api/login", broken).await;
    let text = app
        .post_raw("/api/login", "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_documented(&doc, "post", "/api/login", text).await;
    let big = app
        .post_raw("/api/refresh", "application/json", vec![b' '; 17 * 1024])
        .await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_documented(&doc, "post", "/api/refresh", big).await;

    // A spent refresh token, and a session that is not the caller's.
    let refused = app.api_refresh("no-such-refresh-token").await;
    assert_documented(&doc, "post", "/api/refresh", refused).await;
    let unknown = app
        .client
        .delete(app.url("/api/sessions/no-such-session"))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE failed");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_documented(&doc, "delete", "/api/sessions/{id}", unknown).await;
}

/// `program` (installed from PyPI as `pin`), or `None` (one line for the
/// run) when it is missing outside CI.
fn python_tool(program: &'static str, pin: &str) -> Option<&'static str> {
    static NOTICE: Once = Once::new();
    needed(
        runs(program, &["--version"]),
        &NOTICE,
        "the OpenAPI tools' tests",
        &format!("pip install {pin}"),
    )
    .then_some(program)
}

async fn schemathesis_finds_the_server_true_to_the_document(backend: Backend) {
    let Some(program) = python_tool("schemathesis", SCHEMATHESIS) else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let user = app.register_user().await;
    // Locked operations get a token from `POST /api/login`, and a new one
    // whenever an answer is 401: generated logouts and ended sessions do
    // not leave the rest of the run without a login.
    let config = app.database.dir.path().join("schemathesis.toml");
    let payload = json!({ "email": user.email, "password": user.password });
    std::fs::write(
        &config,
        format!(
            "[auth.dynamic.openapi.bearer]\npath = \"/api/login\"\npayload = {{ email = {}, password = {} }}\nextract_selector = \"/access_token\"\n",
            payload["email"], payload["password"]
        ),
    )
    .expect("writing the schemathesis configuration");

    let mut child = Command::new(program)
        .arg("--config-file")
        .arg(&config)
        .args([
            "--no-color",
            "run",
            &app.url("/api/openapi.json"),
            "--checks",
            "all",
            // "Schema-valid data is accepted" cannot hold for an API whose
            // fields have rules a schema does not state (common passwords,
            // NFKC) or name something that must exist (a reset token).
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            SCHEMATHESIS_EXAMPLES,
            "--generation-database",
            "none",
        ])
        .current_dir(app.database.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis did not start");
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for schemathesis") {
            break status;
        }
        if started.elapsed() > SCHEMATHESIS_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis did not finish within {SCHEMATHESIS_TIMEOUT:?}:\n{}",
                stdout.join().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    assert!(
        status.success(),
        "schemathesis found the server untrue to its document ({status}):\n{stdout}\n{stderr}\nserver log:\n{}",
        app.logs()
    );
    // It ran the locked operations with a valid token, not only into 401s.
    // `POST /api/refresh` is the exception: its credential is in the body,
    // and whether a generated run reaches it with a live one (a login's,
    // through the document's link) is chance.
    let refused_only = operations_refused_only(&stdout);
    assert!(
        refused_only.iter().all(|op| op == "POST /api/refresh"),
        "schemathesis could not log in for {refused_only:?}:\n{stdout}"
    );
}

/// What a client developer does with the document: generate a client
/// (openapi-python-client, one of the generators the README names) and use
/// it. Each call's status and the generated type its answer was parsed into
/// must be the documented ones.
async fn a_client_generated_from_the_document_works_against_the_server(backend: Backend) {
    let Some(generator) = python_tool("openapi-python-client", CLIENT_GENERATOR) else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    let dir = app.database.dir.path();
    let document = app
        .get("/api/openapi.json")
        .await
        .text()
        .await
        .expect("the document");
    std::fs::write(dir.join("gatehouse.json"), document).expect("writing the document");
    let generated = Command::new(generator)
        .args([
            "generate",
            "--path",
            "gatehouse.json",
            "--output-path",
            "client",
        ])
        .args(["--meta", "none"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the generator did not start");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    assert!(generated.status.success(), "{said}");
    // A warning means a part of the document it could not turn into code.
    assert!(!said.to_lowercase().contains("warning"), "{said}");

    let user = TestUser::generate();
    let used = Command::new("python3")
        .arg(CLIENT_SCRIPT)
        .arg(dir)
        .arg(app.url(""))
        .args([&user.username, &user.email, &user.password])
        .stdin(Stdio::null())
        .output()
        .expect("python3 did not start");
    let stdout = String::from_utf8_lossy(&used.stdout);
    assert!(
        used.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&used.stderr)
    );
    let calls: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let seen: Vec<(&str, u64, &str)> = calls
        .iter()
        .map(|call| {
            (
                call["operation"].as_str().unwrap_or_default(),
                call["status"].as_u64().unwrap_or_default(),
                call["parsed"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("register", 201, "User"),
            ("register again", 409, "Detail"),
            ("login, wrong password", 401, "LoginRefusal"),
            ("login", 200, "TokenPair"),
            ("me", 200, "User"),
            ("sessions", 200, "list[Session]"),
            ("refresh", 200, "TokenPair"),
            ("logout", 204, "NoneType"),
            ("me after logout", 401, "Detail"),
            ("me, renewed token after logout", 401, "Detail"),
        ],
        "{stdout}"
    );
    // The account the client read is the one it made, with this login.
    assert_eq!(calls[4]["email"], user.email.as_str(), "{stdout}");
    assert_eq!(calls[4]["id"], true, "{stdout}");
    assert_eq!(calls[5]["current"], json!([true]), "{stdout}");
}

/// The operations schemathesis says answered nothing but 401 or 403.
fn operations_refused_only(stdout: &str) -> Vec<String> {
    let Some((_, after)) = stdout.split_once("Authentication failed:") else {
        return Vec::new();
    };
    after
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("- "))
        .take_while(|line| line.trim_start().starts_with("- "))
        .map(|line| line.trim_start().trim_start_matches("- ").trim().to_owned())
        .collect()
}

#[test]
fn the_operations_refused_only_are_read_from_the_warning() {
    let warned = "Authentication failed: 2 operations returned only 401/403 responses\n\n\
                  401 Unauthorized (2 operations):\n  - POST /api/refresh\n  - GET /api/me\n\n\
                  💡 Ensure valid authentication credentials are set\n";
    assert_eq!(
        operations_refused_only(warned),
        ["POST /api/refresh", "GET /api/me"]
    );
    assert!(operations_refused_only("✅ 61 passed\n").is_empty());
}

fn read_all<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

//! Response headers (security policy, caching, HSTS), the CSRF defence in
//! depth through `Origin` and `Sec-Fetch-Site`, `next` redirects that must
//! stay on the site, and error pages.

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, ORIGIN};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    Backend, Browser, FORM, LEAKS, LOGIN_FOR_ME, TestApp, TestUser, csrf_from, find_csrf,
    input_value, json_body, location,
};

backend_tests!(
    every_html_response_carries_the_security_headers,
    no_response_names_the_server,
    the_account_page_the_login_page_and_the_login_and_logout_redirects_are_not_cached,
    logging_out_clears_the_cache_but_not_the_cookies_through_clear_site_data,
    with_secure_cookies_every_response_asks_for_https_for_a_year,
    without_secure_cookies_no_response_asks_for_https,
    api_answers_are_not_sniffed,
    a_cross_site_form_post_with_a_valid_csrf_token_is_forbidden_and_changes_nothing,
    a_same_origin_form_post_with_a_valid_csrf_token_is_allowed,
    the_api_ignores_origin_and_fetch_metadata,
    a_next_that_leaves_the_site_redirects_to_the_account_page,
    a_local_next_is_kept,
    the_login_page_reflects_next_only_escaped,
    error_pages_are_html_in_the_layout_without_internal_details,
);

const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";
const HSTS: &str = "strict-transport-security";
const SEC_FETCH_SITE: &str = "sec-fetch-site";
const CLEAR_SITE_DATA: &str = "clear-site-data";
const ONE_YEAR: u64 = 31_536_000;

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("<not ASCII>").to_owned())
        .collect()
}

/// Asserts the four security headers of an HTML response, each once and exact.
fn assert_security_headers(case: &str, headers: &HeaderMap) {
    for (name, expected) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(
            values(headers, name),
            [expected],
            "{case}: {name} in {headers:?}"
        );
    }
}

fn assert_no_server_header(case: &str, headers: &HeaderMap) {
    assert!(
        headers.get("server").is_none(),
        "{case}: Server: {:?}",
        headers.get("server")
    );
}

/// Whether `Cache-Control` holds the `no-store` directive.
fn has_no_store(headers: &HeaderMap) -> bool {
    values(headers, CACHE_CONTROL.as_str()).iter().any(|value| {
        value
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    })
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

fn assert_no_leak(case: &str, body: &str) {
    for leak in LEAKS {
        assert!(
            !body.contains(leak),
            "{case}: the answer contains {leak:?}:\n{body}"
        );
    }
}

/// One response of each kind the app gives, with a name, for header checks.
struct Sample {
    case: &'static str,
    status: StatusCode,
    headers: HeaderMap,
}

async fn sample(case: &'static str, response: Response) -> Sample {
    let status = response.status();
    let headers = response.headers().clone();
    // Read the body so the connection is reused cleanly.
    let _ = response.bytes().await;
    Sample {
        case,
        status,
        headers,
    }
}

/// A body form-encoded from `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("the form encodes")
}

/// Every kind of page answer: 200s, 303s and each error status.
async fn page_samples(app: &TestApp) -> Vec<Sample> {
    let mut samples = Vec::new();
    let visitor = app.new_browser();
    samples.push(sample("GET / anonymous", visitor.get_home().await).await);
    samples.push(sample("GET /login", visitor.get_login(None).await).await);
    samples.push(sample("GET /register", visitor.get_register().await).await);
    samples.push(sample("GET /me anonymous (303)", visitor.get_me().await).await);
    samples.push(sample("GET /nowhere (404)", visitor.get("/nowhere").await).await);
    samples.push(
        sample(
            "DELETE /login (405)",
            visitor
                .client
                .delete(visitor.url("/login"))
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    samples.push(
        sample(
            "POST /login without csrf (403)",
            visitor
                .post_login(&[("email", "a@example.com"), ("password", "password-1")])
                .await,
        )
        .await,
    );
    let csrf = visitor.csrf_token_from("/register").await;
    let padding = "a".repeat(20 * 1024);
    samples.push(
        sample(
            "POST /register over 16 KiB (413)",
            visitor
                .post_register(&[("csrf_token", csrf.as_str()), ("padding", &padding)])
                .await,
        )
        .await,
    );
    samples.push(
        sample(
            "POST /register invalid (422)",
            visitor
                .post_register(&[
                    ("username", "x"),
                    ("email", "nope"),
                    ("password", "short"),
                    ("password_confirm", "other"),
                    ("csrf_token", &csrf),
                ])
                .await,
        )
        .await,
    );
    let csrf = visitor.csrf_token_from("/login").await;
    samples.push(
        sample(
            "POST /login wrong password (401)",
            visitor
                .post_login(&[
                    ("email", "nobody@example.com"),
                    ("password", "wrong-password"),
                    ("csrf_token", &csrf),
                ])
                .await,
        )
        .await,
    );
    samples.push(
        sample(
            "POST /login repeated field (400)",
            visitor
                .post_raw(
                    "/login",
                    FORM,
                    format!("email=a&email=b&csrf_token={csrf}").into_bytes(),
                )
                .await,
        )
        .await,
    );

    let member = app.new_browser();
    let user = TestUser::generate();
    samples.push(
        sample(
            "POST /register (303)",
            member.register_via_form(&user).await,
        )
        .await,
    );
    samples.push(sample("GET / logged in", member.get_home().await).await);
    samples.push(sample("GET /me logged in", member.get_me().await).await);
    samples.push(sample("POST /logout (303)", member.logout_via_form().await).await);
    samples.push(
        sample(
            "POST /login (303)",
            member.login_via_form(&user.email, &user.password).await,
        )
        .await,
    );
    samples.push(
        sample(
            "POST /register taken (409)",
            app.new_browser().register_via_form(&user).await,
        )
        .await,
    );
    samples
}

async fn api_samples(app: &TestApp) -> Vec<Sample> {
    let user = TestUser::generate();
    let mut samples = vec![
        sample(
            "POST /api/register (201)",
            app.api_register(&user.api_registration()).await,
        )
        .await,
        sample(
            "POST /api/register taken (409)",
            app.api_register(&user.api_registration()).await,
        )
        .await,
        sample(
            "POST /api/register invalid (422)",
            app.api_register(&json!({ "username": "x" })).await,
        )
        .await,
        sample(
            "POST /api/login not JSON (400)",
            app.post_raw("/api/login", "application/json", b"{".to_vec())
                .await,
        )
        .await,
        sample(
            "POST /api/login as text (415)",
            app.post_raw("/api/login", "text/plain", b"{}".to_vec())
                .await,
        )
        .await,
        sample(
            "POST /api/login wrong password (401)",
            app.api_login(&json!({ "email": user.email, "password": "wrong-password" }))
                .await,
        )
        .await,
        sample(
            "GET /api/me without a token (401)",
            app.api_me("nope").await,
        )
        .await,
        sample("GET /api/nowhere (404)", app.get("/api/nowhere").await).await,
    ];
    let token = app.login_via_api(&user.email, &user.password).await;
    samples.push(sample("GET /api/me (200)", app.api_me(&token).await).await);
    samples.push(sample("POST /api/logout (204)", app.api_logout(&token).await).await);
    samples
}

async fn other_samples(app: &TestApp) -> Vec<Sample> {
    vec![
        sample("GET /static/style.css", app.get("/static/style.css").await).await,
        sample(
            "GET /static/nothing.css (404)",
            app.get("/static/nothing.css").await,
        )
        .await,
        sample("GET /healthz", app.healthz().await).await,
    ]
}

async fn every_html_response_carries_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let samples = page_samples(&app).await;

    for sample in &samples {
        let redirect = sample.status == StatusCode::SEE_OTHER;
        assert!(
            redirect || is_html(&sample.headers),
            "{}: {} is not HTML: {:?}",
            sample.case,
            sample.status,
            sample.headers
        );
        assert_security_headers(sample.case, &sample.headers);
    }
    let statuses: Vec<u16> = samples.iter().map(|s| s.status.as_u16()).collect();
    for status in [200, 303, 400, 401, 403, 404, 405, 409, 413, 422] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
}

async fn no_response_names_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let mut samples = page_samples(&app).await;
    samples.extend(api_samples(&app).await);
    samples.extend(other_samples(&app).await);

    for sample in &samples {
        assert_no_server_header(sample.case, &sample.headers);
    }
}

async fn the_account_page_the_login_page_and_the_login_and_logout_redirects_are_not_cached(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let user = app.register_and_login_via_form().await;

    let me = app.get_me().await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(has_no_store(me.headers()), "GET /me: {:?}", me.headers());

    let logout = app.logout_via_form().await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert!(
        has_no_store(logout.headers()),
        "POST /logout: {:?}",
        logout.headers()
    );

    let login_page = app.get_login(Some("/me")).await;
    assert_eq!(login_page.status(), StatusCode::OK);
    assert!(
        has_no_store(login_page.headers()),
        "GET /login: {:?}",
        login_page.headers()
    );

    let login = app.login_via_form(&user.email, &user.password).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert!(
        has_no_store(login.headers()),
        "POST /login: {:?}",
        login.headers()
    );
}

async fn logging_out_clears_the_cache_but_not_the_cookies_through_clear_site_data(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.register_and_login_via_form().await;

    let logout = app.logout_via_form().await;

    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        values(logout.headers(), CLEAR_SITE_DATA),
        ["\"cache\""],
        "{:?}",
        logout.headers()
    );
    // Logging out without a session token clears the cache all the same.
    let anonymous = app.new_browser();
    let csrf = anonymous.csrf_token_from("/login").await;
    let logout = anonymous
        .post_logout(&[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(values(logout.headers(), CLEAR_SITE_DATA), ["\"cache\""]);
    // Other answers do not clear anything.
    let home = app.get_home().await;
    assert!(home.headers().get(CLEAR_SITE_DATA).is_none());
}

fn hsts_max_age(case: &str, headers: &HeaderMap) -> u64 {
    let hsts = values(headers, HSTS);
    assert_eq!(hsts.len(), 1, "{case}: {HSTS}: {hsts:?}");
    hsts[0]
        .split(';')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("{case}: no max-age in {:?}", hsts[0]))
}

async fn with_secure_cookies_every_response_asks_for_https_for_a_year(backend: Backend) {
    let app = TestApp::builder(backend)
        .env("GATEHOUSE_COOKIE_SECURE", "true")
        .spawn()
        .await;

    let mut samples = api_samples(&app).await;
    samples.extend(other_samples(&app).await);
    let visitor = app.new_browser();
    samples.push(sample("GET /", visitor.get_home().await).await);
    samples.push(sample("GET /login", visitor.get_login(None).await).await);
    samples.push(sample("GET /register", visitor.get_register().await).await);
    samples.push(sample("GET /me (303)", visitor.get_me().await).await);
    samples.push(sample("GET /nowhere (404)", visitor.get("/nowhere").await).await);
    samples.push(
        sample(
            "POST /login without csrf (403)",
            visitor.post_login(&[("email", "a@example.com")]).await,
        )
        .await,
    );

    for sample in &samples {
        let max_age = hsts_max_age(sample.case, &sample.headers);
        assert!(max_age >= ONE_YEAR, "{}: max-age={max_age}", sample.case);
    }
}

async fn without_secure_cookies_no_response_asks_for_https(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let mut samples = page_samples(&app).await;
    samples.extend(api_samples(&app).await);
    samples.extend(other_samples(&app).await);

    for sample in &samples {
        assert!(
            sample.headers.get(HSTS).is_none(),
            "{}: {:?}",
            sample.case,
            sample.headers.get(HSTS)
        );
    }
}

async fn api_answers_are_not_sniffed(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for sample in api_samples(&app).await {
        assert_eq!(
            values(&sample.headers, "x-content-type-options"),
            ["nosniff"],
            "{}",
            sample.case
        );
    }
}

/// A state-changing form, posted with a valid CSRF token and extra headers.
#[derive(Clone, Copy, Debug)]
enum Form {
    Login,
    Register,
    Logout,
}

/// A browser ready to post `form`, the token, and the user it concerns.
struct Prepared {
    browser: Browser,
    csrf: String,
    user: TestUser,
}

async fn prepare(app: &TestApp, form: Form) -> Prepared {
    let browser = app.new_browser();
    let user = TestUser::generate();
    let csrf = match form {
        Form::Login => {
            app.register_via_api(&user).await;
            browser.csrf_token_from("/login").await
        }
        Form::Register => browser.csrf_token_from("/register").await,
        Form::Logout => {
            let response = browser.register_via_form(&user).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let home = browser.get_home().await.text().await.unwrap();
            csrf_from(&home)
        }
    };
    Prepared {
        browser,
        csrf,
        user,
    }
}

async fn post_with_headers(prepared: &Prepared, form: Form, headers: &[(&str, &str)]) -> Response {
    let Prepared {
        browser,
        csrf,
        user,
    } = prepared;
    let (path, fields): (&str, Vec<(&str, &str)>) = match form {
        Form::Login => (
            "/login",
            vec![
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
                ("csrf_token", csrf.as_str()),
            ],
        ),
        Form::Register => ("/register", user.register_form(csrf).to_vec()),
        Form::Logout => ("/logout", vec![("csrf_token", csrf.as_str())]),
    };
    let mut request = browser.client.post(browser.url(path)).form(&fields);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST failed")
}

/// Asserts that the refused post changed nothing.
async fn assert_unchanged(app: &TestApp, prepared: &Prepared, form: Form, case: &str) {
    let Prepared { browser, user, .. } = prepared;
    match form {
        Form::Login => {
            assert!(browser.auth_cookie().is_none(), "{case}: logged in");
            assert_eq!(
                location(&browser.get_me().await),
                LOGIN_FOR_ME,
                "{case}: logged in"
            );
        }
        Form::Register => {
            let login = app
                .api_login(&json!({ "email": user.email, "password": user.password }))
                .await;
            assert_eq!(
                login.status(),
                StatusCode::UNAUTHORIZED,
                "{case}: the user was created"
            );
            assert!(browser.auth_cookie().is_none(), "{case}: logged in");
        }
        Form::Logout => {
            assert!(browser.auth_cookie().is_some(), "{case}: cookie cleared");
            let me = browser.get_me().await;
            assert_eq!(me.status(), StatusCode::OK, "{case}: logged out");
        }
    }
}

fn expected_location(form: Form) -> &'static str {
    match form {
        Form::Login | Form::Register => "/me",
        Form::Logout => "/login",
    }
}

async fn a_cross_site_form_post_with_a_valid_csrf_token_is_forbidden_and_changes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;

    for form in [Form::Login, Form::Register, Form::Logout] {
        for headers in [
            vec![(SEC_FETCH_SITE, "cross-site")],
            vec![(SEC_FETCH_SITE, "same-site")],
            vec![(ORIGIN.as_str(), "http://evil.example")],
            vec![(ORIGIN.as_str(), "null")],
            vec![
                (ORIGIN.as_str(), "http://evil.example"),
                (SEC_FETCH_SITE, "cross-site"),
            ],
        ] {
            let case = format!("{form:?} with {headers:?}");
            let prepared = prepare(&app, form).await;
            let response = post_with_headers(&prepared, form, &headers).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
            assert_security_headers(&case, response.headers());
            assert!(is_html(response.headers()), "{case}");
            assert_unchanged(&app, &prepared, form, &case).await;
        }
    }
}

async fn a_same_origin_form_post_with_a_valid_csrf_token_is_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let own_origin = app.address.trim_end_matches('/').to_owned();

    for form in [Form::Login, Form::Register, Form::Logout] {
        for headers in [
            vec![(ORIGIN.as_str(), own_origin.as_str())],
            vec![(SEC_FETCH_SITE, "same-origin")],
            vec![(SEC_FETCH_SITE, "none")],
            vec![
                (ORIGIN.as_str(), own_origin.as_str()),
                (SEC_FETCH_SITE, "same-origin"),
            ],
            vec![],
        ] {
            let case = format!("{form:?} with {headers:?}");
            let prepared = prepare(&app, form).await;
            let response = post_with_headers(&prepared, form, &headers).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{case}");
            assert_eq!(location(&response), expected_location(form), "{case}");
        }
    }
}

async fn the_api_ignores_origin_and_fetch_metadata(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for headers in [
        vec![(ORIGIN.as_str(), "http://evil.example")],
        vec![(ORIGIN.as_str(), "null")],
        vec![(SEC_FETCH_SITE, "cross-site")],
    ] {
        let user = TestUser::generate();
        let mut register = app
            .client
            .post(app.url("/api/register"))
            .json(&user.api_registration());
        let mut login = app
            .client
            .post(app.url("/api/login"))
            .json(&json!({ "email": user.email, "password": user.password }));
        for (name, value) in &headers {
            register = register.header(*name, *value);
            login = login.header(*name, *value);
        }
        let created = register.send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{headers:?}");
        let body = json_body(login.send().await.unwrap(), StatusCode::OK).await;
        let token = body["access_token"].as_str().unwrap().to_owned();

        let mut logout = app.client.post(app.url("/api/logout")).bearer_auth(&token);
        for (name, value) in &headers {
            logout = logout.header(*name, *value);
        }
        let logout = logout.send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::NO_CONTENT, "{headers:?}");
    }
}

/// Logs `user` in through the form with `next`, from a fresh browser that
/// first opened `GET /login?next=…`; returns the `Location`.
async fn login_with_next(app: &TestApp, user: &TestUser, next: &str) -> String {
    let browser = app.new_browser();
    let page = browser.get_login(Some(next)).await;
    assert_eq!(page.status(), StatusCode::OK, "GET /login?next={next:?}");
    let html = page.text().await.unwrap();
    let csrf = csrf_from(&html);
    let response = browser
        .post_login(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
            ("next", next),
            ("csrf_token", &csrf),
        ])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "POST /login with next={next:?}"
    );
    location(&response)
}

/// Submits the login form the way a browser would: with the `next` the
/// page itself holds after `GET /login?next=…`; returns the `Location`.
async fn login_through_the_page(app: &TestApp, user: &TestUser, next: &str) -> String {
    let browser = app.new_browser();
    let html = browser.get_login(Some(next)).await.text().await.unwrap();
    let csrf = csrf_from(&html);
    let kept = input_value(&html, "next");
    let mut fields = vec![
        ("email", user.email.clone()),
        ("password", user.password.clone()),
        ("csrf_token", csrf),
    ];
    if let Some(kept) = kept {
        fields.push(("next", kept));
    }
    let response = browser.post_login(&fields).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "POST /login from the page of next={next:?}"
    );
    location(&response)
}

async fn a_next_that_leaves_the_site_redirects_to_the_account_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;
    let mut kept = Vec::new();

    for next in [
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/%2F/evil.example",
        "/%2f/evil.example",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "/\tevil",
        "/%09/evil.example",
        "  /me",
        " //evil.example",
        "evil.example",
    ] {
        // Every case is tried before failing, so one run lists them all.
        let posted = login_with_next(&app, &user, next).await;
        if posted != "/me" {
            kept.push(format!("{next:?} posted: Location {posted:?}"));
        }
        let through_page = login_through_the_page(&app, &user, next).await;
        if through_page != "/me" {
            kept.push(format!(
                "{next:?} through the page: Location {through_page:?}"
            ));
        }
    }

    // `//evil.example` percent-encoded in the form body itself.
    for encoded in [
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "%2F%09%2Fevil.example",
    ] {
        let browser = app.new_browser();
        let csrf = browser.csrf_token_from("/login").await;
        let body = format!(
            "{}&next={encoded}",
            form(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
                ("csrf_token", csrf.as_str()),
            ])
        );
        let response = browser.post_raw("/login", FORM, body.into_bytes()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "next={encoded}");
        let posted = location(&response);
        if posted != "/me" {
            kept.push(format!("next={encoded} in the body: Location {posted:?}"));
        }
    }
    assert!(
        kept.is_empty(),
        "redirects off the account page:\n{}",
        kept.join("\n")
    );
}

async fn a_local_next_is_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = TestUser::generate();
    app.register_via_api(&user).await;

    for next in ["/me", "/", "/me?x=1"] {
        assert_eq!(login_with_next(&app, &user, next).await, next);
        assert_eq!(login_through_the_page(&app, &user, next).await, next);
    }
}

async fn the_login_page_reflects_next_only_escaped(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for next in [
        "/me\"><script>alert(1)</script>",
        "/\"><script>alert(1)</script>",
        "\"><script>alert(1)</script>",
        "/me?'><script>alert(1)</script>",
        "/\" onmouseover=\"alert(1)",
        "/' onmouseover='alert(1)",
    ] {
        let response = app.get_login(Some(next)).await;
        assert_eq!(response.status(), StatusCode::OK, "next = {next:?}");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<script>alert(1)"),
            "next = {next:?}:\n{html}"
        );
        assert!(
            !html.contains(" onmouseover=\"alert(1)") && !html.contains(" onmouseover='alert(1)"),
            "next = {next:?}:\n{html}"
        );
        assert!(find_csrf(&html).is_some(), "the form is intact:\n{html}");
    }
}

async fn error_pages_are_html_in_the_layout_without_internal_details(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.new_browser();
    let csrf = browser.csrf_token_from("/login").await;
    let padding = "a".repeat(20 * 1024);

    let answers = [
        (
            StatusCode::BAD_REQUEST,
            browser
                .post_raw(
                    "/login",
                    FORM,
                    format!("email=a&email=b&csrf_token={csrf}").into_bytes(),
                )
                .await,
        ),
        (
            StatusCode::FORBIDDEN,
            browser
                .post_login(&[("email", "a@example.com"), ("password", "password-1")])
                .await,
        ),
        (StatusCode::NOT_FOUND, browser.get("/no/such/page").await),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            browser
                .client
                .delete(browser.url("/login"))
                .send()
                .await
                .unwrap(),
        ),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            browser
                .post_login(&[("csrf_token", csrf.as_str()), ("padding", &padding)])
                .await,
        ),
    ];

    for (status, response) in answers {
        let case = format!("the {status} page");
        assert_eq!(response.status(), status, "{case}");
        assert!(
            is_html(response.headers()),
            "{case}: {:?}",
            response.headers()
        );
        assert_security_headers(&case, response.headers());
        let html = response.text().await.unwrap();
        assert!(
            html.contains("href=\"/static/style.css?v="),
            "{case}: no stylesheet:\n{html}"
        );
        assert_eq!(html.matches("<h1").count(), 1, "{case}:\n{html}");
        assert_no_leak(&case, &html);
    }
}

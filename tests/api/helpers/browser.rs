//! The HTTP client: a `Browser` with its own cookie jar and one method per
//! route, plus the form and API flows built on them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cookie::Cookie;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use reqwest::{Client, ClientBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};

use super::answers::{assert_api_unauthorized, assert_redirects_to, json_body};
use super::constants::{AUTH_COOKIE, LOGIN_FOR_ME};
use super::html::{csrf_from, find_csrf, form_with_action};
use super::users::{CookieUser, TestUser, TokenUser};

/// One HTTP client with its own cookie jar; never follows redirects. A
/// clone shares the jar.
#[derive(Clone)]
pub struct Browser {
    pub address: String,
    pub client: Client,
    jar: Arc<Jar>,
}

impl Browser {
    pub fn new(address: &str) -> Browser {
        Browser::with_client(address, Client::builder())
    }

    /// A browser that sends this `User-Agent` (none by default).
    pub fn with_user_agent(address: &str, user_agent: &str) -> Browser {
        Browser::with_client(address, Client::builder().user_agent(user_agent))
    }

    /// A browser whose client starts from `builder` (trusted certificates,
    /// a local address to connect from).
    pub fn with_client(address: &str, builder: ClientBuilder) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = builder
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("failed to build the HTTP client");
        Browser {
            address: address.to_owned(),
            client,
            jar,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The cookies the jar would send to the server, by name.
    pub fn cookies(&self) -> HashMap<String, String> {
        let url = Url::parse(&self.address).expect("the address is a URL");
        let Some(header) = self.jar.cookies(&url) else {
            return HashMap::new();
        };
        let header = header
            .to_str()
            .expect("the jar's Cookie header is not ASCII");
        Cookie::split_parse(header)
            .filter_map(Result::ok)
            .map(|cookie| (cookie.name().to_owned(), cookie.value().to_owned()))
            .collect()
    }

    /// Puts a cookie in the jar, as another page of the site could.
    pub fn set_cookie(&self, name: &str, value: &str) {
        let url = Url::parse(&self.address).expect("the address is a URL");
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    /// The `gatehouse_token` value in the jar.
    pub fn auth_cookie(&self) -> Option<String> {
        self.cookies()
            .remove(AUTH_COOKIE)
            .filter(|value| !value.is_empty())
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET failed")
    }

    pub async fn post_form<F: Serialize + ?Sized>(&self, path: &str, form: &F) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn get_home(&self) -> Response {
        self.get("/").await
    }

    pub async fn get_register(&self) -> Response {
        self.get("/register").await
    }

    pub async fn post_register<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/register", form).await
    }

    /// `GET /login`, with `?next=` (URL-encoded) when given.
    pub async fn get_login(&self, next: Option<&str>) -> Response {
        let mut url = Url::parse(&self.url("/login")).expect("the address is a URL");
        if let Some(next) = next {
            url.query_pairs_mut().append_pair("next", next);
        }
        self.client.get(url).send().await.expect("GET failed")
    }

    pub async fn post_login<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/login", form).await
    }

    pub async fn post_logout<F: Serialize + ?Sized>(&self, form: &F) -> Response {
        self.post_form("/logout", form).await
    }

    pub async fn get_me(&self) -> Response {
        self.get("/me").await
    }

    pub async fn healthz(&self) -> Response {
        self.get("/healthz").await
    }

    pub async fn api_post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST failed")
    }

    /// A POST with a raw body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Response {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("POST failed")
    }

    pub async fn api_register(&self, body: &Value) -> Response {
        self.api_post_json("/api/register", body).await
    }

    pub async fn api_login(&self, body: &Value) -> Response {
        self.api_post_json("/api/login", body).await
    }

    pub async fn api_logout(&self, token: &str) -> Response {
        self.client
            .post(self.url("/api/logout"))
            .bearer_auth(token)
            .send()
            .await
            .expect("POST failed")
    }

    /// `POST /api/password/forgot` for `email`.
    pub async fn api_forgot(&self, email: &str) -> Response {
        self.api_post_json("/api/password/forgot", &json!({ "email": email }))
            .await
    }

    /// Asks for a reset link through the API, expecting its 202.
    pub async fn forgot_via_api(&self, email: &str) {
        let response = self.api_forgot(email).await;
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "asking for a reset link for {email}"
        );
    }

    /// `POST /api/password/reset` with a link's token and a new password.
    pub async fn api_reset(&self, token: &str, password: &str) -> Response {
        self.api_post_json(
            "/api/password/reset",
            &json!({ "token": token, "password": password }),
        )
        .await
    }

    /// `POST /api/refresh` with this refresh token.
    pub async fn api_refresh(&self, refresh_token: &str) -> Response {
        self.api_post_json("/api/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    /// `POST /api/me/password` with `body`, and with this bearer token when
    /// given.
    pub async fn api_change_password(&self, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url("/api/me/password")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST failed")
    }

    /// The status of an API login with these credentials.
    pub async fn api_login_status(&self, email: &str, password: &str) -> StatusCode {
        self.api_login(&json!({ "email": email, "password": password }))
            .await
            .status()
    }

    pub async fn api_me(&self, token: &str) -> Response {
        self.api_me_with_authorization(&format!("Bearer {token}"))
            .await
    }

    pub async fn api_me_with_authorization(&self, authorization: &str) -> Response {
        self.client
            .get(self.url("/api/me"))
            .header(AUTHORIZATION, authorization)
            .send()
            .await
            .expect("GET failed")
    }

    /// `GET /me` from a fresh client, with `token` as the auth cookie.
    pub async fn get_me_with_cookie(&self, token: &str) -> Response {
        Browser::new(&self.address)
            .client
            .get(self.url("/me"))
            .header(COOKIE, format!("{AUTH_COOKIE}={token}"))
            .send()
            .await
            .expect("GET failed")
    }

    /// Asserts that the pages take `token` as the auth cookie and the API
    /// as the bearer; returns the API's answer.
    pub async fn assert_accepted_as_cookie_and_bearer(&self, token: &str) -> Value {
        assert_eq!(
            self.get_me_with_cookie(token).await.status(),
            StatusCode::OK,
            "GET /me with the token as cookie"
        );
        let api = self.api_me(token).await;
        assert_eq!(
            api.status(),
            StatusCode::OK,
            "GET /api/me with the token as bearer"
        );
        json_body(api, StatusCode::OK).await
    }

    /// Asserts that the pages send `token` as the auth cookie to the login
    /// form, and that the API answers it as the bearer with a 401.
    pub async fn assert_rejected_as_cookie_and_bearer(&self, token: &str) {
        assert_redirects_to(&self.get_me_with_cookie(token).await, LOGIN_FOR_ME);
        assert_api_unauthorized(self.api_me(token).await).await;
    }

    /// The CSRF token of the form on the page at `path`.
    pub async fn csrf_token_from(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        csrf_from(&response.text().await.expect("no body"))
    }

    /// The page at `path`, which must answer 200, as text.
    pub async fn page_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("no body")
    }

    /// Opens the page at `path` and posts its form with `fields` and the
    /// page's CSRF token.
    pub async fn submit_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let page = self.get(path).await;
        let status = page.status();
        let html = page.text().await.expect("no body");
        assert_eq!(status, StatusCode::OK, "GET {path}:\n{html}");
        let csrf = csrf_from(&html);
        let mut form = fields.to_vec();
        form.push(("csrf_token", csrf.as_str()));
        self.post_form(path, &form).await
    }

    /// Posts `fields` to `path` with the CSRF token of this browser's
    /// session, taken from the login form (which every visitor may open):
    /// for a page that shows no form of its own, such as a used link's.
    pub async fn post_blind(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf_token_from("/login").await;
        let mut form = fields.to_vec();
        form.push(("csrf_token", csrf.as_str()));
        self.post_form(path, &form).await
    }

    /// Opens the page at `path`, expecting a 200 with a form whose action
    /// is `path` (a link's button); returns that form.
    pub async fn form_at(&self, path: &str) -> String {
        let page = self.get(path).await;
        let status = page.status();
        let html = page.text().await.expect("no body");
        assert_eq!(status, StatusCode::OK, "GET {path}:\n{html}");
        form_with_action(&html, path).unwrap_or_else(|| panic!("no form for {path}:\n{html}"))
    }

    /// Opens the page at `path` and presses its button: posts the form
    /// whose action is `path` with that form's CSRF token.
    pub async fn press_button(&self, path: &str) -> Response {
        let form = self.form_at(path).await;
        self.post_form(path, &[("csrf_token", csrf_from(&form).as_str())])
            .await
    }

    /// Fills in and posts the forgot-password form.
    pub async fn forgot_via_form(&self, email: &str) -> Response {
        self.submit_form("/password/forgot", &[("email", email)])
            .await
    }

    /// Opens a reset link's page at `path` and posts its form with these
    /// passwords.
    pub async fn reset_via_form(&self, path: &str, password: &str, confirm: &str) -> Response {
        self.submit_form(
            path,
            &[("password", password), ("password_confirm", confirm)],
        )
        .await
    }

    /// Fills in and posts the change of address form of the account.
    pub async fn change_email_via_form(&self, new_email: &str, current_password: &str) -> Response {
        self.submit_form(
            "/me/email",
            &[
                ("new_email", new_email),
                ("current_password", current_password),
            ],
        )
        .await
    }

    /// Fills in and posts the register form.
    pub async fn register_via_form(&self, user: &TestUser) -> Response {
        let csrf = self.csrf_token_from("/register").await;
        self.post_register(&user.register_form(&csrf)).await
    }

    /// Registers a fresh user through the form, which logs them in.
    pub async fn register_and_login_via_form(&self) -> TestUser {
        let user = TestUser::generate();
        let response = self.register_via_form(&user).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "registering {user:?}"
        );
        user
    }

    /// Fills in and posts the login form.
    pub async fn login_via_form(&self, email: &str, password: &str) -> Response {
        let csrf = self.csrf_token_from("/login").await;
        self.post_login(&[
            ("email", email),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .await
    }

    /// Presses the logout button (taken from the home page when logged in).
    pub async fn logout_via_form(&self) -> Response {
        let home = self.get_home().await.text().await.expect("no body");
        let csrf = match find_csrf(&home) {
            Some(csrf) => csrf,
            None => self.csrf_token_from("/login").await,
        };
        self.post_logout(&[("csrf_token", csrf.as_str())]).await
    }

    /// Registers through the API, expecting 201, and returns the body.
    pub async fn register_via_api(&self, user: &TestUser) -> Value {
        let response = self.api_register(&user.api_registration()).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {user:?}"
        );
        response.json().await.expect("the body is not JSON")
    }

    /// Logs in through the API, expecting 200, and returns the access token.
    pub async fn login_via_api(&self, email: &str, password: &str) -> String {
        let response = self
            .api_login(&json!({ "email": email, "password": password }))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "logging in {email}");
        let body: Value = response.json().await.expect("the body is not JSON");
        body["access_token"]
            .as_str()
            .expect("no access_token")
            .to_owned()
    }

    /// Logs in through the API, expecting 200, and returns the access and
    /// the refresh token.
    pub async fn api_session(&self, email: &str, password: &str) -> (String, String) {
        let body = json_body(
            self.api_login(&json!({ "email": email, "password": password }))
                .await,
            StatusCode::OK,
        )
        .await;
        let token = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {body}"))
                .to_owned()
        };
        (token("access_token"), token("refresh_token"))
    }

    /// Asserts that the API refuses an API login's access token and its
    /// refresh token.
    pub async fn assert_api_session_ended(&self, access: &str, refresh: &str) {
        assert_eq!(
            self.api_me(access).await.status(),
            StatusCode::UNAUTHORIZED,
            "GET /api/me with the access token"
        );
        assert_eq!(
            self.api_refresh(refresh).await.status(),
            StatusCode::UNAUTHORIZED,
            "POST /api/refresh with the refresh token"
        );
    }

    /// `GET /api/me` with this bearer token, expecting 200, as JSON.
    pub async fn api_me_json(&self, token: &str) -> Value {
        json_body(self.api_me(token).await, StatusCode::OK).await
    }

    /// Registers a fresh user through the API (which logs nobody in).
    pub async fn register_user(&self) -> TestUser {
        let user = TestUser::generate();
        self.register_via_api(&user).await;
        user
    }

    /// A fresh user registered through the API, its id and an access token.
    pub async fn user_with_token(&self) -> (TestUser, i64, String) {
        let user = TestUser::generate();
        let created = self.register_via_api(&user).await;
        let id = created["id"].as_i64().expect("the id is not an integer");
        let token = self.login_via_api(&user.email, &user.password).await;
        (user, id, token)
    }

    /// Registers a fresh user through the form, which logs this browser in.
    pub async fn register_cookie_user(&self) -> CookieUser {
        let user = self.register_and_login_via_form().await;
        CookieUser::new(self, user)
    }

    /// Logs this browser in as `user` through the form, expecting the
    /// redirect to the account page.
    pub async fn log_in_as(&self, user: &TestUser) -> CookieUser {
        let response = self.login_via_form(&user.email, &user.password).await;
        assert_redirects_to(&response, "/me");
        CookieUser::new(self, user.clone())
    }

    /// A fresh user registered and logged in through the API.
    pub async fn register_token_user(&self) -> TokenUser {
        let (user, id, token) = self.user_with_token().await;
        TokenUser::new(self, user, id, token)
    }
}

/// Asserts that an API login with these credentials on `server` gets
/// `status`.
pub async fn assert_api_login(server: &Browser, email: &str, password: &str, status: StatusCode) {
    assert_eq!(
        server.api_login_status(email, password).await,
        status,
        "an API login of {email}"
    );
}

//! Test users. A `TestUser` is made-up credentials; a `CookieUser` is a
//! browser logged in through the form as one, and a `TokenUser` one logged
//! in through the API, each with methods that use its own credential.

use std::ops::Deref;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::answers::{assert_api_unauthorized, assert_redirects_to, json_body, location};
use super::browser::Browser;
use super::constants::LOGIN_FOR_ME;

/// A user that does not exist yet.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl TestUser {
    pub fn generate() -> TestUser {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let username = format!("user_{}", &id[..12]);
        TestUser {
            email: format!("{username}@example.com"),
            username,
            password: format!("pw-{id}"),
        }
    }

    pub fn register_form<'a>(&'a self, csrf: &'a str) -> [(&'static str, &'a str); 5] {
        [
            ("username", self.username.as_str()),
            ("email", self.email.as_str()),
            ("password", self.password.as_str()),
            ("password_confirm", self.password.as_str()),
            ("csrf_token", csrf),
        ]
    }

    pub fn api_registration(&self) -> Value {
        json!({ "username": self.username, "email": self.email, "password": self.password })
    }

    /// The body of an API login with these credentials.
    pub fn api_login(&self) -> Value {
        json!({ "email": self.email, "password": self.password })
    }
}

/// A password no test user has.
pub fn fresh_password() -> String {
    format!("new-{}", uuid::Uuid::new_v4().simple())
}

/// An address no account has.
pub fn fresh_address() -> String {
    format!(
        "someone-{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A browser logged in through the login or register form: it carries the
/// user's auth cookie in its jar. Derefs to the `Browser`, whose jar it
/// shares with the browser it was made from.
pub struct CookieUser {
    pub browser: Browser,
    pub user: TestUser,
}

impl Deref for CookieUser {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl CookieUser {
    /// `browser`, which the test logged in as `user`; shares its jar.
    pub fn new(browser: &Browser, user: TestUser) -> CookieUser {
        CookieUser {
            browser: browser.clone(),
            user,
        }
    }

    /// `GET /me` with its cookie; asserts that the account page shows this
    /// user, and returns the page.
    pub async fn me(&self) -> String {
        let response = self.get_me().await;
        let status = response.status();
        let redirect = (status == StatusCode::SEE_OTHER).then(|| location(&response));
        let html = response.text().await.expect("no body");
        assert_eq!(
            status,
            StatusCode::OK,
            "GET /me as {} (redirect: {redirect:?}):\n{html}",
            self.user.username
        );
        assert!(
            html.contains(&self.user.username),
            "the account page does not show {}:\n{html}",
            self.user.username
        );
        assert!(
            html.contains(&self.user.email),
            "the account page does not show {}:\n{html}",
            self.user.email
        );
        html
    }

    /// Asserts that `GET /me` sends this browser to the login form.
    pub async fn assert_logged_out(&self) {
        assert_redirects_to(&self.get_me().await, LOGIN_FOR_ME);
    }

    /// The auth cookie's token; panics when the jar holds none.
    pub fn token(&self) -> String {
        self.auth_cookie()
            .unwrap_or_else(|| panic!("{} has no auth cookie", self.user.username))
    }
}

/// A user registered and logged in through the API: its id, credentials and
/// bearer token, and a client for the server that issued the token.
pub struct TokenUser {
    pub id: i64,
    pub user: TestUser,
    pub token: String,
    browser: Browser,
}

impl TokenUser {
    pub fn new(browser: &Browser, user: TestUser, id: i64, token: String) -> TokenUser {
        TokenUser {
            id,
            user,
            token,
            browser: browser.clone(),
        }
    }

    /// `GET /api/me` with its token; asserts that the answer is this user,
    /// and returns it.
    pub async fn me(&self) -> Value {
        let body = json_body(self.browser.api_me(&self.token).await, StatusCode::OK).await;
        assert_eq!(
            body,
            json!({
                "id": self.id,
                "username": self.user.username,
                "email": self.user.email,
                "email_verified": false,
            }),
            "GET /api/me as {}",
            self.user.username
        );
        body
    }

    /// `POST /api/logout` with its token; asserts the 204.
    pub async fn logout(&self) {
        let response = self.browser.api_logout(&self.token).await;
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "POST /api/logout as {}",
            self.user.username
        );
    }

    /// Asserts that the API refuses its token: a 401 with a challenge.
    pub async fn assert_token_rejected(&self) {
        assert_api_unauthorized(self.browser.api_me(&self.token).await).await;
    }

    /// The same user and token, sent to another server.
    pub fn on(&self, server: &Browser) -> TokenUser {
        TokenUser::new(server, self.user.clone(), self.id, self.token.clone())
    }
}

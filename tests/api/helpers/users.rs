//! Test users: the credentials of a user the test makes up.

use serde_json::{Value, json};

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
}

//! Parsed input: a value of these types has passed the contract's input rules.

mod email;
mod next;
pub mod password;
mod username;

pub use email::Email;
pub use next::next_path;
pub use password::Password;
pub use username::Username;

use unicode_normalization::UnicodeNormalization;

/// A rule broken by one field, with the message shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

fn nfkc(raw: &str) -> String {
    raw.nfkc().collect()
}

/// The fields of a registration, each checked on its own so that every bad
/// field gets its message at once.
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl Registration {
    pub fn parse(
        username: &str,
        email: &str,
        password: &str,
        password_confirm: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        let username = Username::parse(username);
        let email = Email::parse(email);
        let password = Password::parse(password);
        let mut errors: Vec<FieldError> = [
            username.as_ref().err(),
            email.as_ref().err(),
            password.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        if let (Ok(password), Some(confirm)) = (&password, password_confirm)
            && password.expose() != nfkc(confirm)
        {
            errors.push(FieldError {
                field: "password_confirm",
                message: "Passwords do not match",
            });
        }
        match (username, email, password) {
            (Ok(username), Ok(email), Ok(password)) if errors.is_empty() => Ok(Self {
                username,
                email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported() {
        let errors = Registration::parse("a", "nope", "short", Some("other"))
            .err()
            .unwrap_or_default();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }

    #[test]
    fn a_mismatched_confirmation_is_reported() {
        let errors =
            Registration::parse("alice", "a@example.com", "long enough", Some("long enougH"))
                .err()
                .unwrap_or_default();
        assert_eq!(
            errors,
            [FieldError {
                field: "password_confirm",
                message: "Passwords do not match"
            }]
        );
    }

    #[test]
    fn the_confirmation_is_compared_after_normalization() {
        // U+FB01 (the "fi" ligature) is "fi" after NFKC.
        assert!(
            Registration::parse(
                "alice",
                "a@example.com",
                "ﬁxed password",
                Some("fixed password")
            )
            .is_ok()
        );
    }

    #[test]
    fn the_api_has_no_confirmation() {
        assert!(Registration::parse("alice", "a@example.com", "long enough", None).is_ok());
    }
}

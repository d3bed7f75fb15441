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

/// A new password (a change or a reset) and its confirmation, the errors
/// named for the form's fields; the API sends no confirmation.
pub fn new_password(
    raw: &str,
    confirm: Option<&str>,
    field: &'static str,
    confirm_field: &'static str,
) -> Result<Password, Vec<FieldError>> {
    let password = Password::parse(raw).map_err(|e| {
        vec![FieldError {
            field,
            message: e.message,
        }]
    })?;
    match confirm {
        Some(confirm) if password.expose() != nfkc(confirm) => Err(vec![FieldError {
            field: confirm_field,
            message: "Passwords do not match",
        }]),
        _ => Ok(password),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_reports_at_its_own_fields() {
        let short = new_password(
            "short",
            Some("short"),
            "new_password",
            "new_password_confirm",
        );
        assert_eq!(short.err().unwrap_or_default()[0].field, "new_password");
        let mismatch = new_password(
            "long enough",
            Some("long enougH"),
            "password",
            "password_confirm",
        );
        assert_eq!(
            mismatch.err().unwrap_or_default()[0].field,
            "password_confirm"
        );
        assert!(new_password("long enough", None, "password", "password_confirm").is_ok());
    }

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

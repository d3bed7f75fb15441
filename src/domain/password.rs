use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use super::{FieldError, nfkc};

/// The most bytes bcrypt reads; longer passwords are refused, never cut.
pub const MAX_PASSWORD_BYTES: usize = 72;
const MIN_PASSWORD_CHARS: usize = 8;

/// 19,640 passwords common in breach corpora (the list Django ships),
/// lower-case, one a line; loaded on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

/// Control characters (NUL among them) cannot be typed and would be cut or
/// mangled on the way to bcrypt, so no password holds one.
pub fn has_control_characters(password: &str) -> bool {
    password.chars().any(char::is_control)
}

/// Whether a password is on the common list, ignoring case.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.trim().to_lowercase().as_str())
}

/// A password that satisfies the rules, NFKC-normalized; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let password = nfkc(raw);
        // Counted as typed too: one character can normalize into many.
        if raw.chars().count().min(password.chars().count()) < MIN_PASSWORD_CHARS {
            return Err(FieldError {
                field: "password",
                message: "Password must be at least 8 characters",
            });
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(FieldError {
                field: "password",
                message: "Password must be at most 72 bytes",
            });
        }
        if has_control_characters(&password) {
            return Err(FieldError {
                field: "password",
                message: "Password must not contain control characters",
            });
        }
        if is_common_password(&password) {
            return Err(FieldError {
                field: "password",
                message: "This password is too common. Choose another.",
            });
        }
        Ok(Self(password))
    }

    /// A password typed at login: normalized the same way, but not checked,
    /// so that a wrong one costs the same as a right one.
    pub fn for_login(raw: &str) -> Self {
        Self(nfkc(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_code_points_are_enough_even_when_multibyte() {
        assert!(Password::parse("éééééééé").is_ok());
        assert_eq!(
            Password::parse("ééééééé").map_err(|e| e.message),
            Err("Password must be at least 8 characters")
        );
    }

    #[test]
    fn eight_characters_as_typed_not_only_after_normalization() {
        // One typed character that NFKC turns into 18.
        assert_eq!(
            Password::parse("\u{FDFA}").map_err(|e| e.message),
            Err("Password must be at least 8 characters")
        );
        assert_eq!(
            Password::parse("ab\u{FDFA}cd").map_err(|e| e.message),
            Err("Password must be at least 8 characters")
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in [
            "tangerine\0kettle",
            "tangerine-kettle\n",
            "\u{7f}tangerine-kettle",
        ] {
            assert_eq!(
                Password::parse(bad).map_err(|e| e.message),
                Err("Password must not contain control characters"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn seventy_two_bytes_is_the_limit() {
        assert!(Password::parse(&"a".repeat(72)).is_ok());
        assert_eq!(
            Password::parse(&"a".repeat(73)).map_err(|e| e.message),
            Err("Password must be at most 72 bytes")
        );
        // 36 two-byte characters are 72 bytes; 37 are too many.
        assert!(Password::parse(&"é".repeat(36)).is_ok());
        assert!(Password::parse(&"é".repeat(37)).is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password123",
            "PASSWORD123",
            "iloveyou1",
            "qwertyuiop",
            "Football1",
            "１２３４５６７８",
        ] {
            assert_eq!(
                Password::parse(common).map_err(|e| e.message),
                Err("This password is too common. Choose another."),
                "{common}"
            );
        }
        assert!(Password::parse("tangerine-kettle-47").is_ok());
    }

    #[test]
    fn the_common_list_has_the_breach_corpus() {
        assert!(COMMON_PASSWORDS.len() >= 10_000);
    }

    #[test]
    fn passwords_are_normalized() {
        assert_eq!(
            Password::parse("ｐａｓｓｗｏｒｄ-7q").map(|p| p.0),
            Ok("password-7q".into())
        );
        assert_eq!(Password::for_login("ｐａｓｓｗｏｒｄ").expose(), "password");
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert_eq!(
            format!("{:?}", Password::for_login("hunter2hunter2")),
            "Password(…)"
        );
    }
}

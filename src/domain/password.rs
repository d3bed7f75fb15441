use std::fmt;

use super::{FieldError, nfkc};

/// The most bytes bcrypt reads; longer passwords are refused, never cut.
pub const MAX_PASSWORD_BYTES: usize = 72;
const MIN_PASSWORD_CHARS: usize = 8;

/// A password that satisfies the rules, NFKC-normalized; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let password = nfkc(raw);
        if password.chars().count() < MIN_PASSWORD_CHARS {
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
    fn passwords_are_normalized() {
        assert_eq!(
            Password::parse("ｐａｓｓｗｏｒｄ").map(|p| p.0),
            Ok("password".into())
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

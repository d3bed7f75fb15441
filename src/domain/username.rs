use super::{FieldError, nfkc};

/// 3–32 characters of ASCII letters, digits, `_`, `-`, `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = nfkc(raw.trim());
        let count = name.chars().count();
        if !(3..=32).contains(&count) {
            return Err(FieldError {
                field: "username",
                message: "Username must be between 3 and 32 characters",
            });
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(FieldError {
                field: "username",
                message: "Username may contain only letters, digits, underscores, hyphens and dots",
            });
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form the database keeps unique: `Alice` and `alice` are one name.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept_as_typed() {
        for name in ["bob", "Alice_01", "a.b-c", &"x".repeat(32)] {
            assert_eq!(Username::parse(name).map(|u| u.0), Ok(name.to_string()));
        }
    }

    #[test]
    fn the_key_ignores_case() {
        assert_eq!(
            Username::parse("AlIcE").map(|u| u.key()),
            Ok("alice".into())
        );
    }

    #[test]
    fn fullwidth_letters_become_ascii() {
        assert_eq!(
            Username::parse("ａｌｉｃｅ").map(|u| u.0),
            Ok("alice".into())
        );
    }

    #[test]
    fn lengths_outside_3_to_32_are_refused() {
        for name in ["", "ab", &"x".repeat(33)] {
            assert_eq!(
                Username::parse(name).map_err(|e| e.message),
                Err("Username must be between 3 and 32 characters")
            );
        }
    }

    #[test]
    fn other_characters_are_refused() {
        for name in [
            "al ice",
            "bob!",
            "jürgen",
            "a<b>",
            "x'; DROP TABLE users; --",
            "null\0byte",
        ] {
            assert!(Username::parse(name).is_err(), "{name:?}");
        }
    }
}

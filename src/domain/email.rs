use super::{FieldError, nfkc};

/// An email address, trimmed and lower-cased, valid by the WHATWG grammar of
/// `<input type=email>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const INVALID: FieldError = FieldError {
    field: "email",
    message: "Enter a valid email address",
};

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = Self::normalize(raw);
        if email.chars().count() > 254 {
            return Err(FieldError {
                field: "email",
                message: "Email must be at most 254 characters",
            });
        }
        if !is_valid_email(&email) {
            return Err(INVALID);
        }
        Ok(Self(email))
    }

    /// The normalized form, also used to look up an address at login.
    pub fn normalize(raw: &str) -> String {
        nfkc(raw).trim().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `local@label(.label)*` where local is one or more of the atext characters
/// and `.`, and each label is 1–63 letters, digits and inner hyphens.
fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    local_ok && !domain.is_empty() && domain.split('.').all(is_valid_label)
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").map(|e| e.0),
            Ok("alice@example.com".into())
        );
    }

    #[test]
    fn fullwidth_addresses_collide_with_ascii() {
        assert_eq!(
            Email::parse("ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com").map(|e| e.0),
            Ok("alice@example.com".into())
        );
    }

    #[test]
    fn the_whatwg_grammar_is_followed() {
        for good in [
            "a@b",
            "first.last+tag@sub.example.org",
            "x!#$%&'*+/=?^_`{|}~-@a-b.c",
            "1@2.3",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@@b",
            "a b@c.d",
            "a@-b.c",
            "a@b-.c",
            "a@b..c",
            "a@.b",
            "a@b.",
            "é@b.c",
            "a@b_c.d",
            "a@b.c\0",
        ] {
            assert_eq!(Email::parse(bad), Err(INVALID), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_at_most_63_characters() {
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(63))).is_ok());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(64))).is_err());
    }

    #[test]
    fn addresses_over_254_characters_are_refused() {
        let long = format!(
            "{}@{}.{}.{}.{}",
            "a".repeat(59),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(3)
        );
        assert_eq!(long.len(), 255);
        assert_eq!(
            Email::parse(&long).map_err(|e| e.message),
            Err("Email must be at most 254 characters")
        );
    }
}

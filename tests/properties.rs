//! Properties of the input rules, checked on generated strings: usernames,
//! emails, passwords and the `next` redirect target.
#![allow(clippy::unwrap_used)]

use gatehouse::domain::{Email, Password, Username, next_path};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn nfkc(raw: &str) -> String {
    raw.nfkc().collect()
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// What `Username::parse` keeps of `raw`, by the contract's rule.
fn expected_username(raw: &str) -> Option<String> {
    let name = nfkc(raw.trim());
    let count = name.chars().count();
    ((3..=32).contains(&count) && name.chars().all(is_username_char)).then_some(name)
}

/// Strings near and around the username rules.
fn username_candidates() -> impl Strategy<Value = String> {
    let whitespace = "[ \t\n\u{3000}\u{a0}]{0,3}";
    prop_oneof![
        "[A-Za-z0-9_.-]{0,40}",
        (whitespace, "[A-Za-z0-9_.-]{0,36}", whitespace).prop_map(|(a, b, c)| a + &b + &c),
        // Full-width forms become ASCII under NFKC.
        "[Ａ-Ｚａ-ｚ０-９＿．－]{0,36}",
        "[A-Za-z0-9Ａ-Ｚ０-９_.\\- !@#é<>'\"/\\\\\u{0}\u{301}ßİK]{0,36}",
        any::<String>(),
    ]
}

/// Well-formed addresses, in any case and with surrounding whitespace.
fn plain_addresses() -> impl Strategy<Value = (String, String)> {
    (
        "[ \t]{0,2}",
        "[a-zA-Z0-9]{1,20}",
        "[a-zA-Z0-9]{1,20}",
        "[a-zA-Z]{2,6}",
        "[ \t]{0,2}",
    )
        .prop_map(|(before, local, domain, tld, after)| {
            let address = format!("{local}@{domain}.{tld}");
            let expected = address.to_lowercase();
            (format!("{before}{address}{after}"), expected)
        })
}

/// Strings near and around the email rules.
fn email_candidates() -> impl Strategy<Value = String> {
    let local = "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{0,70}";
    let label = "[A-Za-z0-9][A-Za-z0-9-]{0,62}";
    prop_oneof![
        (
            "[ \t\u{3000}]{0,2}",
            local,
            prop::sample::select(vec!["@", "＠", "@@", "", "@ "]),
            prop::collection::vec(label, 1..6),
            "[ \t\u{3000}]{0,2}",
        )
            .prop_map(|(before, local, at, labels, after)| {
                format!("{before}{local}{at}{}{after}", labels.join("."))
            }),
        "[A-Za-zÄé0-9@.\\- _+ａ-ｚ＠\u{0}]{0,40}",
        any::<String>(),
    ]
}

/// Passwords that no common-password list holds: a `#` and a `~` around a
/// random suffix, after a prefix of characters of every width, some of
/// which NFKC expands (`ﬁ`, `㎏`, `…`) or narrows (`ｗ`).
fn uncommon_passwords() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9 é😀ﬁ㎏…ｗ]{0,64}",
        "[a-z0-9]{6,12}",
        any::<bool>(),
    )
        .prop_map(|(prefix, suffix, order)| {
            if order {
                format!("{prefix}#{suffix}~")
            } else {
                format!("~{suffix}{prefix}#")
            }
        })
}

fn within_password_lengths(raw: &str) -> bool {
    let normalized = nfkc(raw);
    normalized.chars().count() >= 8 && normalized.len() <= 72
}

/// Characters that make `next` values interesting.
fn next_candidates() -> impl Strategy<Value = String> {
    prop_oneof![
        "[/\\\\a-z.:%0-9?=&# \t\n\r]{0,20}",
        "/[/\\\\a-z.:%?\u{7f}\u{85}\u{0}]{0,20}",
        any::<String>(),
    ]
}

fn local_paths() -> impl Strategy<Value = String> {
    (
        prop::collection::vec("[a-z0-9_-]{1,10}", 0..4),
        prop::option::of("[a-z]{1,5}=[0-9]{1,3}"),
    )
        .prop_map(|(segments, query)| {
            let mut path = format!("/{}", segments.join("/"));
            if let Some(query) = query {
                path.push('?');
                path.push_str(&query);
            }
            path
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_username_is_accepted_exactly_when_it_follows_the_rules(raw in username_candidates()) {
        let parsed = Username::parse(&raw);
        let expected = expected_username(&raw);
        prop_assert_eq!(
            parsed.as_ref().ok().map(|u| u.as_str().to_owned()),
            expected,
            "{:?}",
            raw
        );
    }

    #[test]
    fn a_username_key_is_its_name_in_lower_case(raw in username_candidates()) {
        if let Ok(username) = Username::parse(&raw) {
            let key = username.key();
            prop_assert_eq!(&key, &username.as_str().to_ascii_lowercase());
            prop_assert!(!key.chars().any(char::is_uppercase), "{:?}", key);
        }
    }

    #[test]
    fn email_parsing_never_panics_and_its_output_is_normalized(raw in email_candidates()) {
        if let Ok(email) = Email::parse(&raw) {
            let address = email.as_str();
            let lower = address.to_lowercase();
            prop_assert_eq!(address, lower.as_str());
            prop_assert_eq!(address, address.trim());
            prop_assert!(address.chars().count() <= 254, "{:?}", address);
            prop_assert_eq!(address.matches('@').count(), 1, "{:?}", address);
            let again = Email::parse(address).map(|e| e.as_str().to_owned());
            prop_assert_eq!(again.as_deref().ok(), Some(address), "{:?} parsed again", address);
        }
    }

    #[test]
    fn a_plain_address_is_accepted_trimmed_and_lower_cased((raw, expected) in plain_addresses()) {
        let email = Email::parse(&raw);
        prop_assert_eq!(email.as_ref().ok().map(Email::as_str), Some(expected.as_str()), "{:?}", raw);
    }

    #[test]
    fn an_accepted_password_keeps_the_length_rules(raw in any::<String>()) {
        let parsed = Password::parse(&raw);
        if parsed.is_ok() {
            prop_assert!(within_password_lengths(&raw), "{:?} was accepted", raw);
        }
        if !within_password_lengths(&raw) {
            prop_assert!(parsed.is_err(), "{:?} was accepted", raw);
        }
    }

    #[test]
    fn a_password_breaking_the_length_rules_is_refused(
        raw in prop_oneof!["[a-zé😀#~]{0,7}", "[a-z0-9é😀#~]{73,90}"]
    ) {
        prop_assert!(!within_password_lengths(&raw));
        prop_assert!(Password::parse(&raw).is_err(), "{:?} was accepted", raw);
    }

    #[test]
    fn an_uncommon_password_is_accepted_exactly_within_the_length_rules(raw in uncommon_passwords()) {
        let parsed = Password::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), within_password_lengths(&raw), "{:?}", raw);
        if let Ok(password) = parsed {
            prop_assert_eq!(password.expose(), nfkc(&raw));
        }
    }

    #[test]
    fn next_path_returns_its_input_or_the_account_page_and_always_a_local_path(
        raw in next_candidates()
    ) {
        let path = next_path(Some(&raw));
        prop_assert!(path == raw || path == "/me", "{:?} gave {:?}", raw, path);
        prop_assert!(path.starts_with('/'), "{:?} gave {:?}", raw, path);
        prop_assert!(!path.starts_with("//"), "{:?} gave {:?}", raw, path);
        prop_assert!(!path.starts_with("/\\"), "{:?} gave {:?}", raw, path);
        prop_assert!(!path.contains('\\'), "{:?} gave {:?}", raw, path);
        prop_assert!(!path.chars().any(char::is_control), "{:?} gave {:?}", raw, path);
    }

    #[test]
    fn next_path_keeps_a_plain_local_path(path in local_paths()) {
        prop_assert_eq!(next_path(Some(&path)), path.as_str());
    }
}

#[test]
fn next_path_without_a_value_is_the_account_page() {
    assert_eq!(next_path(None), "/me");
}

//! The text of every message, from the templates in `templates/mail`.

use std::time::Duration;

use askama::Template;

use super::Email;

/// A message with a link in it, or a notice.
pub enum Letter<'a> {
    Link {
        purpose: LinkPurpose,
        username: &'a str,
        link: &'a str,
        valid_for: Duration,
    },
    Notice(Notice<'a>),
}

/// What a link in a message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// "Confirm your email address": the link confirms the address.
    ConfirmAddress,
    /// "Reset your gatehouse password".
    ResetPassword,
    /// "Confirm your new email address", sent to the new address.
    ConfirmNewAddress,
}

impl LinkPurpose {
    /// Subject, the sentence before the link and the one after it.
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::ConfirmAddress => (
                "gatehouse: Confirm your email address",
                "Please confirm the email address of your gatehouse account by opening this link:",
                "If you did not create a gatehouse account, ignore this email: nothing happens without the link.",
            ),
            Self::ResetPassword => (
                "Reset your gatehouse password",
                "Someone asked to reset the password of your gatehouse account. To choose a new password, open this link:",
                "If you did not ask for this, ignore this email: your password stays as it is.",
            ),
            Self::ConfirmNewAddress => (
                "gatehouse: Confirm your new email address",
                "Please confirm this address as the new email address of your gatehouse account by opening this link:",
                "If you did not ask for this, ignore this email: the account keeps its address.",
            ),
        }
    }
}

/// Something happened to the account; no link to follow.
pub enum Notice<'a> {
    /// "Your gatehouse password was changed" (a change or a reset).
    PasswordChanged { username: &'a str, reset: bool },
    /// "Your gatehouse email address was changed", sent to the old address.
    EmailChanged {
        username: &'a str,
        new_email: &'a str,
    },
    /// "Two-factor authentication was turned on" (or off).
    TwoFactor { username: &'a str, on: bool },
    /// "A recovery code was used".
    RecoveryCodeUsed { username: &'a str },
}

#[derive(Template)]
#[template(path = "mail/link.txt")]
struct LinkText<'a> {
    username: &'a str,
    lead: &'a str,
    link: &'a str,
    valid_for: String,
    ignore: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    username: &'a str,
    what: String,
}

impl Letter<'_> {
    /// The email to `to`; a template that fails to render is a bug, and
    /// shows as the send error of that message.
    pub fn compose(&self, to: &str) -> Result<Email, askama::Error> {
        let (subject, text) = match self {
            Self::Link {
                purpose,
                username,
                link,
                valid_for,
            } => {
                let (subject, lead, ignore) = purpose.words();
                let text = LinkText {
                    username,
                    lead,
                    link,
                    valid_for: in_words(*valid_for),
                    ignore,
                };
                (subject, text.render()?)
            }
            Self::Notice(Notice::PasswordChanged { username, reset }) => (
                "Your gatehouse password was changed",
                NoticeText {
                    username,
                    what: if *reset {
                        "The password of your gatehouse account was reset from a link sent to this address. Every session of the account has ended.".into()
                    } else {
                        "The password of your gatehouse account was changed. Every other session of the account has ended.".into()
                    },
                }
                .render()?,
            ),
            Self::Notice(Notice::EmailChanged { username, new_email }) => (
                "Your gatehouse email address was changed",
                NoticeText {
                    username,
                    what: format!(
                        "The email address of your gatehouse account was changed to {new_email}. Mail about the account now goes there."
                    ),
                }
                .render()?,
            ),
            Self::Notice(Notice::TwoFactor { username, on }) => (
                if *on {
                    "gatehouse: Two-factor authentication was turned on"
                } else {
                    "gatehouse: Two-factor authentication was turned off"
                },
                NoticeText {
                    username,
                    what: if *on {
                        "Two-factor authentication was turned on for your gatehouse account: logging in now takes a code from your authenticator app. Every other session of the account has ended.".into()
                    } else {
                        "Two-factor authentication was turned off for your gatehouse account: logging in takes the password only. Every other session of the account has ended.".into()
                    },
                }
                .render()?,
            ),
            Self::Notice(Notice::RecoveryCodeUsed { username }) => (
                "gatehouse: A recovery code was used",
                NoticeText {
                    username,
                    what: "A recovery code of your gatehouse account was used to log in; it works no more. Every other session of the account has ended.".into(),
                }
                .render()?,
            ),
        };
        Ok(Email {
            to: to.to_owned(),
            subject: subject.to_owned(),
            text: wrap(&text),
        })
    }
}

/// Lines wrapped at 72 columns between words (a link, having no spaces,
/// stays whole on its line): short lines let the message go as 7bit
/// instead of quoted-printable, which would break links for a reader of
/// the raw message.
fn wrap(text: &str) -> String {
    const WIDTH: usize = 72;
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let mut column = 0;
        for (i, word) in line.split(' ').enumerate() {
            if i > 0 {
                if column + 1 + word.chars().count() > WIDTH {
                    out.push('\n');
                    column = 0;
                } else {
                    out.push(' ');
                    column += 1;
                }
            }
            out.push_str(word);
            column += word.chars().count();
        }
        out.push('\n');
    }
    out
}

/// "24 hours", "1 hour", "30 minutes", "45 seconds".
fn in_words(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (n, unit) = match secs {
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_message_names_gatehouse_the_purpose_and_the_lifetime() {
        let email = Letter::Link {
            purpose: LinkPurpose::ResetPassword,
            username: "alice",
            link: "https://auth.example.com/password/reset/abc",
            valid_for: Duration::from_secs(3600),
        }
        .compose("alice@example.com")
        .expect("renders");
        assert_eq!(email.subject, "Reset your gatehouse password");
        assert!(email.text.starts_with("Hello alice,"), "{}", email.text);
        assert!(
            email
                .text
                .contains("\nhttps://auth.example.com/password/reset/abc\n")
        );
        assert!(email.text.contains("expires in 1 hour"), "{}", email.text);
    }

    #[test]
    fn text_is_wrapped_between_words_and_links_stay_whole() {
        let link = format!("https://auth.example.com/{}", "x".repeat(80));
        let text = format!("{} end\n\n{link}\n", "word ".repeat(30));
        let wrapped = wrap(&text);
        assert!(
            wrapped
                .lines()
                .filter(|l| !l.starts_with("https"))
                .all(|l| l.len() <= 72)
        );
        assert!(wrapped.lines().any(|l| l == link));
        assert_eq!(
            wrapped.split_whitespace().count(),
            text.split_whitespace().count()
        );
    }

    #[test]
    fn durations_are_said_in_words() {
        assert_eq!(in_words(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(in_words(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(in_words(Duration::from_secs(90)), "90 seconds");
        assert_eq!(in_words(Duration::from_secs(1)), "1 second");
    }
}

//! The settings of email: where links point, how mail leaves, how long
//! links live.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::env::{Env, duration, flag};
use super::{ConfigError, MAX_TOKEN_TTL, invalid};

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `GATEHOUSE_PUBLIC_URL` without a trailing slash; `None`: the
    /// address the server listens on.
    pub public_url: Option<String>,
    /// `None`: mail is written to `.eml` files in `mail_dir`.
    pub smtp_url: Option<SmtpUrl>,
    /// PEM certificates trusted for the SMTP server's TLS besides the
    /// Mozilla roots (a relay with a private CA).
    pub smtp_ca: Option<Vec<u8>>,
    pub mail_dir: PathBuf,
    /// `GATEHOUSE_MAIL_FROM`, checked to be a mailbox.
    pub from: lettre::message::Mailbox,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    /// An account must confirm its address before it can log in.
    pub require_verified_email: bool,
}

/// An SMTP URL, which may hold a password: shown without it.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("smtp", &self.0));
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "{scheme}://{host}")
    }
}

impl MailSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let public_url = env
            .var("GATEHOUSE_PUBLIC_URL")
            .map(|raw| parse_public_url(&raw).map_err(|m| invalid("GATEHOUSE_PUBLIC_URL", m)))
            .transpose()?;
        let smtp_url = env
            .var("GATEHOUSE_SMTP_URL")
            .map(|raw| parse_smtp_url(&raw).map_err(|m| invalid("GATEHOUSE_SMTP_URL", m)))
            .transpose()?;
        let smtp_ca = env
            .var("GATEHOUSE_SMTP_CA_FILE")
            .map(|path| read_ca_file(&path).map_err(|m| invalid("GATEHOUSE_SMTP_CA_FILE", m)))
            .transpose()?;
        let mail_dir = PathBuf::from(
            env.var("GATEHOUSE_MAIL_DIR")
                .unwrap_or_else(|| "mail".into()),
        );
        let from = env.parsed(
            "GATEHOUSE_MAIL_FROM",
            default_from(),
            |raw| {
                raw.parse().map_err(|_| {
                    "expected an address such as no-reply@example.com or \"gatehouse <no-reply@example.com>\"".to_owned()
                })
            },
        )?;
        let lifetime = |raw: &str| {
            duration(raw)
                .filter(|d| (Duration::from_secs(1)..=MAX_TOKEN_TTL).contains(d))
                .ok_or_else(|| "expected a duration from 1s to 366d, such as 1h or 24h".to_owned())
        };
        let verify_ttl = env.parsed(
            "GATEHOUSE_VERIFY_TTL",
            Duration::from_secs(24 * 3600),
            lifetime,
        )?;
        let reset_ttl = env.parsed("GATEHOUSE_RESET_TTL", Duration::from_secs(3600), lifetime)?;
        let require_verified_email = env.parsed("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", false, flag)?;
        Ok(Self {
            public_url,
            smtp_url,
            smtp_ca,
            mail_dir,
            from,
            verify_ttl,
            reset_ttl,
            require_verified_email,
        })
    }

    /// The origin links start with: the configured one, else the address
    /// the server listens on.
    pub fn link_base(&self, listening: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listening}"))
    }
}

fn default_from() -> lettre::message::Mailbox {
    lettre::message::Mailbox::new(
        Some("gatehouse".into()),
        lettre::Address::new("no-reply", "localhost").unwrap_or_else(|_| unreachable!()),
    )
}

/// `http://` or `https://`, a host, maybe a port and a path; no query,
/// fragment or credentials. The trailing slash goes.
fn parse_public_url(raw: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected an origin such as https://auth.example.com";
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or(EXPECTED)?;
    let host = rest.split('/').next().unwrap_or_default();
    let clean = !host.is_empty()
        && !rest.contains(['?', '#', '@'])
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if !clean {
        return Err(EXPECTED.into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A PEM file of CA certificates, checked to parse.
fn read_ca_file(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    lettre::transport::smtp::client::Certificate::from_pem(&pem)
        .map_err(|_| format!("{path} holds no PEM certificate"))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!("{path} holds no PEM certificate"));
    }
    Ok(pem)
}

/// `smtp://[user:password@]host[:port][?tls=required]` or `smtps://…`, as
/// lettre reads it (checked now, so a typo stops the start).
fn parse_smtp_url(raw: &str) -> Result<SmtpUrl, String> {
    if !(raw.starts_with("smtp://") || raw.starts_with("smtps://")) {
        return Err("expected smtp://[user:password@]host[:port] (plain), smtp://…?tls=required (STARTTLS) or smtps://… (TLS)".into());
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw)
        .map_err(|error| format!("cannot read the URL: {error}"))?;
    Ok(SmtpUrl(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn mail(vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MailSettings::read(&Env::new(|name: &str| map.get(name).cloned()))
    }

    #[test]
    fn defaults_follow_the_contract() {
        let m = mail(&[]).expect("defaults");
        assert!(m.public_url.is_none() && m.smtp_url.is_none());
        assert_eq!(m.mail_dir, PathBuf::from("mail"));
        assert_eq!(m.from.to_string(), "gatehouse <no-reply@localhost>");
        assert_eq!(m.verify_ttl, Duration::from_secs(86_400));
        assert_eq!(m.reset_ttl, Duration::from_secs(3600));
        assert!(!m.require_verified_email);
        let listening: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        assert_eq!(m.link_base(listening), "http://127.0.0.1:8080");
    }

    #[test]
    fn the_public_url_is_an_origin() {
        let m = mail(&[("GATEHOUSE_PUBLIC_URL", "https://auth.example.com/")]).expect("valid");
        assert_eq!(m.public_url.as_deref(), Some("https://auth.example.com"));
        for bad in [
            "auth.example.com",
            "ftp://x",
            "https://",
            "https://x/?a=1",
            "https://u@x",
        ] {
            let err = mail(&[("GATEHOUSE_PUBLIC_URL", bad)]).expect_err(bad);
            assert_eq!(err.variable, "GATEHOUSE_PUBLIC_URL");
        }
    }

    #[test]
    fn smtp_urls_take_the_three_forms_and_hide_the_password() {
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pw@mail.example.com:587?tls=required",
            "smtps://user:pw@mail.example.com",
        ] {
            let m = mail(&[("GATEHOUSE_SMTP_URL", good)]).expect(good);
            let shown = format!("{m:?}");
            assert!(!shown.contains("pw@"), "{shown}");
        }
        for bad in ["mail.example.com", "http://mail.example.com"] {
            let err = mail(&[("GATEHOUSE_SMTP_URL", bad)]).expect_err(bad);
            assert_eq!(err.variable, "GATEHOUSE_SMTP_URL");
        }
        let err = mail(&[("GATEHOUSE_SMTP_CA_FILE", "/nonexistent/ca.pem")]).expect_err("ca");
        assert_eq!(err.variable, "GATEHOUSE_SMTP_CA_FILE");
        let err = mail(&[("GATEHOUSE_MAIL_FROM", "not an address")]).expect_err("from");
        assert_eq!(err.variable, "GATEHOUSE_MAIL_FROM");
    }
}

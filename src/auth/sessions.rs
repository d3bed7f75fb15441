//! Sessions: one per login on one device. Access tokens are short and name
//! their session; the session is what lasts, until it is ended, idle past
//! its limit, or past its lifetime. Its refresh credential is random and
//! kept in the database only as a hash.

use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use crate::auth::Client;
use crate::config::Settings;
use crate::db::AnyConnection;
use crate::models::session::{self, NewSession};

/// Longer than this, a `User-Agent` is cut before it is stored.
const MAX_USER_AGENT: usize = 512;

/// How long sessions last, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    idle: Duration,
    lifetime: Duration,
    remember_for: Duration,
}

impl SessionLimits {
    pub fn new(settings: &Settings) -> Self {
        Self {
            idle: settings.session_idle,
            lifetime: settings.session_lifetime,
            remember_for: settings.remember_for,
        }
    }

    /// (idle limit, lifetime) in seconds of a login, remembered or not.
    fn for_login(self, remembered: bool) -> (i64, i64) {
        let (idle, lifetime) = if remembered {
            (self.remember_for, self.remember_for)
        } else {
            (self.idle, self.lifetime)
        };
        (secs(idle), secs(lifetime))
    }

    /// How stale the recorded last use may get before a request writes it
    /// again: a minute, or a tenth of the idle limit when that is shorter,
    /// so that no request writes and no session ends while in use.
    pub fn touch_every(self) -> i64 {
        (secs(self.idle) / 10).clamp(1, 60)
    }

    /// How long a checked token may be trusted while revocations are
    /// pushed: a session's use is written only when a check misses the
    /// cache, so no longer than a tenth of the idle limit (a minute at
    /// most), and a used session's recorded use stays as fresh as before.
    pub fn pushed_cache_ttl(self) -> Duration {
        (self.idle / 10).min(Duration::from_secs(60))
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

/// The device a login comes from, as far as the session list shows it.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub client: Client,
    pub user_agent: String,
}

/// A session just started: its id and its refresh credential (the only
/// time the credential exists outside the client).
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub refresh: String,
    pub remembered: bool,
}

/// A new refresh credential: 43 alphanumerics, 256 bits.
pub fn new_refresh() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 43)
}

/// The stored form of a refresh credential.
pub fn hash_refresh(refresh: &str) -> String {
    sha256_hex(refresh)
}

/// SHA-256 in hex: how a random credential (refresh, link token) is stored.
pub fn sha256_hex(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// Starts a session for `user_id` at `now`, in the caller's transaction.
pub fn start(
    conn: &mut AnyConnection,
    limits: SessionLimits,
    user_id: i32,
    device: &Device,
    remembered: bool,
    now: i64,
) -> diesel::QueryResult<Started> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let refresh = new_refresh();
    let (idle_secs, lifetime_secs) = limits.for_login(remembered);
    let user_agent: String = device.user_agent.chars().take(MAX_USER_AGENT).collect();
    session::insert(
        conn,
        &NewSession {
            id: &id,
            user_id,
            created_at: now,
            last_used_at: now,
            idle_secs,
            expires_at: now.saturating_add(lifetime_secs),
            remembered,
            client_ip: &device.client.to_string(),
            user_agent: &user_agent,
            refresh_hash: &hash_refresh(&refresh),
        },
    )?;
    Ok(Started {
        id,
        refresh,
        remembered,
    })
}

/// A live session as its owner sees it listed.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    /// "Firefox on Linux", from the `User-Agent`.
    pub device: String,
    pub ip: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: i64,
    pub remembered: bool,
}

impl From<session::Session> for SessionInfo {
    fn from(row: session::Session) -> Self {
        Self {
            device: device_name(&row.user_agent),
            id: row.id,
            ip: row.client_ip,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            remembered: row.remembered,
        }
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-12-04T10:15:00Z`).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// "Browser on OS" from a `User-Agent`, by woothee's shared dataset.
pub fn device_name(user_agent: &str) -> String {
    let known = |part: &str| !part.is_empty() && part != "UNKNOWN";
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(found) if known(found.name) && known(found.os) => {
            format!("{} on {}", found.name, found.os)
        }
        Some(found) if known(found.name) => found.name.to_owned(),
        _ if user_agent.trim().is_empty() => "Unknown device".to_owned(),
        _ => {
            // A client that names itself (curl/8.5): its first word.
            let product = user_agent.split_whitespace().next().unwrap_or_default();
            product
                .split('/')
                .next()
                .unwrap_or(product)
                .chars()
                .take(40)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(idle: u64) -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(idle),
            lifetime: Duration::from_secs(43_200),
            remember_for: Duration::from_secs(2_592_000),
        }
    }

    #[test]
    fn a_remembered_login_lasts_the_remember_period_for_both_limits() {
        assert_eq!(limits(1800).for_login(false), (1800, 43_200));
        assert_eq!(limits(1800).for_login(true), (2_592_000, 2_592_000));
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute_or_a_tenth_of_the_idle_limit() {
        assert_eq!(limits(1800).touch_every(), 60);
        assert_eq!(limits(300).touch_every(), 30);
        assert_eq!(limits(5).touch_every(), 1);
    }

    #[test]
    fn devices_are_named_browser_on_os() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device_name(firefox), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
        assert_eq!(device_name(chrome), "Chrome on Windows 10");
        assert_eq!(device_name(""), "Unknown device");
        assert_eq!(device_name("curl/8.5.0"), "HTTP Library");
        assert_eq!(device_name("gatehouse-probe/1"), "gatehouse-probe");
    }

    #[test]
    fn a_refresh_credential_is_stored_as_its_sha256() {
        assert_eq!(
            hash_refresh("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

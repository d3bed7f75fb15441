//! Settings, read and checked once at start.
//!
//! | variable | default |
//! | --- | --- |
//! | `DATABASE_URL` | `sqlite://gatehouse.db` |
//! | `GATEHOUSE_BIND` | `127.0.0.1:8080` (a host name works too) |
//! | `GATEHOUSE_METRICS_BIND` | unset: no metrics; `HOST:PORT` serves Prometheus text at `/metrics` |
//! | `GATEHOUSE_SECRET` | generated once, kept in the database |
//! | `GATEHOUSE_SECRET_FILE` | unset: a file holding the secret instead |
//! | `GATEHOUSE_TOKEN_TTL` | `15m` |
//! | `GATEHOUSE_BCRYPT_COST` | `12` |
//! | `GATEHOUSE_COOKIE_SECURE` | `true` |
//! | `GATEHOUSE_RATE_LIMITS` | `on` |
//! | `GATEHOUSE_LOGIN_LIMIT` | `5/15m` failed logins per email and client address |
//! | `GATEHOUSE_LOGIN_EMAIL_LIMIT` | `20/15m` failed logins per email |
//! | `GATEHOUSE_LOGIN_ADDRESS_LIMIT` | `100/15m` failed logins per client address |
//! | `GATEHOUSE_SESSION_IDLE` | `30m`: a session not used for this long ends |
//! | `GATEHOUSE_SESSION_LIFETIME` | `12h`: a session ends this long after its login |
//! | `GATEHOUSE_REMEMBER_FOR` | `30d` idle limit and lifetime of a remembered login, life of the device cookie |
//! | `GATEHOUSE_ALLOWED_HOSTS` | unset: any `Host`; else the names answered, comma-separated |
//! | `GATEHOUSE_REGISTER_LIMIT` | `10/1h` registration attempts per client address |
//! | `GATEHOUSE_TRUSTED_PROXIES` | none: proxy addresses or CIDR ranges whose `X-Forwarded-For` counts |
//! | `GATEHOUSE_DB_POOL_SIZE` | `16` (SQLite `:memory:` always 1) |
//! | `GATEHOUSE_HASH_THREADS` | the number of cores |
//! | `GATEHOUSE_HASH_QUEUE` | `256` hashes waiting at most, then 503 |
//! | `GATEHOUSE_AUTH_CACHE_TTL` | `500ms`, at most `1s`; `0` turns the cache off |
//! | `GATEHOUSE_LISTEN_URL` | PostgreSQL: `DATABASE_URL`; where revocations are heard (`LISTEN`); `off`: not at all |
//! | `GATEHOUSE_PUBLIC_URL` | the listening address: the origin of links in emails |
//! | `GATEHOUSE_SMTP_URL` | unset: mail goes to `.eml` files; `smtp://`, `smtp://…?tls=required`, `smtps://` |
//! | `GATEHOUSE_SMTP_CA_FILE` | unset: PEM certificates trusted for SMTP TLS besides the Mozilla roots |
//! | `GATEHOUSE_MAIL_DIR` | `mail` |
//! | `GATEHOUSE_MAIL_FROM` | `gatehouse <no-reply@localhost>` |
//! | `GATEHOUSE_VERIFY_TTL` | `24h` lifetime of an email-confirmation link |
//! | `GATEHOUSE_RESET_TTL` | `1h` lifetime of a password-reset link |
//! | `GATEHOUSE_RESET_LIMIT` | `3/1h` reset emails per account |
//! | `GATEHOUSE_LOG_FORMAT` | `text`; `json`: one JSON object per line |
//! | `GATEHOUSE_REQUIRE_VERIFIED_EMAIL` | `false`: `true` refuses logins of unconfirmed accounts |
//! | `GATEHOUSE_ACTIVITY_RETENTION` | `90d`: how long account events are kept |
//!
//! Durations use humantime's syntax (`30s`, `15m`, `1h30m`, `7d`).

pub mod env;
mod mail;

pub use mail::{MailSettings, SmtpUrl};

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use ipnet::IpNet;

use crate::telemetry::LogFormat;

use self::env::{Env, duration, flag, number};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A bad variable: the message names it, and `main` exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub(crate) fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Where the data lives; the scheme of `DATABASE_URL` picks the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path, or `:memory:`.
    Sqlite(String),
    /// A libpq connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() {
            return Err(invalid(
                "DATABASE_URL",
                "expected sqlite://PATH, a file path, :memory: or postgres://…",
            ));
        }
        if path.contains("://") {
            return Err(invalid(
                "DATABASE_URL",
                "unsupported scheme; use sqlite://PATH or postgres://…",
            ));
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    pub fn is_memory(&self) -> bool {
        matches!(self, Self::Sqlite(path) if path == ":memory:")
    }
}

// A PostgreSQL URL may hold a password: show only the backend and the place.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{path}"),
            Self::Postgres(url) => {
                let host = url.rsplit_once('@').map_or(url.as_str(), |(_, h)| h);
                let host = host
                    .trim_start_matches("postgres://")
                    .trim_start_matches("postgresql://");
                write!(f, "postgres:{}", host.split('?').next().unwrap_or_default())
            }
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Key material that never shows up in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn parse(raw: String, variable: &'static str) -> Result<Self, ConfigError> {
        if raw.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                variable,
                format!(
                    "must be at least {MIN_SECRET_BYTES} bytes long (got {})",
                    raw.len()
                ),
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How an instance hears of revocations made elsewhere (another instance,
/// the command line): on PostgreSQL a connection that `LISTEN`s, by
/// default to the database itself; a URL of its own when the database is
/// reached through a pooler that cannot hold one (PgBouncer in transaction
/// mode). SQLite has none: its processes keep the cache's short life.
#[derive(Clone, PartialEq, Eq)]
pub enum RevocationChannel {
    Off,
    Postgres(String),
}

impl RevocationChannel {
    fn default_for(database: &DatabaseUrl) -> Self {
        match database {
            DatabaseUrl::Postgres(url) => Self::Postgres(url.clone()),
            DatabaseUrl::Sqlite(_) => Self::Off,
        }
    }

    fn parse(raw: &str, database: &DatabaseUrl) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        if !matches!(database, DatabaseUrl::Postgres(_)) {
            return Err(
                "only a PostgreSQL DATABASE_URL has a revocation channel; unset it or set off"
                    .into(),
            );
        }
        match DatabaseUrl::parse(raw) {
            Ok(DatabaseUrl::Postgres(url)) => Ok(Self::Postgres(url)),
            _ => Err("expected off or a postgres:// URL".into()),
        }
    }
}

/// The URL may hold a password: never printed.
impl fmt::Debug for RevocationChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Postgres(_) => f.write_str("Postgres(…)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    /// The addresses `GATEHOUSE_BIND` resolved to, in order.
    pub bind: Vec<SocketAddr>,
    /// Where `/metrics` is served (`GATEHOUSE_METRICS_BIND`, resolved like
    /// `bind`); `None`: nowhere, and nothing is recorded.
    pub metrics_bind: Option<Vec<SocketAddr>>,
    pub secret: Option<Secret>,
    pub token_ttl: Duration,
    pub bcrypt_cost: u32,
    pub cookie_secure: bool,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub db_pool_size: u32,
    pub hash_threads: usize,
    pub hash_queue: usize,
    pub auth_cache_ttl: Duration,
    /// Where revocations made by other instances are heard at once.
    pub revocations: RevocationChannel,
    /// A session not used for this long ends.
    pub session_idle: Duration,
    /// A session ends this long after its login, used or not.
    pub session_lifetime: Duration,
    /// Idle limit and lifetime of a remembered login; also the life of the
    /// device cookie that exempts the owner's browser from the per-email
    /// limit.
    pub remember_for: Duration,
    /// `Host` names answered; empty: any.
    pub allowed_hosts: Vec<String>,
    /// Account events older than this are purged.
    pub activity_retention: Duration,
    pub mail: MailSettings,
    pub log_format: LogFormat,
}

/// At most `max` counted events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    /// `N/DURATION`, such as `5/15m`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (max, window) = raw.trim().split_once('/')?;
        let max = max.trim().parse().ok().filter(|n| *n >= 1)?;
        Some(Self {
            max,
            window: parse_window(window)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    /// Failed logins per (email, client address): the tight one.
    pub login_pair: Limit,
    /// Failed logins per email from anywhere: looser; the owner's own
    /// browser (device cookie) is exempt, so others cannot lock them out.
    pub login_email: Limit,
    /// Failed logins per client address, whatever the email: one address
    /// cannot try thousands of accounts.
    pub login_address: Limit,
    /// Registration attempts per client address.
    pub register: Limit,
    /// Password-reset emails per account; past it, no email (and the same
    /// answer).
    pub reset_mail: Limit,
}

/// Forgot-password requests per client address (pages and API together).
pub const FORGOT_LIMIT: Limit = Limit {
    max: 20,
    window: Duration::from_secs(3600),
};

/// New confirmation links per account.
pub const RESEND_LIMIT: Limit = Limit {
    max: 1,
    window: Duration::from_secs(60),
};

impl Settings {
    /// Reads the process environment (after `.env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// One warning line per variable that looks like a setting but is
    /// not one, from the process environment.
    pub fn unknown_variables() -> Vec<String> {
        env::unknown_variables(std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()))
    }

    /// Parses settings from any variable lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        let database_url = DatabaseUrl::parse(
            &env.var("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://gatehouse.db".into()),
        )?;
        let default_bind = vec![SocketAddr::from(([127, 0, 0, 1], 8080))];
        let bind = env.parsed("GATEHOUSE_BIND", default_bind, resolve_bind)?;
        let metrics_bind = env.parsed("GATEHOUSE_METRICS_BIND", None, |raw| {
            resolve_bind(raw).map(Some)
        })?;
        let secret = read_secret(&env)?;
        let token_ttl = env.parsed("GATEHOUSE_TOKEN_TTL", Duration::from_secs(15 * 60), |raw| {
            duration(raw)
                .filter(|ttl| (Duration::from_secs(1)..=MAX_TOKEN_TTL).contains(ttl))
                .ok_or_else(|| "expected a duration from 1s to 366d, such as 15m or 1h30m".into())
        })?;
        let bcrypt_cost = env.parsed("GATEHOUSE_BCRYPT_COST", 12, number(4..=31))?;
        let cookie_secure = env.parsed("GATEHOUSE_COOKIE_SECURE", true, flag)?;
        let limit = |name: &'static str, default: &str| {
            let parse = |raw: &str| {
                Limit::parse(raw).ok_or_else(|| "expected COUNT/DURATION, such as 5/15m".to_owned())
            };
            env.parsed(name, parse(default).map_err(|m| invalid(name, m))?, parse)
        };
        let rate_limits = RateLimits {
            enabled: env.parsed("GATEHOUSE_RATE_LIMITS", true, flag)?,
            login_pair: limit("GATEHOUSE_LOGIN_LIMIT", "5/15m")?,
            login_email: limit("GATEHOUSE_LOGIN_EMAIL_LIMIT", "20/15m")?,
            login_address: limit("GATEHOUSE_LOGIN_ADDRESS_LIMIT", "100/15m")?,
            register: limit("GATEHOUSE_REGISTER_LIMIT", "10/1h")?,
            reset_mail: limit("GATEHOUSE_RESET_LIMIT", "3/1h")?,
        };
        let trusted_proxies =
            env.parsed("GATEHOUSE_TRUSTED_PROXIES", Vec::new(), parse_networks)?;
        let db_pool_size = match database_url.is_memory() {
            true => 1,
            false => env.parsed("GATEHOUSE_DB_POOL_SIZE", 16, number(1..=1024))?,
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_threads = env.parsed("GATEHOUSE_HASH_THREADS", cores, number(1..=256))?;
        let hash_queue = env.parsed("GATEHOUSE_HASH_QUEUE", 256, number(1..=1_000_000))?;
        let auth_cache_ttl = env.parsed(
            "GATEHOUSE_AUTH_CACHE_TTL",
            Duration::from_millis(500),
            |raw| {
                duration(raw)
                    .filter(|ttl| *ttl <= Duration::from_secs(1))
                    .ok_or_else(|| "expected 0 or a duration of at most 1s, such as 500ms".into())
            },
        )?;
        let revocations = env.parsed(
            "GATEHOUSE_LISTEN_URL",
            RevocationChannel::default_for(&database_url),
            |raw| RevocationChannel::parse(raw, &database_url),
        )?;
        let session_length = |raw: &str| {
            duration(raw)
                .filter(|d| (Duration::from_secs(1)..=MAX_TOKEN_TTL).contains(d))
                .ok_or_else(|| "expected a duration from 1s to 366d, such as 30m or 12h".to_owned())
        };
        let session_idle = env.parsed(
            "GATEHOUSE_SESSION_IDLE",
            Duration::from_secs(30 * 60),
            session_length,
        )?;
        let session_lifetime = env.parsed(
            "GATEHOUSE_SESSION_LIFETIME",
            Duration::from_secs(12 * 60 * 60),
            session_length,
        )?;
        let remember_for = env.parsed(
            "GATEHOUSE_REMEMBER_FOR",
            Duration::from_secs(30 * 24 * 60 * 60),
            session_length,
        )?;
        let allowed_hosts = env.parsed("GATEHOUSE_ALLOWED_HOSTS", Vec::new(), parse_hosts)?;
        let activity_retention = env.parsed(
            "GATEHOUSE_ACTIVITY_RETENTION",
            Duration::from_secs(90 * 24 * 60 * 60),
            |raw| {
                duration(raw)
                    .filter(|d| {
                        (Duration::from_secs(60 * 60)..=Duration::from_secs(3660 * 24 * 60 * 60))
                            .contains(d)
                    })
                    .ok_or_else(|| "expected a duration from 1h to 3660d, such as 90d".to_owned())
            },
        )?;
        Ok(Self {
            database_url,
            bind,
            metrics_bind,
            secret,
            token_ttl,
            bcrypt_cost,
            cookie_secure,
            rate_limits,
            trusted_proxies,
            db_pool_size,
            hash_threads,
            hash_queue,
            auth_cache_ttl,
            revocations,
            session_idle,
            session_lifetime,
            remember_for,
            allowed_hosts,
            activity_retention,
            mail: MailSettings::read(&env)?,
            log_format: env.parsed("GATEHOUSE_LOG_FORMAT", LogFormat::Text, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("expected text or json".to_owned()),
                }
            })?,
        })
    }
}

/// Host names, comma-separated, lower-cased; a port is not part of one.
fn parse_hosts(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| {
            let valid = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
            if valid {
                Ok(host.to_ascii_lowercase())
            } else {
                Err(format!("{host:?} is not a host name; expected names such as example.com,www.example.com"))
            }
        })
        .collect()
}

/// The longest token lifetime accepted.
pub(crate) const MAX_TOKEN_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// `HOST:PORT`, the host an address or a name (resolved now, once).
fn resolve_bind(raw: &str) -> Result<Vec<SocketAddr>, String> {
    const EXPECTED: &str = "expected HOST:PORT, such as 127.0.0.1:8080 or localhost:8080";
    let (host, port) = raw.rsplit_once(':').ok_or(EXPECTED)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(EXPECTED.into());
    }
    let addresses: Vec<SocketAddr> = raw
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addresses)
}

/// The secret from `GATEHOUSE_SECRET` or from the file `GATEHOUSE_SECRET_FILE`
/// names (a container secret), never both.
fn read_secret(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Option<Secret>, ConfigError> {
    match (
        env.var("GATEHOUSE_SECRET"),
        env.var("GATEHOUSE_SECRET_FILE"),
    ) {
        (Some(_), Some(_)) => Err(invalid(
            "GATEHOUSE_SECRET_FILE",
            "set GATEHOUSE_SECRET or GATEHOUSE_SECRET_FILE, not both",
        )),
        (Some(secret), None) => Secret::parse(secret, "GATEHOUSE_SECRET").map(Some),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(&path).map_err(|error| {
                invalid(
                    "GATEHOUSE_SECRET_FILE",
                    format!("cannot read {path}: {error}"),
                )
            })?;
            // Files usually end with a newline that is no part of the secret.
            let secret = raw.trim_end_matches(['\n', '\r']).to_owned();
            Secret::parse(secret, "GATEHOUSE_SECRET_FILE").map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Addresses or CIDR ranges separated by commas: `10.0.0.0/8, ::1`.
fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{item:?} is neither an IP address nor a CIDR range such as 10.0.0.0/8")
                })
        })
        .collect()
}

/// A rate-limit window: a positive duration of at most a year.
fn parse_window(raw: &str) -> Option<Duration> {
    duration(raw.trim()).filter(|window| (Duration::from_secs(1)..=MAX_TOKEN_TTL).contains(window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("gatehouse.db".into()));
        assert_eq!(s.bind, ["127.0.0.1:8080".parse().expect("address")]);
        assert!(s.metrics_bind.is_none());
        assert!(s.secret.is_none());
        assert_eq!(s.token_ttl, Duration::from_secs(900));
        assert_eq!(s.bcrypt_cost, 12);
        assert!(s.cookie_secure);
        assert!(s.rate_limits.enabled);
        assert_eq!(
            s.rate_limits.login_pair,
            Limit {
                max: 5,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(
            s.rate_limits.login_email,
            Limit {
                max: 20,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(
            s.rate_limits.login_address,
            Limit {
                max: 100,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(
            s.rate_limits.register,
            Limit {
                max: 10,
                window: Duration::from_secs(3600)
            }
        );
        assert!(s.trusted_proxies.is_empty());
    }

    #[test]
    fn revocations_are_heard_on_postgresql_only_by_default_from_its_own_database() {
        const PG: &str = "postgres://gatehouse:pw@db.internal/app";
        let channel = |vars: &[(&str, &str)]| settings(vars).map(|s| s.revocations);
        assert_eq!(channel(&[]).ok(), Some(RevocationChannel::Off));
        assert_eq!(
            channel(&[("DATABASE_URL", PG)]).ok(),
            Some(RevocationChannel::Postgres(PG.into()))
        );
        let direct = "postgres://gatehouse:pw@db-direct.internal/app";
        assert_eq!(
            channel(&[("DATABASE_URL", PG), ("GATEHOUSE_LISTEN_URL", direct)]).ok(),
            Some(RevocationChannel::Postgres(direct.into()))
        );
        assert_eq!(
            channel(&[("DATABASE_URL", PG), ("GATEHOUSE_LISTEN_URL", "OFF")]).ok(),
            Some(RevocationChannel::Off)
        );
        for (database, listen) in [
            ("sqlite://g.db", direct),
            (PG, "sqlite://g.db"),
            (PG, "db-direct.internal"),
        ] {
            let err = channel(&[("DATABASE_URL", database), ("GATEHOUSE_LISTEN_URL", listen)])
                .expect_err(listen);
            assert_eq!(err.variable, "GATEHOUSE_LISTEN_URL");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        let shown = format!("{:?}", channel(&[("DATABASE_URL", PG)]).expect("valid"));
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn the_auth_cache_lives_a_second_at_most() {
        let ttl =
            |raw: &str| settings(&[("GATEHOUSE_AUTH_CACHE_TTL", raw)]).map(|s| s.auth_cache_ttl);
        assert_eq!(ttl("0").ok(), Some(Duration::ZERO));
        assert_eq!(ttl("250ms").ok(), Some(Duration::from_millis(250)));
        assert_eq!(ttl("1s").ok(), Some(Duration::from_secs(1)));
        for bad in ["2s", "1001ms", "soon", "-5ms"] {
            assert!(ttl(bad).is_err(), "{bad:?}");
        }
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.auth_cache_ttl, Duration::from_millis(500));
        assert_eq!(s.hash_queue, 256);
        assert!(s.hash_threads >= 1);
    }

    #[test]
    fn limits_read_count_and_window() {
        assert_eq!(
            Limit::parse("3/2s"),
            Some(Limit {
                max: 3,
                window: Duration::from_secs(2)
            })
        );
        for bad in ["", "3", "/2s", "0/1m", "x/1m", "3/", "3/forever", "-1/1m"] {
            assert_eq!(Limit::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_and_ranges() {
        let s = settings(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, ::1, 192.0.2.7")])
            .expect("valid");
        let shown: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128", "192.0.2.7/32"]);
    }

    #[test]
    fn the_bind_address_may_name_a_host() {
        let s = settings(&[("GATEHOUSE_BIND", "localhost:8080")]).expect("valid");
        assert!(!s.bind.is_empty());
        assert!(
            s.bind
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080)
        );
        for bad in [
            "localhost",
            ":8080",
            "localhost:http",
            "no-such-host.invalid:80",
        ] {
            let err = settings(&[("GATEHOUSE_BIND", bad)]).expect_err(bad);
            assert_eq!(err.variable, "GATEHOUSE_BIND");
        }
    }

    #[test]
    fn the_metrics_address_is_read_like_the_bind_address() {
        let s = settings(&[("GATEHOUSE_METRICS_BIND", "127.0.0.1:9090")]).expect("valid");
        assert_eq!(
            s.metrics_bind,
            Some(vec!["127.0.0.1:9090".parse().expect("address")])
        );
        let err = settings(&[("GATEHOUSE_METRICS_BIND", "localhost")]).expect_err("no port");
        assert_eq!(err.variable, "GATEHOUSE_METRICS_BIND");
    }

    #[test]
    fn the_secret_may_come_from_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{}\n", "k".repeat(40))).expect("write");
        let path = path.display().to_string();
        let s = settings(&[("GATEHOUSE_SECRET_FILE", &path)]).expect("valid");
        assert_eq!(s.secret.map(|s| s.expose().to_vec()), Some(vec![b'k'; 40]));
        let both = settings(&[
            ("GATEHOUSE_SECRET_FILE", &path),
            ("GATEHOUSE_SECRET", &"x".repeat(32)),
        ]);
        assert!(both.is_err());
        let missing = settings(&[("GATEHOUSE_SECRET_FILE", "/nonexistent/secret")])
            .expect_err("missing file");
        assert_eq!(missing.variable, "GATEHOUSE_SECRET_FILE");
        std::fs::write(dir.path().join("short"), "short\n").expect("write");
        let short = settings(&[(
            "GATEHOUSE_SECRET_FILE",
            &dir.path().join("short").display().to_string(),
        )]);
        assert!(short.is_err_and(|e| e.variable == "GATEHOUSE_SECRET_FILE"));
    }

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/app.db").ok(),
            Some(DatabaseUrl::Sqlite("data/app.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("app.db").ok(),
            Some(DatabaseUrl::Sqlite("app.db".into()))
        );
        assert!(DatabaseUrl::parse(":memory:").is_ok_and(|u| u.is_memory()));
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
    }

    #[test]
    fn a_postgres_password_is_not_displayed() {
        let url = DatabaseUrl::parse(
            "postgres://user:hunter2hunter2@db.example:5432/app?sslmode=require",
        )
        .expect("valid");
        let shown = url.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "postgres:db.example:5432/app");
    }

    #[test]
    fn a_short_secret_names_the_variable() {
        let err = settings(&[("GATEHOUSE_SECRET", "too short")]).expect_err("short secret");
        assert_eq!(err.variable, "GATEHOUSE_SECRET");
        assert!(settings(&[("GATEHOUSE_SECRET", &"x".repeat(32))]).is_ok());
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let s = settings(&[("GATEHOUSE_SECRET", &"s3cr3t".repeat(8))]).expect("valid");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn token_lifetimes_take_a_unit() {
        let ttl = |raw: &str| settings(&[("GATEHOUSE_TOKEN_TTL", raw)]).map(|s| s.token_ttl);
        assert_eq!(ttl("30s").ok(), Some(Duration::from_secs(30)));
        assert_eq!(ttl("15m").ok(), Some(Duration::from_secs(900)));
        assert_eq!(ttl("1h30m").ok(), Some(Duration::from_secs(5400)));
        assert_eq!(ttl("7d").ok(), Some(Duration::from_secs(604_800)));
        assert_eq!(ttl("45").ok(), Some(Duration::from_secs(45)));
        assert_eq!(ttl("1.5h").ok(), Some(Duration::from_secs(5400)));
        for bad in ["0s", "m", "-5m", "forever", "367d", "99999999999999999999d"] {
            assert!(ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (name, value) in [
            ("GATEHOUSE_BIND", "nonsense"),
            ("GATEHOUSE_METRICS_BIND", "9090"),
            ("GATEHOUSE_TOKEN_TTL", "forever"),
            ("GATEHOUSE_BCRYPT_COST", "3"),
            ("GATEHOUSE_BCRYPT_COST", "32"),
            ("GATEHOUSE_COOKIE_SECURE", "maybe"),
            ("GATEHOUSE_RATE_LIMITS", "sometimes"),
            ("GATEHOUSE_LOGIN_LIMIT", "lots"),
            ("GATEHOUSE_LOGIN_EMAIL_LIMIT", "0/1m"),
            ("GATEHOUSE_REGISTER_LIMIT", "10"),
            ("GATEHOUSE_TRUSTED_PROXIES", "proxy.local"),
            ("GATEHOUSE_HASH_THREADS", "0"),
            ("GATEHOUSE_HASH_QUEUE", "lots"),
            ("GATEHOUSE_AUTH_CACHE_TTL", "5s"),
            ("GATEHOUSE_DB_POOL_SIZE", "0"),
            ("DATABASE_URL", "mysql://x"),
        ] {
            let err = settings(&[(name, value)]).expect_err(name);
            assert_eq!(err.variable, name);
        }
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        assert!(
            !settings(&[("GATEHOUSE_COOKIE_SECURE", "false")])
                .expect("valid")
                .cookie_secure
        );
        assert!(
            !settings(&[("GATEHOUSE_RATE_LIMITS", "off")])
                .expect("valid")
                .rate_limits
                .enabled
        );
        assert!(
            settings(&[("GATEHOUSE_RATE_LIMITS", "ON")])
                .expect("valid")
                .rate_limits
                .enabled
        );
    }

    #[test]
    fn an_in_memory_database_gets_one_connection() {
        let s = settings(&[
            ("DATABASE_URL", ":memory:"),
            ("GATEHOUSE_DB_POOL_SIZE", "8"),
        ])
        .expect("valid");
        assert_eq!(s.db_pool_size, 1);
    }
}

//! Settings, read and checked once at start.
//!
//! | variable | default |
//! | --- | --- |
//! | `DATABASE_URL` | `sqlite://gatehouse.db` |
//! | `GATEHOUSE_BIND` | `127.0.0.1:8080` |
//! | `GATEHOUSE_SECRET` | generated once, kept in the database |
//! | `GATEHOUSE_TOKEN_TTL` | `15m` |
//! | `GATEHOUSE_BCRYPT_COST` | `12` |
//! | `GATEHOUSE_COOKIE_SECURE` | `true` |
//! | `GATEHOUSE_RATE_LIMITS` | `on` |
//! | `GATEHOUSE_LOGIN_LIMIT` | `5/15m` failed logins per email and client address |
//! | `GATEHOUSE_LOGIN_EMAIL_LIMIT` | `20/15m` failed logins per email |
//! | `GATEHOUSE_REGISTER_LIMIT` | `10/1h` registration attempts per client address |
//! | `GATEHOUSE_TRUSTED_PROXIES` | none: comma-separated proxy addresses whose `X-Forwarded-For` counts |
//! | `GATEHOUSE_DB_POOL_SIZE` | `16` (SQLite `:memory:` always 1) |
//! | `GATEHOUSE_HASH_THREADS` | the number of cores |
//! | `GATEHOUSE_HASH_QUEUE` | `256` hashes waiting at most, then 503 |
//! | `GATEHOUSE_AUTH_CACHE_TTL` | `500ms`, at most `1s`; `0` turns the cache off |

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A bad variable: the message names it, and `main` exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    pub secret: Option<Secret>,
    pub token_ttl: Duration,
    pub bcrypt_cost: u32,
    pub cookie_secure: bool,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpAddr>,
    pub db_pool_size: u32,
    pub hash_threads: usize,
    pub hash_queue: usize,
    pub auth_cache_ttl: Duration,
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
            window: parse_duration(window)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    /// Failed logins per (email, client address): the tight one.
    pub login_pair: Limit,
    /// Failed logins per email from anywhere: looser, so that nobody can
    /// lock a user out for long from another address.
    pub login_email: Limit,
    /// Registration attempts per client address.
    pub register: Limit,
}

impl Settings {
    /// Reads the process environment (after `.env`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses settings from any variable lookup; pure, for tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let database_url = DatabaseUrl::parse(
            &var("DATABASE_URL").unwrap_or_else(|| "sqlite://gatehouse.db".into()),
        )?;
        let bind = var("GATEHOUSE_BIND")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| {
                invalid(
                    "GATEHOUSE_BIND",
                    "expected an address with a port, such as 127.0.0.1:8080",
                )
            })?;
        let secret = var("GATEHOUSE_SECRET")
            .map(|s| Secret::parse(s, "GATEHOUSE_SECRET"))
            .transpose()?;
        let token_ttl = match var("GATEHOUSE_TOKEN_TTL") {
            None => Duration::from_secs(15 * 60),
            Some(raw) => parse_duration(&raw).ok_or_else(|| {
                invalid(
                    "GATEHOUSE_TOKEN_TTL",
                    "expected a positive number with a unit s, m, h or d, such as 15m",
                )
            })?,
        };
        let bcrypt_cost = match var("GATEHOUSE_BCRYPT_COST") {
            None => 12,
            Some(raw) => raw
                .trim()
                .parse()
                .ok()
                .filter(|cost| (4..=31).contains(cost))
                .ok_or_else(|| {
                    invalid(
                        "GATEHOUSE_BCRYPT_COST",
                        "expected a whole number from 4 to 31",
                    )
                })?,
        };
        let cookie_secure = parse_flag(var("GATEHOUSE_COOKIE_SECURE"), true)
            .ok_or_else(|| invalid("GATEHOUSE_COOKIE_SECURE", "expected true or false"))?;
        let limit = |name: &'static str, default: &str| {
            Limit::parse(&var(name).unwrap_or_else(|| default.into()))
                .ok_or_else(|| invalid(name, "expected COUNT/DURATION, such as 5/15m"))
        };
        let rate_limits = RateLimits {
            enabled: parse_flag(var("GATEHOUSE_RATE_LIMITS"), true)
                .ok_or_else(|| invalid("GATEHOUSE_RATE_LIMITS", "expected on or off"))?,
            login_pair: limit("GATEHOUSE_LOGIN_LIMIT", "5/15m")?,
            login_email: limit("GATEHOUSE_LOGIN_EMAIL_LIMIT", "20/15m")?,
            register: limit("GATEHOUSE_REGISTER_LIMIT", "10/1h")?,
        };
        let trusted_proxies = var("GATEHOUSE_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                invalid(
                    "GATEHOUSE_TRUSTED_PROXIES",
                    "expected IP addresses separated by commas",
                )
            })?;
        let db_pool_size = match var("GATEHOUSE_DB_POOL_SIZE") {
            _ if database_url.is_memory() => 1,
            None => 16,
            Some(raw) => raw
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "GATEHOUSE_DB_POOL_SIZE",
                        "expected a whole number from 1 to 1024",
                    )
                })?,
        };
        let count = |name: &'static str, default: usize, max: usize| match var(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid(name, format!("expected a whole number from 1 to {max}"))),
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_threads = count("GATEHOUSE_HASH_THREADS", cores, 256)?;
        let hash_queue = count("GATEHOUSE_HASH_QUEUE", 256, 1_000_000)?;
        let auth_cache_ttl = match var("GATEHOUSE_AUTH_CACHE_TTL") {
            None => Duration::from_millis(500),
            Some(raw) => parse_cache_ttl(&raw).ok_or_else(|| {
                invalid(
                    "GATEHOUSE_AUTH_CACHE_TTL",
                    "expected 0 or a duration of at most 1s, such as 500ms",
                )
            })?,
        };
        Ok(Self {
            database_url,
            bind,
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
        })
    }
}

/// `30s`, `15m`, `12h`, `7d`; a bare number counts seconds.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return None,
    };
    let seconds = number.checked_mul(scale)?;
    // A token must live at least a second and expire within a year.
    (1..=366 * 24 * 60 * 60)
        .contains(&seconds)
        .then(|| Duration::from_secs(seconds))
}

/// `0`, `250ms` or `1s`: a revocation elsewhere must be seen within a
/// second, so nothing longer.
fn parse_cache_ttl(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let ttl = if raw == "0" {
        Duration::ZERO
    } else if let Some(millis) = raw.strip_suffix("ms") {
        Duration::from_millis(millis.parse().ok()?)
    } else {
        parse_duration(raw)?
    };
    (ttl <= Duration::from_secs(1)).then_some(ttl)
}

fn parse_flag(raw: Option<String>, default: bool) -> Option<bool> {
    match raw.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Some(default),
        Some(v) => match v.as_str() {
            "true" | "on" | "1" | "yes" => Some(true),
            "false" | "off" | "0" | "no" => Some(false),
            _ => None,
        },
    }
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
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
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
            s.rate_limits.register,
            Limit {
                max: 10,
                window: Duration::from_secs(3600)
            }
        );
        assert!(s.trusted_proxies.is_empty());
    }

    #[test]
    fn the_auth_cache_lives_a_second_at_most() {
        assert_eq!(parse_cache_ttl("0"), Some(Duration::ZERO));
        assert_eq!(parse_cache_ttl("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_cache_ttl("1s"), Some(Duration::from_secs(1)));
        for bad in ["2s", "1001ms", "soon", "-5ms", ""] {
            assert_eq!(parse_cache_ttl(bad), None, "{bad:?}");
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
    fn trusted_proxies_are_a_list_of_addresses() {
        let s = settings(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.1, ::1")]).expect("valid");
        assert_eq!(s.trusted_proxies.len(), 2);
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
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        for bad in [
            "",
            "0s",
            "m",
            "1w",
            "-5m",
            "1.5h",
            "forever",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (name, value) in [
            ("GATEHOUSE_BIND", "nonsense"),
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

//! Reading variables: one line per setting, every error naming its variable.

use std::time::Duration;

use super::ConfigError;

/// A variable lookup (the process environment, or a map in tests).
pub struct Env<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(get: F) -> Self {
        Self { get }
    }

    /// The variable's value, trimmed; unset and empty are the same.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The variable parsed by `parse`, or `default` when it is unset. A
    /// value `parse` refuses is an error naming the variable, with the
    /// message `parse` gave.
    pub fn parsed<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.var(name) {
            None => Ok(default),
            Some(raw) => parse(&raw).map_err(|message| ConfigError {
                variable: name,
                message,
            }),
        }
    }
}

/// A whole number within `range`.
pub fn number<T>(range: std::ops::RangeInclusive<T>) -> impl FnOnce(&str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    move |raw| {
        raw.parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                )
            })
    }
}

/// `true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0`.
pub fn flag(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        _ => Err("expected on or off (true or false)".to_owned()),
    }
}

/// A duration such as `30s`, `15m`, `1h30m` or `7d` (humantime's syntax);
/// a bare number counts seconds.
pub fn duration(raw: &str) -> Option<Duration> {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(raw).ok()
}

/// Every `GATEHOUSE_*` variable gatehouse reads.
pub const KNOWN: &[&str] = &[
    "GATEHOUSE_BIND",
    "GATEHOUSE_METRICS_BIND",
    "GATEHOUSE_SECRET",
    "GATEHOUSE_SECRET_FILE",
    "GATEHOUSE_TOKEN_TTL",
    "GATEHOUSE_BCRYPT_COST",
    "GATEHOUSE_COOKIE_SECURE",
    "GATEHOUSE_RATE_LIMITS",
    "GATEHOUSE_LOGIN_LIMIT",
    "GATEHOUSE_LOGIN_EMAIL_LIMIT",
    "GATEHOUSE_LOGIN_ADDRESS_LIMIT",
    "GATEHOUSE_REGISTER_LIMIT",
    "GATEHOUSE_TRUSTED_PROXIES",
    "GATEHOUSE_DB_POOL_SIZE",
    "GATEHOUSE_HASH_THREADS",
    "GATEHOUSE_HASH_QUEUE",
    "GATEHOUSE_AUTH_CACHE_TTL",
    "GATEHOUSE_LISTEN_URL",
    "GATEHOUSE_SESSION_IDLE",
    "GATEHOUSE_SESSION_LIFETIME",
    "GATEHOUSE_REMEMBER_FOR",
    "GATEHOUSE_ALLOWED_HOSTS",
    "GATEHOUSE_PUBLIC_URL",
    "GATEHOUSE_SMTP_URL",
    "GATEHOUSE_SMTP_CA_FILE",
    "GATEHOUSE_MAIL_DIR",
    "GATEHOUSE_MAIL_FROM",
    "GATEHOUSE_VERIFY_TTL",
    "GATEHOUSE_RESET_TTL",
    "GATEHOUSE_RESET_LIMIT",
    "GATEHOUSE_REQUIRE_VERIFIED_EMAIL",
    "GATEHOUSE_LOG_FORMAT",
    "GATEHOUSE_ACTIVITY_RETENTION",
];

/// One warning per `GATEHOUSE_*` variable that is not a setting (a typo
/// would otherwise be ignored without a word), naming the closest setting.
pub fn unknown_variables(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|name| name.starts_with("GATEHOUSE_") && !KNOWN.contains(&name.as_str()))
        .collect();
    unknown.sort();
    unknown
        .iter()
        .map(|name| {
            let closest = KNOWN
                .iter()
                .map(|known| (strsim::levenshtein(name, known), known))
                .min()
                .filter(|(distance, _)| *distance <= 3);
            match closest {
                Some((_, known)) => {
                    format!("{name} is not a setting and is ignored; did you mean {known}?")
                }
                None => format!("{name} is not a setting and is ignored"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_names_the_variable_and_keeps_the_message() {
        let env = Env::new(|name: &str| (name == "N").then(|| " 40 ".to_owned()));
        assert_eq!(env.parsed("N", 1, number(1..=50)).ok(), Some(40));
        assert_eq!(env.parsed("UNSET", 7, number(1..=50)).ok(), Some(7));
        let error = env
            .parsed("N", 1, number(1..=10))
            .expect_err("out of range");
        assert_eq!(error.variable, "N");
        assert_eq!(error.to_string(), "N: expected a whole number from 1 to 10");
    }

    #[test]
    fn durations_combine_units() {
        assert_eq!(duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(duration("soon"), None);
        assert_eq!(duration("-5m"), None);
    }

    #[test]
    fn a_misspelled_variable_is_named_with_its_likely_meaning() {
        let warnings = unknown_variables(
            [
                "GATEHOUSE_BCRYPTCOST",
                "GATEHOUSE_BIND",
                "PATH",
                "GATEHOUSE_SOMETHING_ELSE_ENTIRELY",
            ]
            .map(String::from),
        );
        assert_eq!(
            warnings,
            [
                "GATEHOUSE_BCRYPTCOST is not a setting and is ignored; did you mean GATEHOUSE_BCRYPT_COST?",
                "GATEHOUSE_SOMETHING_ELSE_ENTIRELY is not a setting and is ignored",
            ]
        );
    }
}

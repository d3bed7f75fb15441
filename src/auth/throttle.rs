//! Throttling of failed logins and of registrations, with counters in the
//! database so that every instance agrees. Switched off, every method is a
//! no-op that touches nothing.

use crate::auth::{Client, Error};
use crate::config::{FORGOT_LIMIT, Limit, RESEND_LIMIT, RateLimits};
use crate::db::AnyConnection;
use crate::models::rate_limit;

#[derive(Clone, Copy)]
pub struct Throttle {
    /// `None`: limits are off.
    limits: Option<RateLimits>,
}

/// One login attempt, as the throttle counts it.
pub struct LoginAttempt {
    /// Failures of this email from this client; `None` for an address that
    /// breaks the email rules (no account can have it).
    pair_key: Option<String>,
    /// Failures of this email from anywhere.
    email_key: Option<String>,
    /// Failures from this client, whatever the email.
    address_key: String,
    /// The client's browser has logged in to this email's account before:
    /// the per-email limit does not hold for it.
    exempt_from_email_limit: bool,
}

impl LoginAttempt {
    /// `email` is the normalized address, `None` when it breaks the rules.
    pub fn new(email: Option<&str>, client: Client) -> Self {
        let client = client.key();
        Self {
            pair_key: email.map(|email| format!("login:{client}:{email}")),
            email_key: email.map(|email| format!("login-email:{email}")),
            address_key: format!("login-address:{client}"),
            exempt_from_email_limit: false,
        }
    }

    /// Lifts the per-email limit, for the owner's own browser.
    pub fn exempt_from_email_limit(&mut self) {
        self.exempt_from_email_limit = true;
    }

    /// Each counter of the attempt, with its limit and the limit's name.
    fn keys(&self, limits: RateLimits) -> impl Iterator<Item = (&str, Limit, &'static str)> {
        let email = self
            .email_key
            .as_deref()
            .filter(|_| !self.exempt_from_email_limit);
        [
            (self.pair_key.as_deref(), limits.login_pair, "login_pair"),
            (email, limits.login_email, "login_email"),
            (
                Some(self.address_key.as_str()),
                limits.login_address,
                "login_address",
            ),
        ]
        .into_iter()
        .filter_map(|(key, limit, name)| key.map(|key| (key, limit, name)))
    }
}

/// How long a client waits when the counters cannot be written.
const CLOSED_RETRY_SECS: u64 = 60;

impl Throttle {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits: limits.enabled.then_some(limits),
        }
    }

    /// Whether anything is counted at all.
    pub fn is_on(&self) -> bool {
        self.limits.is_some()
    }

    /// Counts the attempt against every limit it falls under, before its
    /// password is looked at, and refuses it when that passes one: attempts
    /// arriving together are counted one after another, so a burst gets no
    /// more password checks than the limit. Run it in a write transaction:
    /// a refused attempt's error rolls its counts back, so it counts against
    /// no limit. A counter that cannot be written refuses the attempt too.
    pub fn count_login(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        for (key, limit, name) in attempt.keys(limits) {
            count(conn, key, limit, name, now)?;
        }
        Ok(())
    }

    /// A right password: its attempt was no failure. The failures of this
    /// email from this client are forgiven; those counted from elsewhere
    /// stay.
    pub fn record_success(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        for (key, ..) in attempt.keys(limits) {
            if Some(key) == attempt.pair_key.as_deref() {
                rate_limit::reset(conn, key)?;
            } else {
                rate_limit::take_back(conn, key, now)?;
            }
        }
        Ok(())
    }

    /// A right password that still waits for its two-factor code: the
    /// attempt itself counts against no limit, but the failures before it
    /// (wrong codes among them) stay until the code is right too, or a
    /// fresh password would wipe out the count of wrong codes.
    pub fn take_back(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        for (key, ..) in attempt.keys(limits) {
            rate_limit::take_back(conn, key, now)?;
        }
        Ok(())
    }

    /// The refusal for an attempt whose counts could not be written.
    pub fn closed(&self) -> Error {
        metrics::counter!("gatehouse_throttled_total", "limit" => "fail_closed").increment(1);
        too_many_for(CLOSED_RETRY_SECS)
    }

    /// Counts a registration attempt from `client` and refuses it past the
    /// limit. Counted before validation, so failed attempts count too; run
    /// it in a write transaction, like [`count_login`](Self::count_login).
    pub fn count_registration(
        &self,
        conn: &mut AnyConnection,
        client: Client,
        now: i64,
    ) -> Result<(), Error> {
        match self.limits {
            Some(limits) => count(
                conn,
                &format!("register:{}", client.key()),
                limits.register,
                "register",
                now,
            ),
            None => Ok(()),
        }
    }

    /// Counts a forgot-password request from `client` (pages and API
    /// together) and refuses it past the limit.
    pub fn count_forgot(
        &self,
        conn: &mut AnyConnection,
        client: Client,
        now: i64,
    ) -> Result<(), Error> {
        match self.limits {
            Some(_) => count(
                conn,
                &format!("forgot:{}", client.key()),
                FORGOT_LIMIT,
                "forgot",
                now,
            ),
            None => Ok(()),
        }
    }

    /// Counts a new confirmation link for the account and refuses it
    /// within the cooldown.
    pub fn count_resend(
        &self,
        conn: &mut AnyConnection,
        user_id: i32,
        now: i64,
    ) -> Result<(), Error> {
        match self.limits {
            Some(_) => count(
                conn,
                &format!("resend:{user_id}"),
                RESEND_LIMIT,
                "resend",
                now,
            ),
            None => Ok(()),
        }
    }

    /// Counts a password-reset email to the account; `false` past the
    /// limit (the email is then not sent; nobody is told).
    pub fn allow_reset_mail(
        &self,
        conn: &mut AnyConnection,
        user_id: i32,
        now: i64,
    ) -> diesel::QueryResult<bool> {
        let Some(limits) = self.limits else {
            return Ok(true);
        };
        let key = format!("reset-mail:{user_id}");
        let counter = rate_limit::hit(conn, &key, window_secs(limits.reset_mail), now)?;
        let allowed = counter.count <= max(limits.reset_mail);
        if !allowed {
            metrics::counter!("gatehouse_throttled_total", "limit" => "reset_mail").increment(1);
        }
        Ok(allowed)
    }

    /// Forgets the failed logins counted against `email`, from anywhere
    /// (a completed password reset).
    pub fn clear_login_failures(
        &self,
        conn: &mut AnyConnection,
        email: &str,
    ) -> diesel::QueryResult<()> {
        if self.limits.is_none() {
            return Ok(());
        }
        rate_limit::reset(conn, &format!("login-email:{email}"))?;
        rate_limit::reset_matching(conn, "login:", &format!(":{email}"))
    }
}

/// Counts one event for `key` and refuses it past `limit` (counted in
/// `gatehouse_throttled_total` under `name`).
fn count(
    conn: &mut AnyConnection,
    key: &str,
    limit: Limit,
    name: &'static str,
    now: i64,
) -> Result<(), Error> {
    let counter = rate_limit::hit(conn, key, window_secs(limit), now).map_err(closed)?;
    if counter.count > max(limit) {
        metrics::counter!("gatehouse_throttled_total", "limit" => name).increment(1);
        return Err(too_many(counter.reset_at, now));
    }
    Ok(())
}

/// A counter that cannot be written refuses (fails closed), and says why
/// in the log.
fn closed(error: diesel::result::Error) -> Error {
    tracing::error!(%error, "cannot write a rate-limit counter; refusing the attempt");
    metrics::counter!("gatehouse_throttled_total", "limit" => "fail_closed").increment(1);
    too_many_for(CLOSED_RETRY_SECS)
}

fn too_many_for(retry_after: u64) -> Error {
    Error::TooManyRequests { retry_after }
}

fn max(limit: Limit) -> i32 {
    i32::try_from(limit.max).unwrap_or(i32::MAX)
}

fn window_secs(limit: Limit) -> i64 {
    i64::try_from(limit.window.as_secs()).unwrap_or(i64::MAX / 4)
}

fn too_many(reset_at: i64, now: i64) -> Error {
    too_many_for(u64::try_from(reset_at - now).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_the_limits_and_the_clients() {
        let a = Client(Some("127.0.0.1".parse().expect("address")));
        let b = Client(Some("127.0.0.2".parse().expect("address")));
        let one = LoginAttempt::new(Some("a@b.c"), a);
        assert_ne!(one.pair_key, one.email_key);
        assert_ne!(one.pair_key, LoginAttempt::new(Some("a@b.c"), b).pair_key);
        assert_eq!(one.email_key, LoginAttempt::new(Some("a@b.c"), b).email_key);
        assert_ne!(
            one.address_key,
            LoginAttempt::new(Some("a@b.c"), b).address_key
        );
        assert_eq!(
            one.address_key,
            LoginAttempt::new(Some("x@y.z"), a).address_key
        );
    }

    #[test]
    fn a_malformed_email_counts_against_its_address_only() {
        let limits = crate::config::Settings::from_lookup(|_| None)
            .expect("defaults")
            .rate_limits;
        let attempt = LoginAttempt::new(None, Client::default());
        let keys: Vec<_> = attempt.keys(limits).map(|(key, ..)| key).collect();
        assert_eq!(keys, [attempt.address_key.as_str()]);
    }

    #[test]
    fn the_owners_browser_skips_the_email_limit_only() {
        let limits = crate::config::Settings::from_lookup(|_| None)
            .expect("defaults")
            .rate_limits;
        let mut attempt = LoginAttempt::new(Some("a@b.c"), Client::default());
        assert_eq!(attempt.keys(limits).count(), 3);
        attempt.exempt_from_email_limit();
        let keys: Vec<_> = attempt.keys(limits).map(|(key, ..)| key).collect();
        assert!(
            !keys.iter().any(|key| key.starts_with("login-email:")),
            "{keys:?}"
        );
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn a_window_ending_now_still_waits_a_second() {
        assert!(matches!(
            too_many(100, 100),
            Error::TooManyRequests { retry_after: 1 }
        ));
        assert!(matches!(
            too_many(160, 100),
            Error::TooManyRequests { retry_after: 60 }
        ));
    }
}

//! Throttling of failed logins and of registrations, with counters in the
//! database so that every instance agrees. Switched off, every method is a
//! no-op that touches nothing.

use crate::auth::{Client, Error};
use crate::config::{Limit, RateLimits};
use crate::db::AnyConnection;
use crate::models::rate_limit;

#[derive(Clone, Copy)]
pub struct Throttle {
    /// `None`: limits are off.
    limits: Option<RateLimits>,
}

/// One login attempt, as the throttle counts it.
pub struct LoginAttempt {
    /// Failures of this email from this client.
    pair_key: String,
    /// Failures of this email from anywhere.
    email_key: String,
}

impl LoginAttempt {
    /// `email` is the normalized address.
    pub fn new(email: &str, client: Client) -> Self {
        Self {
            pair_key: format!("login:{}:{email}", client.key()),
            email_key: format!("login-email:{email}"),
        }
    }
}

impl Throttle {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits: limits.enabled.then_some(limits),
        }
    }

    /// Whether a successful login has anything to write.
    pub fn is_on(&self) -> bool {
        self.limits.is_some()
    }

    /// Refuses the attempt when its email, from this client or from
    /// anywhere, has used up its failures.
    pub fn check(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        let mut reset_at = None;
        for (key, limit) in [
            (&attempt.pair_key, limits.login_pair),
            (&attempt.email_key, limits.login_email),
        ] {
            if let Some(counter) = rate_limit::current(conn, key, now)?
                && counter.count >= max(limit)
            {
                reset_at = reset_at.max(Some(counter.reset_at));
            }
        }
        match reset_at {
            Some(reset_at) => Err(too_many(reset_at, now)),
            None => Ok(()),
        }
    }

    /// Counts a wrong password (or an unknown account).
    pub fn record_failure(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        rate_limit::hit(conn, &attempt.pair_key, window_secs(limits.login_pair), now)?;
        rate_limit::hit(
            conn,
            &attempt.email_key,
            window_secs(limits.login_email),
            now,
        )?;
        Ok(())
    }

    /// A right password clears the failures of this client, not those
    /// counted from elsewhere.
    pub fn record_success(
        &self,
        conn: &mut AnyConnection,
        attempt: &LoginAttempt,
    ) -> Result<(), Error> {
        if self.limits.is_some() {
            rate_limit::reset(conn, &attempt.pair_key)?;
        }
        Ok(())
    }

    /// Counts a registration attempt from `client` and refuses it past the
    /// limit. Counted before validation, so failed attempts count too.
    pub fn count_registration(
        &self,
        conn: &mut AnyConnection,
        client: Client,
        now: i64,
    ) -> Result<(), Error> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        let key = format!("register:{}", client.key());
        let counter = rate_limit::hit(conn, &key, window_secs(limits.register), now)?;
        if counter.count > max(limits.register) {
            return Err(too_many(counter.reset_at, now));
        }
        Ok(())
    }
}

fn max(limit: Limit) -> i32 {
    i32::try_from(limit.max).unwrap_or(i32::MAX)
}

fn window_secs(limit: Limit) -> i64 {
    i64::try_from(limit.window.as_secs()).unwrap_or(i64::MAX / 4)
}

fn too_many(reset_at: i64, now: i64) -> Error {
    Error::TooManyRequests {
        retry_after: u64::try_from(reset_at - now).unwrap_or(0).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_the_limits_and_the_clients() {
        let a = Client(Some("127.0.0.1".parse().expect("address")));
        let b = Client(Some("127.0.0.2".parse().expect("address")));
        let one = LoginAttempt::new("a@b.c", a);
        assert_ne!(one.pair_key, one.email_key);
        assert_ne!(one.pair_key, LoginAttempt::new("a@b.c", b).pair_key);
        assert_eq!(one.email_key, LoginAttempt::new("a@b.c", b).email_key);
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

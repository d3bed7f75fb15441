//! Two-factor authentication: turning it on with a code from the new
//! secret, the second step of a login, turning it off, new recovery codes,
//! and the operator's reset.

use super::{
    Accounts, Authenticated, Issued, counted_login, end_sessions_in, end_sessions_with_notice,
    unix_now,
};
use crate::auth::activity::{self, Event};
use crate::auth::outbox::{self, Kind};
use crate::auth::sessions::{self, Device};
use crate::auth::throttle::LoginAttempt;
use crate::auth::two_factor::{SecretBox, TotpSecret, is_recovery_code, new_recovery_codes};
use crate::auth::{Client, Error, Presence};
use crate::db::AnyConnection;
use crate::domain::FieldError;
use crate::models::rate_limit;
use crate::models::session::EndReason;
use crate::models::two_factor as model;
use crate::models::user;

/// How long a login waits for its code.
pub const PENDING_SECS: i64 = 5 * 60;
/// Wrong codes a pending login takes; the last ends it.
const PENDING_TRIES: i32 = 5;

/// A login whose password was right, waiting for its code. The edge keeps
/// it (signed and encrypted) in the browser's session cookie; the count of
/// wrong codes is kept here, under `id`, so a copy of the cookie starts no
/// count afresh.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    pub id: String,
    pub user_id: i32,
    pub remember: bool,
    pub next: String,
    pub expires_at: i64,
}

impl PendingLogin {
    pub fn new(user_id: i32, remember: bool, next: String) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            user_id,
            remember,
            next,
            expires_at: unix_now() + PENDING_SECS,
        }
    }

    fn tries_key(&self) -> String {
        format!("two-factor-login:{}", self.id)
    }
}

/// What a code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Totp,
    Recovery,
    Wrong,
}

/// Checks a TOTP code (each step once) or an unused recovery code (used up
/// now) of an account with two-factor on; `Wrong` for anything else.
pub fn check_code(
    conn: &mut AnyConnection,
    secrets: &SecretBox,
    user_id: i32,
    code: &str,
) -> diesel::QueryResult<Checked> {
    let Some(row) = model::find(conn, user_id)? else {
        return Ok(Checked::Wrong);
    };
    if is_recovery_code(code) {
        let used = model::use_recovery_code(conn, user_id, &secrets.recovery_hash(code))?;
        return Ok(if used {
            Checked::Recovery
        } else {
            Checked::Wrong
        });
    }
    let Some(secret) = secrets.open(&row.secret, user_id) else {
        tracing::error!(
            user = user_id,
            "a two-factor secret does not open with this server secret"
        );
        return Ok(Checked::Wrong);
    };
    let now = u64::try_from(unix_now()).unwrap_or(0);
    match secret.matching_step(code, now) {
        Some(step) if model::use_step(conn, user_id, i64::try_from(step).unwrap_or(i64::MAX))? => {
            Ok(Checked::Totp)
        }
        _ => Ok(Checked::Wrong),
    }
}

/// A recovery code logged in `kept`: every other session ends and the
/// address gets a notice.
pub fn after_recovery_code(
    conn: &mut AnyConnection,
    user_id: i32,
    email: &str,
    kept: &str,
) -> diesel::QueryResult<()> {
    end_sessions_in(conn, user_id, Some(kept), EndReason::TwoFactorChanged)?;
    outbox::queue(
        conn,
        Kind::RecoveryCodeUsed,
        Some(user_id),
        email,
        None,
        unix_now(),
    )
}

fn invalid_code() -> Error {
    Error::Invalid(vec![FieldError {
        field: "code",
        message: "Invalid code",
    }])
}

impl Accounts {
    /// Whether the user has two-factor on, and how many recovery codes
    /// are left.
    pub async fn two_factor_status(&self, user_id: i32) -> Result<Option<i64>, Error> {
        self.db
            .run(move |conn| {
                if !model::is_on(conn, user_id)? {
                    return Ok(None);
                }
                Ok(Some(model::recovery_codes_left(conn, user_id)?))
            })
            .await
    }

    /// Turns two-factor on with `secret` (shown to the user at set-up) once
    /// `code` proves their app has it; returns the recovery codes, the only
    /// time they exist in the clear. Every other session ends.
    pub async fn enable_two_factor(
        &self,
        auth: &Authenticated,
        secret: &TotpSecret,
        code: &str,
        current_password: &str,
        device: Device,
        presence: &Presence,
    ) -> Result<Vec<String>, Error> {
        let (stored, attempt) = self
            .check_current_password(auth.user.id, current_password, device.client, presence)
            .await?;
        let now = unix_now();
        let step = secret
            .matching_step(code, u64::try_from(now).unwrap_or(0))
            .ok_or_else(invalid_code)?;
        let sealed = self.secrets.seal(secret, stored.id);
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| self.secrets.recovery_hash(c))
            .collect();
        let (throttle, keep) = (self.throttle, auth.claims.sid.clone());
        self.db
            .write(move |conn| {
                throttle.record_success(conn, &attempt, now)?;
                if model::is_on(conn, stored.id)? {
                    return Err(Error::Invalid(vec![FieldError {
                        field: "code",
                        message: "Two-factor authentication is on already",
                    }]));
                }
                model::enable(
                    conn,
                    stored.id,
                    &sealed,
                    i64::try_from(step).unwrap_or(0),
                    now,
                )?;
                model::insert_recovery_codes(conn, stored.id, &hashes)?;
                activity::record(conn, stored.id, Event::TwoFactorEnabled, &device, now)?;
                end_sessions_with_notice(
                    conn,
                    &stored,
                    Some(&keep),
                    EndReason::TwoFactorChanged,
                    Kind::TwoFactorEnabled,
                )?;
                Ok(())
            })
            .await?;
        self.account_changed(auth.user.id);
        Ok(codes)
    }

    /// Turns two-factor off, with the password and a code (or a recovery
    /// code). Every other session ends.
    pub async fn disable_two_factor(
        &self,
        auth: &Authenticated,
        current_password: &str,
        code: &str,
        device: Device,
        presence: &Presence,
    ) -> Result<(), Error> {
        let (stored, attempt) = self
            .check_current_password(auth.user.id, current_password, device.client, presence)
            .await?;
        let (throttle, keep, secrets, code) = (
            self.throttle,
            auth.claims.sid.clone(),
            self.secrets.clone(),
            code.to_owned(),
        );
        self.db
            .write(move |conn| {
                let now = unix_now();
                if check_code(conn, &secrets, stored.id, &code)? == Checked::Wrong {
                    return Err(invalid_code());
                }
                throttle.record_success(conn, &attempt, now)?;
                model::disable(conn, stored.id)?;
                activity::record(conn, stored.id, Event::TwoFactorDisabled, &device, now)?;
                end_sessions_with_notice(
                    conn,
                    &stored,
                    Some(&keep),
                    EndReason::TwoFactorChanged,
                    Kind::TwoFactorDisabled,
                )?;
                Ok(())
            })
            .await?;
        self.account_changed(auth.user.id);
        Ok(())
    }

    /// Ten new recovery codes; the old ones stop working.
    pub async fn new_recovery_codes(
        &self,
        user_id: i32,
        current_password: &str,
        client: Client,
        presence: &Presence,
    ) -> Result<Vec<String>, Error> {
        let (stored, attempt) = self
            .check_current_password(user_id, current_password, client, presence)
            .await?;
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| self.secrets.recovery_hash(c))
            .collect();
        let throttle = self.throttle;
        self.db
            .write(move |conn| {
                throttle.record_success(conn, &attempt, unix_now())?;
                if !model::is_on(conn, stored.id)? {
                    return Err(Error::Invalid(vec![FieldError {
                        field: "current_password",
                        message: "Two-factor authentication is off",
                    }]));
                }
                model::delete_recovery_codes(conn, stored.id)?;
                model::insert_recovery_codes(conn, stored.id, &hashes)?;
                Ok(())
            })
            .await?;
        Ok(codes)
    }

    /// The second step of a page login: `code` for the pending login.
    /// Wrong codes count against the login limits like wrong passwords,
    /// and the fifth ends the pending login (`TooManyRequests`).
    pub async fn complete_login(
        &self,
        pending: &PendingLogin,
        code: &str,
        device: Device,
    ) -> Result<Issued, Error> {
        counted_login(self.check_pending_code(pending, code, device).await)
    }

    async fn check_pending_code(
        &self,
        pending: &PendingLogin,
        code: &str,
        device: Device,
    ) -> Result<Issued, Error> {
        if pending.expires_at <= unix_now() {
            return Err(Error::PendingLoginExpired);
        }
        let (throttle, limits, secrets) = (self.throttle, self.sessions, self.secrets.clone());
        let (pending, code) = (pending.clone(), code.to_owned());
        let client = device.client;
        let outcome = self
            .db
            .write(move |conn| {
                let now = unix_now();
                let Some(account) = user::find_user_by_id(conn, pending.user_id)? else {
                    return Err(Error::PendingLoginExpired);
                };
                // Disabled while the login waited for its code.
                if account.disabled {
                    return Err(Error::AccountDisabled);
                }
                let tries = rate_limit::peek(conn, &pending.tries_key(), now)?;
                if tries >= PENDING_TRIES {
                    return Err(Error::PendingLoginExpired);
                }
                // Every limit of a login holds, the per-email one too: codes
                // cannot be guessed across many pending logins.
                let attempt = LoginAttempt::new(Some(&account.email), client);
                throttle.count_login(conn, &attempt, now)?;
                let checked = check_code(conn, &secrets, account.id, &code)?;
                if checked == Checked::Wrong {
                    activity::record(conn, account.id, Event::LoginFailed, &device, now)?;
                    let counter = rate_limit::hit(conn, &pending.tries_key(), PENDING_SECS, now)?;
                    return Ok(Err(counter.count >= PENDING_TRIES));
                }
                throttle.record_success(conn, &attempt, now)?;
                // Used: a copy of the pending state logs in no one else.
                rate_limit::exhaust(conn, &pending.tries_key(), PENDING_SECS, now)?;
                let started =
                    sessions::start(conn, limits, account.id, &device, pending.remember, now)?;
                activity::record(conn, account.id, Event::LoginSucceeded, &device, now)?;
                if checked == Checked::Recovery {
                    after_recovery_code(conn, account.id, &account.email, &started.id)?;
                    activity::record(conn, account.id, Event::RecoveryCodeUsed, &device, now)?;
                }
                Ok(Ok((account, started, checked == Checked::Recovery)))
            })
            .await?;
        match outcome {
            Ok((account, started, recovered)) => {
                if recovered {
                    self.account_changed(account.id);
                }
                self.issue(account, started)
            }
            Err(true) => {
                metrics::counter!("gatehouse_throttled_total", "limit" => "two_factor_code")
                    .increment(1);
                Err(Error::TooManyRequests {
                    retry_after: u64::try_from(PENDING_SECS).unwrap_or(300),
                })
            }
            Err(false) => Err(Error::InvalidCode),
        }
    }

    /// The operator's reset for a locked-out user: two-factor off, every
    /// session ended, a notice sent. `None` when no user has the email,
    /// `Some(false)` when two-factor was off (nothing changes).
    pub async fn reset_two_factor(&self, email: &str) -> Result<Option<bool>, Error> {
        let Some(found) = self.find_user(email).await? else {
            return Ok(None);
        };
        let id = found.id;
        let was_on = self
            .db
            .write(move |conn| {
                if !model::disable(conn, id)? {
                    return Ok(false);
                }
                let operator = activity::operator();
                activity::record(conn, id, Event::TwoFactorDisabled, &operator, unix_now())?;
                end_sessions_with_notice(
                    conn,
                    &found,
                    None,
                    EndReason::EndedByOperator,
                    Kind::TwoFactorDisabled,
                )?;
                Ok(true)
            })
            .await?;
        if was_on {
            self.cache.forget_user(id);
        }
        Ok(Some(was_on))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{accounts, alice};
    use super::*;

    #[tokio::test]
    async fn a_pending_login_past_its_five_minutes_logs_no_one_in() {
        let dir = tempfile::tempdir().expect("temp dir");
        let accounts = accounts(&dir, false, 4);
        alice(&accounts).await;
        let device = || Device {
            client: Client::default(),
            user_agent: String::new(),
        };
        let mut pending = PendingLogin::new(1, false, "/me".into());
        assert!(pending.expires_at >= unix_now() + PENDING_SECS - 1);
        pending.expires_at = unix_now() - 1;
        let before = accounts.db.operations();
        let expired = accounts.complete_login(&pending, "123456", device()).await;
        assert!(matches!(expired, Err(Error::PendingLoginExpired)));
        // Refused before any database work.
        assert_eq!(accounts.db.operations(), before);
    }
}

//! The operator's commands on accounts: creating one, listing them, setting
//! a password, disabling and enabling. Each change is recorded with the
//! command line as its device, in the write that makes it.

use super::{Accounts, end_sessions_in, end_sessions_with_notice, unix_now};
use crate::auth::activity::{self, Event};
use crate::auth::links::{self, VOID_ON_PASSWORD_CHANGE};
use crate::auth::outbox::Kind;
use crate::auth::{Error, Presence};
use crate::domain::{Email, Registration, Username, new_password};
use crate::models::session::EndReason;
use crate::models::user::{self, Listed, User};

/// An account as `gatehouse user list` and `show` print it.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub two_factor: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Listed> for AccountSummary {
    fn from(row: Listed) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            disabled: row.disabled,
            two_factor: row.two_factor,
            created_at: row.created_at.assume_utc().unix_timestamp(),
        }
    }
}

impl Accounts {
    /// Whether `username` and `email` pass the registration rules and are
    /// free, so the operator is told before typing a password.
    pub async fn check_new_account(&self, username: &str, email: &str) -> Result<(), Error> {
        let (username, email) = match (Username::parse(username), Email::parse(email)) {
            (Ok(username), Ok(email)) => (username, email),
            (username, email) => {
                return Err(Error::Invalid(
                    [username.err(), email.err()]
                        .into_iter()
                        .flatten()
                        .collect(),
                ));
            }
        };
        let (email, key) = (email.as_str().to_owned(), username.key());
        match self
            .db
            .run(move |conn| Ok(user::find_taken(conn, &email, &key)?))
            .await?
        {
            Some(taken) => Err(Error::Conflict(taken)),
            None => Ok(()),
        }
    }

    /// The operator's account: the registration rules, no registration
    /// limit. `confirmed`: the address counts as confirmed and no email
    /// goes out; otherwise the confirmation email is queued (a running
    /// server sends it), as at registration.
    pub async fn create_account(
        &self,
        username: &str,
        email: &str,
        password: &str,
        confirmed: bool,
    ) -> Result<User, Error> {
        let registration =
            Registration::parse(username, email, password, None).map_err(Error::Invalid)?;
        self.create(
            registration,
            &Presence::default(),
            activity::operator(),
            confirmed,
        )
        .await
    }

    /// Every account, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<AccountSummary>, Error> {
        let rows = self.db.run(|conn| Ok(user::list(conn, None)?)).await?;
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    /// The account with this email (any case).
    pub async fn account_summary(&self, email: &str) -> Result<Option<AccountSummary>, Error> {
        let email = Email::normalize(email);
        let rows = self
            .db
            .run(move |conn| Ok(user::list(conn, Some(&email))?))
            .await?;
        Ok(rows.into_iter().next().map(AccountSummary::from))
    }

    /// The operator sets a new password (the password rules apply): every
    /// session and token of the account ends, reset and change-of-address
    /// links become void, failed logins are forgotten, and the address
    /// gets the "password changed" notice. `false` when no user has the
    /// email.
    pub async fn set_password_of(&self, email: &str, password: &str) -> Result<bool, Error> {
        let new =
            new_password(password, None, "password", "password_confirm").map_err(Error::Invalid)?;
        let Some(found) = self.find_user(email).await? else {
            return Ok(false);
        };
        let hashed = self
            .hash_pool
            .run(&Presence::default(), move |hasher| {
                hasher.hash_password(&new)
            })
            .await?
            .map_err(Error::internal)?;
        let throttle = self.throttle;
        let id = found.id;
        let changed = self
            .db
            .write(move |conn| {
                // Deleted meanwhile: nothing to change.
                let Some(stored) = user::find_user_by_id(conn, id)? else {
                    return Ok(false);
                };
                user::update_password_hash(conn, stored.id, &hashed)?;
                links::void(conn, stored.id, &VOID_ON_PASSWORD_CHANGE)?;
                throttle.clear_login_failures(conn, &stored.email)?;
                let operator = activity::operator();
                activity::record(
                    conn,
                    stored.id,
                    Event::PasswordChanged,
                    &operator,
                    unix_now(),
                )?;
                end_sessions_with_notice(
                    conn,
                    &stored,
                    None,
                    EndReason::PasswordChanged,
                    Kind::PasswordChanged,
                )?;
                Ok(true)
            })
            .await?;
        if changed {
            self.account_changed(id);
        }
        Ok(changed)
    }

    /// Disables the account (every session and token ends; logins with
    /// the right password get `AccountDisabled`) or enables it again.
    /// `None` when no user has the email; `Some(false)` when it was so
    /// already (nothing changes).
    pub async fn set_disabled_of(
        &self,
        email: &str,
        disabled: bool,
    ) -> Result<Option<bool>, Error> {
        let Some(found) = self.find_user(email).await? else {
            return Ok(None);
        };
        let id = found.id;
        let changed = self
            .db
            .write(move |conn| {
                if !user::set_disabled(conn, id, disabled)? {
                    return Ok(false);
                }
                let operator = activity::operator();
                let now = unix_now();
                if disabled {
                    end_sessions_in(conn, id, None, EndReason::AccountDisabled)?;
                    activity::record(conn, id, Event::AccountDisabled, &operator, now)?;
                } else {
                    activity::record(conn, id, Event::AccountEnabled, &operator, now)?;
                }
                Ok(true)
            })
            .await?;
        if changed {
            self.cache.forget_user(id);
        }
        Ok(Some(changed))
    }
}

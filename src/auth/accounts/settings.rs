//! What a logged-in user changes with their current password: the
//! password, the address, the account's existence.

use super::{Accounts, Authenticated, end_sessions_with_notice, unix_now};
use crate::auth::activity::{self, Event};
use crate::auth::links::{self, VOID_ON_PASSWORD_CHANGE};
use crate::auth::outbox::{self, Kind};
use crate::auth::throttle::LoginAttempt;
use crate::auth::{Client, Device, Error, Presence};
use crate::domain::{Email, FieldError, Password, new_password};
use crate::models::session::EndReason;
use crate::models::user::{self, Taken, User};

/// A password change as submitted.
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
    /// The form's confirmation field; the API has none.
    pub new_password_confirm: Option<String>,
    pub presence: Presence,
}

fn wrong_current_password() -> Error {
    Error::Invalid(vec![FieldError {
        field: "current_password",
        message: "Current password is incorrect",
    }])
}

impl Accounts {
    /// Checks the current password as a login attempt: counted against
    /// the login limits first (a wrong one stays counted), then verified.
    /// Returns the account as stored now and the attempt, for
    /// [`Throttle::record_success`](crate::auth::throttle::Throttle::record_success).
    pub(super) async fn check_current_password(
        &self,
        user_id: i32,
        password: &str,
        client: Client,
        presence: &Presence,
    ) -> Result<(User, LoginAttempt), Error> {
        let throttle = self.throttle;
        let password = Password::for_login(password);
        let (stored, attempt) = self
            .count(move |conn| {
                let stored = user::find_user_by_id(conn, user_id)?;
                let mut attempt =
                    LoginAttempt::new(stored.as_ref().map(|u| u.email.as_str()), client);
                // The owner, logged in: others' failures on the address do
                // not lock them out of their own settings.
                attempt.exempt_from_email_limit();
                throttle.count_login(conn, &attempt, unix_now())?;
                Ok((stored, attempt))
            })
            .await?;
        let stored = stored.ok_or(Error::InvalidCredentials)?;
        let hash = stored.hashed_password.clone();
        let valid = self
            .hash_pool
            .run(presence, move |hasher| {
                hasher.verify_password(&password, Some(&hash))
            })
            .await?;
        if !valid {
            return Err(wrong_current_password());
        }
        Ok((stored, attempt))
    }

    /// Changes the password of the caller's account: every other session
    /// ends, the calling one stays; reset and change-of-address links
    /// become void; a notice goes to the address.
    pub async fn change_password(
        &self,
        auth: &Authenticated,
        change: PasswordChange,
        device: Device,
    ) -> Result<(), Error> {
        let new = new_password(
            &change.new_password,
            change.new_password_confirm.as_deref(),
            "new_password",
            "new_password_confirm",
        )
        .map_err(Error::Invalid)?;
        let (stored, attempt) = self
            .check_current_password(
                auth.user.id,
                &change.current_password,
                device.client,
                &change.presence,
            )
            .await?;
        let hashed = self
            .hash_pool
            .run(&change.presence, move |hasher| hasher.hash_password(&new))
            .await?
            .map_err(Error::internal)?;
        let (throttle, keep) = (self.throttle, auth.claims.sid.clone());
        self.db
            .write(move |conn| {
                let now = unix_now();
                user::update_password_hash(conn, stored.id, &hashed)?;
                throttle.record_success(conn, &attempt, now)?;
                activity::record(conn, stored.id, Event::PasswordChanged, &device, now)?;
                links::void(conn, stored.id, &VOID_ON_PASSWORD_CHANGE)?;
                end_sessions_with_notice(
                    conn,
                    &stored,
                    Some(&keep),
                    EndReason::PasswordChanged,
                    Kind::PasswordChanged,
                )?;
                Ok(())
            })
            .await?;
        self.account_changed(auth.user.id);
        Ok(())
    }

    /// Sends a confirmation link to `new_email`; the address changes when
    /// it is used. Returns the new address as normalized.
    pub async fn request_email_change(
        &self,
        user: &User,
        new_email: &str,
        current_password: &str,
        device: Device,
        presence: &Presence,
    ) -> Result<String, Error> {
        let email = Email::parse(new_email).map_err(|e| {
            Error::Invalid(vec![FieldError {
                field: "new_email",
                message: e.message,
            }])
        })?;
        if email.as_str() == user.email {
            return Err(Error::Invalid(vec![FieldError {
                field: "new_email",
                message: "This is already your email address",
            }]));
        }
        // The password first: a session alone does not learn which
        // addresses have accounts. The address is checked again when the
        // link is used.
        let (stored, attempt) = self
            .check_current_password(user.id, current_password, device.client, presence)
            .await?;
        let (throttle, wanted) = (self.throttle, email.as_str().to_owned());
        self.db
            .write(move |conn| {
                if user::email_taken_by_other(conn, &wanted, stored.id)? {
                    return Err(Error::Conflict(Taken::Email));
                }
                let now = unix_now();
                throttle.record_success(conn, &attempt, now)?;
                outbox::queue(
                    conn,
                    Kind::ConfirmNewAddress,
                    Some(stored.id),
                    &wanted,
                    None,
                    now,
                )?;
                activity::record(conn, stored.id, Event::EmailConfirmationSent, &device, now)?;
                Ok(())
            })
            .await?;
        self.mail_queued.notify_one();
        Ok(email.as_str().to_owned())
    }

    /// The operator's deletion, by email (any case), without a password;
    /// `false` when no user has the email.
    pub async fn delete_user(&self, email: &str) -> Result<bool, Error> {
        let Some(found) = self.find_user(email).await? else {
            return Ok(false);
        };
        self.remove_user(found.id).await?;
        Ok(true)
    }

    /// The operator's confirmation of an address, by email (any case);
    /// `false` when no user has the email.
    pub async fn confirm_email_of(&self, email: &str) -> Result<bool, Error> {
        let Some(found) = self.find_user(email).await? else {
            return Ok(false);
        };
        let id = found.id;
        self.db
            .write(move |conn| {
                if user::set_email_verified(conn, id)? {
                    let operator = activity::operator();
                    activity::record(conn, id, Event::EmailConfirmed, &operator, unix_now())?;
                }
                Ok(())
            })
            .await?;
        self.cache.forget_user(id);
        Ok(true)
    }

    /// Deletes the account: its sessions, links and waiting mail go with
    /// it at once, and its username and address are free again.
    pub async fn delete_account(
        &self,
        user_id: i32,
        current_password: &str,
        client: Client,
        presence: &Presence,
    ) -> Result<(), Error> {
        let (stored, _) = self
            .check_current_password(user_id, current_password, client, presence)
            .await?;
        self.remove_user(stored.id).await
    }

    /// Deletes the user row (the rest goes by cascade) and its cached
    /// tokens on this instance.
    async fn remove_user(&self, id: i32) -> Result<(), Error> {
        self.db
            .write(move |conn| {
                // A deletion racing with another records one event.
                if user::delete_user(conn, id)? {
                    activity::record_deletion(conn, id, unix_now())?;
                }
                Ok(())
            })
            .await?;
        self.cache.forget_user(id);
        tracing::info!(user = id, "deleted an account");
        Ok(())
    }
}

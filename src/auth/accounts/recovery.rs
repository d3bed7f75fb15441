//! A forgotten password: the request (the same work whether an account
//! has the address or not) and the reset by link.

use super::{Accounts, end_sessions_with_notice, unix_now};
use crate::auth::activity::{self, Event};
use crate::auth::links::{self, Purpose, VOID_ON_PASSWORD_CHANGE};
use crate::auth::outbox::{self, Kind};
use crate::auth::{Device, Error, Presence};
use crate::domain::{Email, new_password};
use crate::models::session::EndReason;
use crate::models::user;

/// A reset as submitted.
pub struct PasswordReset {
    pub token: String,
    pub password: String,
    /// The form's confirmation field; the API has none.
    pub password_confirm: Option<String>,
    pub presence: Presence,
}

impl Accounts {
    /// Counts the request against the client's limit and queues a reset
    /// email for the address. Whether an account has it is not looked at
    /// here: the sender finds out, off the request path, so the answer and
    /// its timing are the same for every address.
    pub async fn request_password_reset(&self, email: &str, device: Device) -> Result<(), Error> {
        // A malformed address counts against the client's limit too; it is
        // refused after the count commits.
        let parsed = Email::parse(email).map(|e| e.as_str().to_owned());
        let throttle = self.throttle;
        let queued = self
            .count(move |conn| {
                let now = unix_now();
                throttle.count_forgot(conn, device.client, now)?;
                match parsed {
                    Ok(email) => {
                        outbox::queue_reset(conn, &email, &device, now)?;
                        Ok(Ok(()))
                    }
                    Err(invalid) => Ok(Err(invalid)),
                }
            })
            .await?;
        queued.map_err(|invalid| Error::Invalid(vec![invalid]))?;
        self.mail_queued.notify_one();
        Ok(())
    }

    /// Whether `token` is a live reset link, without using it.
    pub async fn check_reset_link(&self, token: &str) -> Result<(), Error> {
        let token = token.to_owned();
        self.db
            .run(move |conn| {
                Ok(links::find(
                    conn,
                    &token,
                    &[Purpose::ResetPassword],
                    unix_now(),
                )?)
            })
            .await?
            .map(drop)
            .ok_or(Error::InvalidLink)
    }

    /// Sets a new password from a reset link: every session and token of
    /// the account ends, its failed logins are forgotten, older links are
    /// void, the address counts as confirmed (the link reached it), and a
    /// notice goes to it.
    pub async fn reset_password(&self, reset: PasswordReset, device: Device) -> Result<(), Error> {
        // The link first: a bad one is a 400 whatever the password.
        self.check_reset_link(&reset.token).await?;
        let new = new_password(
            &reset.password,
            reset.password_confirm.as_deref(),
            "password",
            "password_confirm",
        )
        .map_err(Error::Invalid)?;
        let hashed = self
            .hash_pool
            .run(&reset.presence, move |hasher| hasher.hash_password(&new))
            .await?
            .map_err(Error::internal)?;
        let (throttle, token) = (self.throttle, reset.token);
        let user_id = self
            .db
            .write(move |conn| {
                let now = unix_now();
                let link = links::find(conn, &token, &[Purpose::ResetPassword], now)?
                    .ok_or(Error::InvalidLink)?;
                let stored =
                    user::find_user_by_id(conn, link.user_id)?.ok_or(Error::InvalidLink)?;
                if !links::consume(conn, &link)? {
                    return Err(Error::InvalidLink);
                }
                user::update_password_hash(conn, stored.id, &hashed)?;
                if user::set_email_verified(conn, stored.id)? {
                    activity::record(conn, stored.id, Event::EmailConfirmed, &device, now)?;
                }
                links::void(conn, stored.id, &VOID_ON_PASSWORD_CHANGE)?;
                throttle.clear_login_failures(conn, &stored.email)?;
                activity::record(conn, stored.id, Event::PasswordReset, &device, now)?;
                end_sessions_with_notice(
                    conn,
                    &stored,
                    None,
                    EndReason::PasswordReset,
                    Kind::PasswordReset,
                )?;
                Ok(stored.id)
            })
            .await?;
        self.account_changed(user_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{accounts, alice};
    use crate::models::outbox;

    #[tokio::test]
    async fn a_reset_request_does_the_same_work_for_known_and_unknown_addresses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let accounts = accounts(&dir, true, 4);
        alice(&accounts).await;
        let waiting = || async {
            accounts
                .db
                .run(|conn| Ok(outbox::waiting(conn)?))
                .await
                .expect("count")
        };
        let work = |accounts: &super::Accounts| {
            (
                accounts.db.operations(),
                accounts.hasher().verifications(),
                accounts.hasher().hashes(),
            )
        };
        let queued = waiting().await;
        let before = work(&accounts);
        accounts
            .request_password_reset("alice@example.com", crate::auth::Device::default())
            .await
            .expect("known");
        let known = work(&accounts);
        accounts
            .request_password_reset("nobody@example.com", crate::auth::Device::default())
            .await
            .expect("unknown");
        let unknown = work(&accounts);
        let cost = |a: (u64, u64, u64), b: (u64, u64, u64)| (b.0 - a.0, b.1 - a.1, b.2 - a.2);
        // One database call each, no password work, one message queued each.
        assert_eq!(cost(before, known), (1, 0, 0));
        assert_eq!(cost(known, unknown), cost(before, known));
        assert_eq!(waiting().await, queued + 2);
    }
}

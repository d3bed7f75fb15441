//! Confirming the address: new links on request, and the link's use.

use super::{Accounts, unix_now};
use crate::auth::activity::{self, Event};
use crate::auth::links::{self, Purpose};
use crate::auth::outbox::{self, Kind};
use crate::auth::{Device, Error};
use crate::models::user::{self, Taken, User};

/// The links `/verify-email/{token}` opens.
const ADDRESS_LINKS: [Purpose; 2] = [Purpose::ConfirmAddress, Purpose::ConfirmNewAddress];

impl Accounts {
    /// Queues a new confirmation link for the address, unless one was
    /// queued within the cooldown (`TooManyRequests`).
    pub(super) async fn queue_confirmation(
        &self,
        user_id: i32,
        email: String,
        device: Device,
    ) -> Result<(), Error> {
        let throttle = self.throttle;
        self.db
            .write(move |conn| {
                let now = unix_now();
                throttle.count_resend(conn, user_id, now)?;
                outbox::queue(conn, Kind::ConfirmAddress, Some(user_id), &email, None, now)?;
                activity::record(conn, user_id, Event::EmailConfirmationSent, &device, now)?;
                Ok(())
            })
            .await?;
        self.mail_queued.notify_one();
        Ok(())
    }

    /// `/me`'s "send a new link": `false` when the address is confirmed
    /// already (nothing is sent); `TooManyRequests` within the cooldown.
    pub async fn resend_confirmation(&self, user_id: i32, device: Device) -> Result<bool, Error> {
        let current = self
            .db
            .run(move |conn| Ok(user::find_user_by_id(conn, user_id)?))
            .await?;
        match current {
            Some(user) if !user.email_verified => {
                self.queue_confirmation(user.id, user.email, device).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether `token` is a live address link, without using it (mail
    /// scanners open links); `InvalidLink` if not.
    pub async fn check_address_link(&self, token: &str) -> Result<Purpose, Error> {
        let token = token.to_owned();
        self.db
            .run(move |conn| Ok(links::find(conn, &token, &ADDRESS_LINKS, unix_now())?))
            .await?
            .map(|link| link.purpose)
            .ok_or(Error::InvalidLink)
    }

    /// Uses an address link: the account's address is confirmed, or its
    /// new address takes the old one's place (the old one gets a notice).
    /// A new address taken meanwhile is `Conflict` and changes nothing, the
    /// link included.
    pub async fn confirm_address(&self, token: &str, device: Device) -> Result<User, Error> {
        let token = token.to_owned();
        let confirmed = self
            .db
            .write(move |conn| {
                let now = unix_now();
                let link =
                    links::find(conn, &token, &ADDRESS_LINKS, now)?.ok_or(Error::InvalidLink)?;
                let mut user =
                    user::find_user_by_id(conn, link.user_id)?.ok_or(Error::InvalidLink)?;
                if link.purpose == Purpose::ConfirmNewAddress {
                    let new_email = link.new_email.clone().ok_or(Error::InvalidLink)?;
                    if user::email_taken_by_other(conn, &new_email, user.id)? {
                        return Err(Error::Conflict(Taken::Email));
                    }
                    user::change_email(conn, user.id, &new_email).map_err(|e| match e {
                        Ok(taken) => Error::Conflict(taken),
                        Err(db) => db.into(),
                    })?;
                    // Links to the old address confirm nothing now.
                    links::void(conn, user.id, &[Purpose::ConfirmAddress])?;
                    outbox::queue(
                        conn,
                        Kind::EmailChanged,
                        Some(user.id),
                        &user.email,
                        Some(&new_email),
                        now,
                    )?;
                    user.email = new_email;
                    activity::record(conn, user.id, Event::EmailChanged, &device, now)?;
                } else {
                    // Confirmed already (by a reset link meanwhile): no event.
                    if user::set_email_verified(conn, user.id)? {
                        activity::record(conn, user.id, Event::EmailConfirmed, &device, now)?;
                    }
                }
                if !links::consume(conn, &link)? {
                    return Err(Error::InvalidLink);
                }
                user.email_verified = true;
                Ok(user)
            })
            .await?;
        self.account_changed(confirmed.id);
        Ok(confirmed)
    }
}

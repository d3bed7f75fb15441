//! The outbox sender: every instance runs one. It claims due messages
//! with a lease (so two instances never send one message together), makes
//! each message's link when it sends it, and deletes the row once sent. A
//! failed try is retried on the schedule of [`crate::mail::schedule`].

use std::time::Duration;

use tracing::Instrument;

use super::{Accounts, unix_now};
use crate::auth::Error;
use crate::auth::activity::{self, Event};
use crate::auth::links::{self, Purpose};
use crate::auth::outbox::Kind;
use crate::db::AnyConnection;
use crate::mail::{Email, Letter, LinkPurpose, Mailer, Notice, Sent, schedule};
use crate::models::outbox::{self, Queued};
use crate::models::user;

/// How long a claimed message is this instance's: longer than one SMTP
/// conversation may take. An instance that dies sending leaves it to the
/// others (or to itself, restarted) when the lease ends.
const LEASE_SECS: i64 = 60;
/// Messages claimed per pass.
const BATCH: i64 = 16;
/// How often the outbox is looked at without a wake-up: mail queued by
/// another instance or the command line, and retries.
const POLL: Duration = Duration::from_secs(1);

/// What a claimed message turned out to be.
enum Prepared {
    Send(Email),
    /// Nothing to send (the account is gone, the address confirmed
    /// already, no account has the address, the reset limit is reached).
    Nothing(&'static str),
}

impl Accounts {
    /// Sends queued mail until the process ends; links start with
    /// `link_base`.
    pub async fn send_mail(&self, mailer: Mailer, link_base: String) {
        loop {
            let busy = match self.send_due(&mailer, &link_base).await {
                Ok(claimed) => claimed > 0,
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "cannot read the outbox");
                    false
                }
            };
            if !busy {
                // A wake-up while sending left its permit: no mail waits a poll.
                let _ = tokio::time::timeout(POLL, self.mail_queued.notified()).await;
            }
        }
    }

    /// One pass over the due messages; returns how many this instance
    /// claimed.
    pub async fn send_due(&self, mailer: &Mailer, link_base: &str) -> Result<usize, Error> {
        let now = unix_now();
        let due = self
            .db
            .run(move |conn| Ok(outbox::due(conn, now, BATCH)?))
            .await?;
        let mut claimed = 0;
        for id in due {
            let now = unix_now();
            let Some(message) = self
                .db
                .write(move |conn| Ok(outbox::claim(conn, &id, now, now + LEASE_SECS)?))
                .await?
            else {
                continue;
            };
            claimed += 1;
            let span = tracing::info_span!("mail", id = %message.id, kind = %message.kind);
            self.deliver(message, mailer, link_base)
                .instrument(span)
                .await;
        }
        Ok(claimed)
    }

    async fn deliver(&self, message: Queued, mailer: &Mailer, link_base: &str) {
        let id = message.id.clone();
        let prepared = {
            let (rules, throttle, base) = (self.links, self.throttle, link_base.to_owned());
            let message = message.clone();
            self.db
                .write(move |conn| prepare(conn, &message, rules, throttle, &base))
                .await
        };
        let outcome = match prepared {
            Ok(Prepared::Send(email)) => mailer.send(&email).await.map(Some),
            Ok(Prepared::Nothing(why)) => {
                tracing::info!("nothing to send: {why}");
                metrics::counter!("gatehouse_emails_total", "outcome" => "skipped").increment(1);
                Ok(None)
            }
            Err(error) => {
                // The lease runs out and the message is tried again.
                tracing::warn!(error = format!("{error:#}"), "cannot prepare an email");
                metrics::counter!("gatehouse_emails_total", "outcome" => "deferred").increment(1);
                return;
            }
        };
        let age = unix_now() - message.created_at;
        let settled = match outcome {
            Ok(sent) => {
                if sent.is_some() {
                    metrics::counter!("gatehouse_emails_total", "outcome" => "sent").increment(1);
                }
                match sent {
                    Some(Sent::File(path)) => {
                        tracing::info!("wrote an email to {}", path.display());
                    }
                    Some(Sent::Smtp) => {
                        tracing::info!(attempts = message.attempts, "sent an email")
                    }
                    None => {}
                }
                self.db
                    .write(move |conn| Ok(outbox::delete(conn, &id)?))
                    .await
            }
            Err(error) => {
                match schedule::retry_delay(message.attempts, age).filter(|_| !error.permanent) {
                    Some(delay) => {
                        metrics::counter!("gatehouse_emails_total", "outcome" => "deferred")
                            .increment(1);
                        tracing::warn!(
                            attempts = message.attempts,
                            reason = %error,
                            "could not send an email; trying again in {delay}s"
                        );
                        let reason = error.reason.chars().take(500).collect::<String>();
                        self.db
                            .write(move |conn| {
                                Ok(outbox::retry_at(conn, &id, unix_now() + delay, &reason)?)
                            })
                            .await
                    }
                    None => {
                        metrics::counter!("gatehouse_emails_total", "outcome" => "failed")
                            .increment(1);
                        tracing::error!(
                            attempts = message.attempts,
                            reason = %error,
                            "gave up sending an email"
                        );
                        self.db
                            .write(move |conn| Ok(outbox::delete(conn, &id)?))
                            .await
                    }
                }
            }
        };
        if let Err(error) = settled {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot record how sending went"
            );
        }
    }
}

/// Turns a claimed row into the email to send, making its link now (the
/// newest link of its purpose, so an older one stops working).
fn prepare(
    conn: &mut AnyConnection,
    message: &Queued,
    rules: super::LinkRules,
    throttle: crate::auth::throttle::Throttle,
    base: &str,
) -> Result<Prepared, Error> {
    let Some(kind) = Kind::parse(&message.kind) else {
        return Ok(Prepared::Nothing(
            "a kind of message this version does not know",
        ));
    };
    let now = unix_now();
    let account = match (kind, message.user_id) {
        (Kind::ResetPassword, _) => user::find_user_by_email(conn, &message.recipient)?,
        (_, Some(id)) => user::find_user_by_id(conn, id)?,
        (_, None) => None,
    };
    let Some(account) = account else {
        return Ok(Prepared::Nothing(match kind {
            Kind::ResetPassword => "no account has the address",
            _ => "the account is gone",
        }));
    };
    let to = message.recipient.as_str();
    let username = account.username.as_str();
    // A link of `purpose`, made now: older ones of the purpose stop working.
    let letter = |conn: &mut AnyConnection,
                  purpose: Purpose,
                  new_email: Option<&str>|
     -> Result<Email, Error> {
        let ttl = rules.ttl(purpose);
        let token = links::issue(conn, account.id, purpose, new_email, ttl, now)?;
        let link = format!("{base}{}", purpose.path(&token));
        let purpose = match purpose {
            Purpose::ConfirmAddress => LinkPurpose::ConfirmAddress,
            Purpose::ResetPassword => LinkPurpose::ResetPassword,
            Purpose::ConfirmNewAddress => LinkPurpose::ConfirmNewAddress,
        };
        Letter::Link {
            purpose,
            username,
            link: &link,
            valid_for: Duration::from_secs(u64::try_from(ttl).unwrap_or(0)),
        }
        .compose(to)
        .map_err(Error::internal)
    };
    let email = match kind {
        Kind::ConfirmAddress => {
            if account.email_verified || account.email != to {
                return Ok(Prepared::Nothing(
                    "the address is confirmed or no longer the account's",
                ));
            }
            letter(conn, Purpose::ConfirmAddress, None)?
        }
        Kind::ResetPassword => {
            // Counted and recorded once per request, not per try; past the
            // account's limit neither mail nor event, so requests from many
            // addresses cannot flood the account's log.
            if message.attempts == 1 {
                if !throttle.allow_reset_mail(conn, account.id, now)? {
                    return Ok(Prepared::Nothing(
                        "the account's reset emails are past the limit",
                    ));
                }
                activity::record_as(
                    conn,
                    account.id,
                    Event::PasswordResetRequested,
                    message.client_ip.as_deref().unwrap_or_default(),
                    message.device.as_deref().unwrap_or_default(),
                    message.created_at,
                )?;
            }
            letter(conn, Purpose::ResetPassword, None)?
        }
        Kind::ConfirmNewAddress => letter(conn, Purpose::ConfirmNewAddress, Some(to))?,
        Kind::PasswordChanged | Kind::PasswordReset => Letter::Notice(Notice::PasswordChanged {
            username,
            reset: kind == Kind::PasswordReset,
        })
        .compose(to)
        .map_err(Error::internal)?,
        Kind::TwoFactorEnabled | Kind::TwoFactorDisabled => Letter::Notice(Notice::TwoFactor {
            username,
            on: kind == Kind::TwoFactorEnabled,
        })
        .compose(to)
        .map_err(Error::internal)?,
        Kind::RecoveryCodeUsed => Letter::Notice(Notice::RecoveryCodeUsed { username })
            .compose(to)
            .map_err(Error::internal)?,
        Kind::EmailChanged => Letter::Notice(Notice::EmailChanged {
            username,
            new_email: message.new_email.as_deref().unwrap_or(&account.email),
        })
        .compose(to)
        .map_err(Error::internal)?,
    };
    Ok(Prepared::Send(email))
}

//! Mail queued in the database, in the transaction of what it is about.
//! A row says what to send and to whom; the sender
//! ([`Accounts::send_mail`](crate::auth::Accounts::send_mail)) makes the
//! link when it sends.

use crate::auth::activity;
use crate::auth::sessions::Device;
use crate::db::AnyConnection;
use crate::models::outbox::{self, NewQueued};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ConfirmAddress,
    /// Sent only if an account has the recipient address; the request
    /// path does not look.
    ResetPassword,
    ConfirmNewAddress,
    PasswordChanged,
    PasswordReset,
    /// To the old address, naming the new one.
    EmailChanged,
    TwoFactorEnabled,
    TwoFactorDisabled,
    RecoveryCodeUsed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmAddress => "confirm-address",
            Self::ResetPassword => "reset-password",
            Self::ConfirmNewAddress => "confirm-new-address",
            Self::PasswordChanged => "password-changed",
            Self::PasswordReset => "password-reset",
            Self::EmailChanged => "email-changed",
            Self::TwoFactorEnabled => "two-factor-enabled",
            Self::TwoFactorDisabled => "two-factor-disabled",
            Self::RecoveryCodeUsed => "recovery-code-used",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::ConfirmAddress,
            Self::ResetPassword,
            Self::ConfirmNewAddress,
            Self::PasswordChanged,
            Self::PasswordReset,
            Self::EmailChanged,
            Self::TwoFactorEnabled,
            Self::TwoFactorDisabled,
            Self::RecoveryCodeUsed,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// Queues one message, due now.
pub fn queue(
    conn: &mut AnyConnection,
    kind: Kind,
    user_id: Option<i32>,
    recipient: &str,
    new_email: Option<&str>,
    now: i64,
) -> diesel::QueryResult<()> {
    insert(conn, kind, user_id, recipient, new_email, None, now)
}

/// Queues a reset email for `recipient`, whoever has it, noting who asked:
/// the sender records the request on the account it finds.
pub fn queue_reset(
    conn: &mut AnyConnection,
    recipient: &str,
    requester: &Device,
    now: i64,
) -> diesel::QueryResult<()> {
    insert(
        conn,
        Kind::ResetPassword,
        None,
        recipient,
        None,
        Some(requester),
        now,
    )
}

fn insert(
    conn: &mut AnyConnection,
    kind: Kind,
    user_id: Option<i32>,
    recipient: &str,
    new_email: Option<&str>,
    requester: Option<&Device>,
    now: i64,
) -> diesel::QueryResult<()> {
    let client_ip = requester.map(|d| d.client.to_string());
    let device = requester.map(activity::describe);
    outbox::insert(
        conn,
        &NewQueued {
            id: &uuid::Uuid::new_v4().simple().to_string(),
            kind: kind.as_str(),
            user_id,
            recipient,
            new_email,
            created_at: now,
            next_attempt_at: now,
            client_ip: client_ip.as_deref(),
            device: device.as_deref(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            Kind::ConfirmAddress,
            Kind::ResetPassword,
            Kind::ConfirmNewAddress,
            Kind::PasswordChanged,
            Kind::PasswordReset,
            Kind::EmailChanged,
            Kind::TwoFactorEnabled,
            Kind::TwoFactorDisabled,
            Kind::RecoveryCodeUsed,
        ] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}

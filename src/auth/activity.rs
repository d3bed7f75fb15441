//! The activity log: what happened to an account, when, from which address
//! and device. Events are written in the transaction of what they record,
//! so one is kept exactly when its change is.

use crate::auth::sessions::{Device, device_name, rfc3339};
use crate::db::AnyConnection;
use crate::models::event::{self, EventRow, NewEvent};

/// The `User-Agent` of the operator's command line: its events show
/// "Command line" as their device. No request can send it: a header value
/// holds no control characters (the edge reads only visible ASCII).
pub const COMMAND_LINE: &str = "\ncommand line";

/// The device of the operator's commands.
pub fn operator() -> Device {
    Device {
        user_agent: COMMAND_LINE.to_owned(),
        ..Device::default()
    }
}

/// Every kind of event, by its name in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    AccountCreated,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    Logout,
    SessionEnded,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailConfirmationSent,
    EmailConfirmed,
    EmailChanged,
    TwoFactorEnabled,
    TwoFactorDisabled,
    RecoveryCodeUsed,
    AccountDisabled,
    AccountEnabled,
    AccountDeleted,
}

impl Event {
    pub const ALL: [Self; 18] = [
        Self::AccountCreated,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoginThrottled,
        Self::Logout,
        Self::SessionEnded,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailConfirmationSent,
        Self::EmailConfirmed,
        Self::EmailChanged,
        Self::TwoFactorEnabled,
        Self::TwoFactorDisabled,
        Self::RecoveryCodeUsed,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::AccountDeleted,
    ];

    /// The event's name, as stored and as `gatehouse audit` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoginThrottled => "login.throttled",
            Self::Logout => "logout",
            Self::SessionEnded => "session.ended",
            Self::PasswordChanged => "password.changed",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::PasswordReset => "password.reset",
            Self::EmailConfirmationSent => "email.confirmation_sent",
            Self::EmailConfirmed => "email.confirmed",
            Self::EmailChanged => "email.changed",
            Self::TwoFactorEnabled => "two_factor.enabled",
            Self::TwoFactorDisabled => "two_factor.disabled",
            Self::RecoveryCodeUsed => "recovery_code.used",
            Self::AccountDisabled => "account.disabled",
            Self::AccountEnabled => "account.enabled",
            Self::AccountDeleted => "account.deleted",
        }
    }

    /// The event in words, for the activity page.
    pub fn words(self) -> &'static str {
        match self {
            Self::AccountCreated => "Account created",
            Self::LoginSucceeded => "Logged in",
            Self::LoginFailed => "Failed login",
            Self::LoginThrottled => "Logins paused after too many failures",
            Self::Logout => "Logged out",
            Self::SessionEnded => "Session ended",
            Self::PasswordChanged => "Password changed",
            Self::PasswordResetRequested => "Password reset requested",
            Self::PasswordReset => "Password reset",
            Self::EmailConfirmationSent => "Confirmation email sent",
            Self::EmailConfirmed => "Email address confirmed",
            Self::EmailChanged => "Email address changed",
            Self::TwoFactorEnabled => "Two-factor authentication turned on",
            Self::TwoFactorDisabled => "Two-factor authentication turned off",
            Self::RecoveryCodeUsed => "Recovery code used",
            Self::AccountDisabled => "Account disabled",
            Self::AccountEnabled => "Account enabled",
            Self::AccountDeleted => "Account deleted",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }
}

/// An event as it is listed: the page and `gatehouse audit`.
pub type Recorded = EventRow;

impl Recorded {
    /// The event in words ("Logged in"); its name when it is not one this
    /// version knows.
    pub fn words(&self) -> &str {
        match Event::from_name(&self.event) {
            Some(event) => event.words(),
            None => &self.event,
        }
    }

    /// The time in RFC 3339, UTC.
    pub fn at_rfc3339(&self) -> String {
        rfc3339(self.at)
    }
}

/// The device column of an event: "Firefox on Linux", or "Command line".
pub fn describe(device: &Device) -> String {
    if device.user_agent == COMMAND_LINE {
        "Command line".to_owned()
    } else {
        device_name(&device.user_agent)
    }
}

/// Records `event` of `user_id` from `device`, in the caller's transaction.
pub fn record(
    conn: &mut AnyConnection,
    user_id: i32,
    event: Event,
    device: &Device,
    now: i64,
) -> diesel::QueryResult<()> {
    let (ip, device) = (device.client.to_string(), describe(device));
    record_as(conn, user_id, event, &ip, &device, now)
}

/// Records `event` with an address and device described already (as a
/// queued message keeps them), at `at`.
pub fn record_as(
    conn: &mut AnyConnection,
    user_id: i32,
    event: Event,
    ip: &str,
    device: &str,
    at: i64,
) -> diesel::QueryResult<()> {
    event::insert(
        conn,
        &NewEvent {
            user_id,
            at,
            event: event.name(),
            ip,
            device,
        },
    )
}

/// Deletes the account's events and keeps one `account.deleted`, with
/// neither address nor device, in the caller's transaction.
pub fn record_deletion(
    conn: &mut AnyConnection,
    user_id: i32,
    now: i64,
) -> diesel::QueryResult<()> {
    event::delete_of(conn, user_id)?;
    event::insert(
        conn,
        &NewEvent {
            user_id,
            at: now,
            event: Event::AccountDeleted.name(),
            ip: "",
            device: "",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_a_distinct_name_that_reads_back() {
        let mut names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        for event in Event::ALL {
            assert_eq!(Event::from_name(event.name()), Some(event));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }

    #[test]
    fn the_command_line_is_named_as_such() {
        assert_eq!(describe(&operator()), "Command line");
    }
}

//! What can go wrong in the core, in words a user may read. The edge
//! decides the status and how it is shown.

use crate::domain::FieldError;
use crate::models::user::Taken;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("Invalid or expired refresh token")]
    InvalidRefreshToken,
    /// An email link that is unknown, used, replaced or expired.
    #[error("This link is invalid or has expired")]
    InvalidLink,
    /// A right password of an account that must confirm its address first.
    #[error("Confirm your email address first: we have sent you a new link")]
    EmailNotConfirmed,
    /// A right password of an account the operator has disabled.
    #[error("This account is disabled")]
    AccountDisabled,
    /// A right password of an account with two-factor on, without a code.
    #[error("Two-factor code required")]
    TwoFactorRequired { user_id: i32 },
    #[error("Invalid code")]
    InvalidCode,
    /// The login waiting for its code is over (5 minutes, five wrong codes).
    #[error("Your login has expired. Please log in again.")]
    PendingLoginExpired,
    #[error("Too many attempts. Try again later.")]
    TooManyRequests { retry_after: u64 },
    #[error("Invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{}", .0.message())]
    Conflict(Taken),
    /// The database cannot be reached (or no connection is free in time).
    #[error("The service is unavailable right now. Please try again in a moment.")]
    Unavailable(#[source] anyhow::Error),
    /// More password hashing is waiting than the queue holds.
    #[error("The server is busy. Please try again in a moment.")]
    Overloaded,
    #[error("Something went wrong")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.into())
    }
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        match error {
            Diesel::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | Diesel::BrokenTransactionManager => Self::Unavailable(error.into()),
            _ => Self::Internal(error.into()),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

//! The core: accounts, passwords, tokens, throttling. It knows nothing of
//! HTTP; the server's handlers and the command line call the same
//! [`Accounts`] methods with plain values.

pub mod accounts;
pub mod activity;
pub mod cache;
mod client;
mod database;
mod error;
pub mod hash_pool;
pub mod key_file;
pub mod links;
pub mod outbox;
pub mod password;
mod presence;
mod revocation_channel;
pub mod sessions;
pub mod throttle;
pub mod token;
pub mod two_factor;

pub use accounts::{
    Accounts, Authenticated, Credentials, Issued, NewAccount, PasswordChange, PasswordReset,
    PendingLogin,
};
pub use client::Client;
pub use database::Database;
pub use error::Error;
pub use presence::Presence;
pub use sessions::{Device, SessionInfo};
pub use token::{Claims, TokenKeys};

//! Rows and their queries. Functions take a connection and return
//! `QueryResult`; the caller decides what an error means to a user.

pub mod denylist;
pub mod event;
pub mod link_token;
pub mod outbox;
pub mod rate_limit;
pub mod secret;
pub mod session;
pub mod two_factor;
pub mod user;

pub use user::{NewUser, User};

//! Authentication that is not HTTP: accounts, passwords, tokens, and turning
//! a token into a user.

pub mod accounts;
pub mod cache;
pub mod cookie;
pub mod extract;
pub mod hash_pool;
pub mod password;
pub mod throttle;
pub mod token;

pub use accounts::{
    Authenticated, authenticate, count_registration, log_in, log_out, log_out_everywhere, register,
};
pub use extract::{ApiUser, MaybePageUser, PageUser};
pub use token::{Claims, TokenKeys};

//! The edge: everything that knows HTTP. Extractors for the caller and the
//! client address, cookies, the session (CSRF and flash), pages, the error
//! and its two renderers, the middleware and the metrics. Handlers live in
//! `routes`.

pub mod caller;
pub mod cookies;
pub mod error;
pub mod form;
pub mod form_page;
pub mod metrics;
pub mod middleware;
pub mod page;
pub mod session;

pub use caller::{ApiUser, MaybeUser, PageTokens, PageUser, Remote, TrustedProxies};
pub use cookies::{AuthCookies, DeviceCookies};
pub use error::{ApiError, AppError};

//! Black-box tests: every test starts the real `gatehouse` binary on port 0
//! with a fresh database and talks HTTP to it.
//!
//! Each test is an `async fn name(backend: Backend)` instantiated by
//! `backend_tests!` as `MODULE::sqlite::name` and `MODULE::postgres::name`.
//! The PostgreSQL half runs when `GATEHOUSE_TEST_POSTGRES_URL` holds an
//! admin connection URL (each test creates and drops its own database).
#![allow(clippy::unwrap_used)]

/// Instantiates `async fn name(backend: Backend)` tests for both backends.
///
/// ```ignore
/// backend_tests!(a, b);
/// backend_tests! {
///     both: a, b;
///     multi_thread: c;      // both backends, on a multi-threaded runtime
///     postgres_only: d;
/// }
/// ```
macro_rules! backend_tests {
    (
        $(both: $($both:ident),* $(,)? ;)?
        $(multi_thread: $($threaded:ident),* $(,)? ;)?
        $(postgres_only: $($pg:ident),* $(,)? ;)?
    ) => {
        mod sqlite {
            $($(
                #[tokio::test]
                async fn $both() {
                    super::$both(crate::helpers::Backend::Sqlite).await
                }
            )*)?
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $threaded() {
                    super::$threaded(crate::helpers::Backend::Sqlite).await
                }
            )*)?
        }

        mod postgres {
            $($(
                #[tokio::test]
                async fn $both() {
                    if let Some(backend) = crate::helpers::Backend::postgres() {
                        super::$both(backend).await
                    }
                }
            )*)?
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $threaded() {
                    if let Some(backend) = crate::helpers::Backend::postgres() {
                        super::$threaded(backend).await
                    }
                }
            )*)?
            $($(
                #[tokio::test]
                async fn $pg() {
                    if let Some(backend) = crate::helpers::Backend::postgres() {
                        super::$pg(backend).await
                    }
                }
            )*)?
        }
    };
    ($($name:ident),+ $(,)?) => {
        backend_tests! { both: $($name),+; }
    };
}

mod account;
mod account_settings;
mod activity;
mod api;
mod backup;
mod concurrency;
mod config;
mod deployment;
mod email_confirmation;
mod empty_posts;
mod expiry;
mod failed_writes;
mod faults;
mod first_start;
mod forgery;
mod hardening;
mod headers;
mod health;
mod helpers;
mod home;
mod input;
mod instances;
mod login;
mod login_form_tokens;
mod logout;
mod logs;
mod malformed;
mod methods;
mod metrics;
mod nginx;
mod openapi;
mod operator;
mod outbox;
mod password_reset;
mod register;
mod request_logs;
mod resilience;
mod revocation;
mod session_lifecycle;
mod sessions;
mod sessions_page;
mod smtp_tls;
mod soak;
mod throttling;
mod tls;
mod tokens;
mod two_factor;

//! Browser tests: the real `gatehouse` binary driven through Debian's
//! Chromium (headless) and chromedriver, as a person would use it, plus an
//! accessibility pass with axe-core and layout and markup checks.
//!
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` the suite skips
//! with one line on stderr (and fails under `CI=true`); the same goes for
//! axe-core (`GATEHOUSE_AXE_JS` or `target/axe/package/axe.min.js`, fetched
//! once with `npm pack` when absent). Every test leaves a screenshot of its
//! last page in `target/e2e/`.
#![allow(clippy::unwrap_used)]

/// Declares a browser test: a `#[tokio::test]` that starts a server and a
/// chromedriver, runs the body with a [`driver::E2e`], and screenshots every
/// browser it opened into `target/e2e/NAME.png`, failing or not.
///
/// ```ignore
/// e2e_test!(async fn name(t) { let browser = t.browser().await; … });
/// e2e_test!(#[axe] async fn name(t) { … });  // needs axe-core too
/// ```
macro_rules! e2e_test {
    (async fn $name:ident($t:ident) $body:block) => {
        #[tokio::test]
        async fn $name() {
            crate::driver::run(stringify!($name), false, |$t| async move $body).await
        }
    };
    (#[axe] async fn $name:ident($t:ident) $body:block) => {
        #[tokio::test]
        async fn $name() {
            crate::driver::run(stringify!($name), true, |$t| async move $body).await
        }
    };
    (#[env($($key:literal = $value:literal),* $(,)?)] async fn $name:ident($t:ident) $body:block) => {
        #[tokio::test]
        async fn $name() {
            crate::driver::run_with(stringify!($name), false, &[$(($key, $value)),*], |$t| async move $body)
                .await
        }
    };
}

mod accessibility;
mod axe;
mod driver;
mod flows;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod pages;
mod recovery;
mod sessions;
mod two_factor;
mod validity;

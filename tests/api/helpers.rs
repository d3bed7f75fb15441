//! The harness: starts the real `gatehouse` binary on port 0 with a fresh
//! database and talks HTTP to it. Each job has its own file in `helpers/`;
//! everything is re-exported here, so tests use `crate::helpers::NAME`.
//!
//! `tests/e2e` includes this file by path, and a module loaded by path looks
//! for its submodules beside itself, so each one names its file.

#[path = "helpers/activity.rs"]
mod activity;
#[path = "helpers/answers.rs"]
mod answers;
#[path = "helpers/app.rs"]
mod app;
#[path = "helpers/browser.rs"]
mod browser;
#[path = "helpers/certs.rs"]
mod certs;
#[path = "helpers/codes.rs"]
mod codes;
#[path = "helpers/constants.rs"]
mod constants;
#[path = "helpers/cookies.rs"]
mod cookies;
#[path = "helpers/html.rs"]
mod html;
#[path = "helpers/mail.rs"]
mod mail;
#[path = "helpers/proxy.rs"]
mod proxy;
#[path = "helpers/skip.rs"]
mod skip;
#[path = "helpers/sql.rs"]
mod sql;
#[path = "helpers/terminal.rs"]
mod terminal;
#[path = "helpers/tokens.rs"]
mod tokens;
#[path = "helpers/users.rs"]
mod users;

// tests/e2e uses only part of the harness: what it leaves unused is not
// a mistake there.
#[allow(unused_imports)]
pub use activity::*;
#[allow(unused_imports)]
pub use answers::*;
#[allow(unused_imports)]
pub use app::*;
#[allow(unused_imports)]
pub use browser::*;
#[allow(unused_imports)]
pub use certs::*;
#[allow(unused_imports)]
pub use codes::*;
#[allow(unused_imports)]
pub use constants::*;
#[allow(unused_imports)]
pub use cookies::*;
#[allow(unused_imports)]
pub use html::*;
#[allow(unused_imports)]
pub use mail::*;
#[allow(unused_imports)]
pub use proxy::*;
#[allow(unused_imports)]
pub use skip::*;
#[allow(unused_imports)]
pub use sql::*;
#[allow(unused_imports)]
pub use terminal::*;
#[allow(unused_imports)]
pub use tokens::*;
#[allow(unused_imports)]
pub use users::*;

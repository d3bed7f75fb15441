//! Reading the activity log: the account's own page and the operator's
//! `gatehouse audit`.

use crate::auth::activity::Recorded;
use crate::auth::token::unix_now;
use crate::auth::{Accounts, Error};
use crate::models::event;

/// Events an account's activity page shows.
pub const PAGE_EVENTS: i64 = 50;
/// Events `gatehouse audit` reads at a time.
const AUDIT_BATCH: i64 = 1000;

impl Accounts {
    /// How long events are kept, in seconds.
    pub fn activity_retention_secs(&self) -> i64 {
        self.activity_retention
    }

    /// The account's newest events, newest first.
    pub async fn activity_of(&self, user_id: i32) -> Result<Vec<Recorded>, Error> {
        let rows = self
            .db
            .run(move |conn| Ok(event::newest_of(conn, user_id, PAGE_EVENTS)?))
            .await?;
        Ok(rows)
    }

    /// Hands `each` the events of the last `since_secs` seconds, oldest
    /// first, a batch at a time (a long log is never held whole): of the
    /// account with `email` (any case), or of every account. `false` when
    /// no account has that email.
    pub async fn audit(
        &self,
        email: Option<&str>,
        since_secs: i64,
        mut each: impl FnMut(Vec<Recorded>),
    ) -> Result<bool, Error> {
        let user_id = match email {
            Some(email) => match self.find_user(email).await? {
                Some(user) => Some(user.id),
                None => return Ok(false),
            },
            None => None,
        };
        let since = unix_now().saturating_sub(since_secs);
        let mut after = None;
        loop {
            let rows = self
                .db
                .run(move |conn| Ok(event::page_since(conn, user_id, since, after, AUDIT_BATCH)?))
                .await?;
            let full = rows.len() == usize::try_from(AUDIT_BATCH).unwrap_or(usize::MAX);
            after = rows.last().map(|row| (row.at, row.id));
            each(rows);
            if !full {
                return Ok(true);
            }
        }
    }
}

//! Reading the activity log: the account's own page and the operator's
//! `gatehouse audit`.

use crate::auth::activity::Recorded;
use crate::auth::token::unix_now;
use crate::auth::{Accounts, Error};
use crate::domain::Email;
use crate::models::{event, user};

/// Events an account's activity page shows.
pub const PAGE_EVENTS: i64 = 50;

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
        Ok(rows.into_iter().map(Recorded::from).collect())
    }

    /// Events of the last `since_secs` seconds, oldest first: of the
    /// account with `email` (any case), or of every account. `None` when no
    /// account has that email.
    pub async fn audit(
        &self,
        email: Option<&str>,
        since_secs: i64,
    ) -> Result<Option<Vec<Recorded>>, Error> {
        let email = email.map(Email::normalize);
        let since = unix_now().saturating_sub(since_secs);
        let rows = self
            .db
            .run(move |conn| {
                let user_id = match email {
                    Some(email) => match user::find_user_by_email(conn, &email)? {
                        Some(user) => Some(user.id),
                        None => return Ok(None),
                    },
                    None => None,
                };
                Ok(Some(event::since(conn, user_id, since)?))
            })
            .await?;
        Ok(rows.map(|rows| rows.into_iter().map(Recorded::from).collect()))
    }
}

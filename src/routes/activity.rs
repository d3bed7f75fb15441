//! The account's activity page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::Accounts;
use crate::auth::token::unix_now;
use crate::routes::sessions::ago;
use crate::web::page::{Layout, render};
use crate::web::session::PageSession;
use crate::web::{AppError, PageUser};

/// One event, as the page shows it.
pub struct Row {
    /// The stored name, for `data-event`.
    pub event: String,
    pub words: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub ago: String,
    pub ip: String,
    pub device: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
pub struct ActivityPage {
    pub layout: Layout,
    pub rows: Vec<Row>,
    pub shown: i64,
    /// How long events are kept, in words ("90 days").
    pub retention: String,
}

pub async fn activity_page(
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    let now = unix_now();
    let rows = accounts
        .activity_of(auth.user.id)
        .await?
        .into_iter()
        .map(|e| Row {
            words: e.words().to_owned(),
            at: e.at_rfc3339(),
            ago: ago(now - e.at),
            ip: if e.ip.is_empty() {
                "unknown".into()
            } else {
                e.ip
            },
            device: if e.device.is_empty() {
                "Unknown device".into()
            } else {
                e.device
            },
            event: e.event,
        })
        .collect();
    render(
        StatusCode::OK,
        &ActivityPage {
            layout: Layout::new("Account activity", &session, Some(&auth)),
            rows,
            shown: crate::auth::accounts::PAGE_EVENTS,
            retention: retention_in_words(accounts.activity_retention_secs()),
        },
    )
}

/// A retention period in words: whole days, else hours.
fn retention_in_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs >= 86_400 {
        plural(secs / 86_400, "day")
    } else {
        plural((secs / 3600).max(1), "hour")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_in_days_or_hours() {
        assert_eq!(retention_in_words(90 * 86_400), "90 days");
        assert_eq!(retention_in_words(86_400), "1 day");
        assert_eq!(retention_in_words(7200), "2 hours");
    }
}

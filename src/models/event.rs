//! The activity log: one row per thing that happened to an account.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::events;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub user_id: i32,
    /// Unix seconds.
    pub at: i64,
    pub event: String,
    pub ip: String,
    pub device: String,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent<'a> {
    pub user_id: i32,
    pub at: i64,
    pub event: &'a str,
    pub ip: &'a str,
    pub device: &'a str,
}

pub fn insert(conn: &mut AnyConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(events::table)
        .values(event)
        .execute(conn)
        .map(drop)
}

/// The account's newest `limit` events, newest first.
pub fn newest_of(conn: &mut AnyConnection, user_id: i32, limit: i64) -> QueryResult<Vec<EventRow>> {
    events::table
        .filter(events::user_id.eq(user_id))
        .order((events::at.desc(), events::id.desc()))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// Where a page of events ends: its last event's time and id.
pub type Cursor = (i64, i64);

/// Up to `limit` events since `since` (Unix seconds) and after `after`, of
/// one account or all, oldest first.
pub fn page_since(
    conn: &mut AnyConnection,
    user_id: Option<i32>,
    since: i64,
    after: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = events::table
        .filter(events::at.ge(since))
        .order((events::at.asc(), events::id.asc()))
        .limit(limit)
        .select(EventRow::as_select())
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(events::user_id.eq(user_id));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            events::at
                .gt(at)
                .or(events::at.eq(at).and(events::id.gt(id))),
        );
    }
    query.load(conn)
}

/// Deletes every event of the account.
pub fn delete_of(conn: &mut AnyConnection, user_id: i32) -> QueryResult<usize> {
    diesel::delete(events::table.filter(events::user_id.eq(user_id))).execute(conn)
}

/// Deletes events older than `before` (Unix seconds); returns how many.
pub fn purge_before(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(events::table.filter(events::at.lt(before))).execute(conn)
}

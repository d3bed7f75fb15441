use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::db::AnyConnection;
use crate::schema::rate_limits;

/// A counter after a hit: its count and when its window ends.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Counter {
    #[diesel(sql_type = Integer)]
    pub count: i32,
    #[diesel(sql_type = BigInt)]
    pub reset_at: i64,
}

/// Counts one event for `key`: opens a new window of `window_secs` when
/// there is none or it has ended. One statement, so instances racing on a
/// key never lose a count.
pub fn hit(
    conn: &mut AnyConnection,
    key: &str,
    window_secs: i64,
    now: i64,
) -> QueryResult<Counter> {
    const UPSERT: &str = "INSERT INTO rate_limits (key, count, reset_at) VALUES (#1, 1, #2) \
         ON CONFLICT (key) DO UPDATE SET \
         count = CASE WHEN rate_limits.reset_at > #3 THEN rate_limits.count + 1 ELSE 1 END, \
         reset_at = CASE WHEN rate_limits.reset_at > #3 THEN rate_limits.reset_at ELSE excluded.reset_at END \
         RETURNING count, reset_at";
    // The SQL is the same on both backends but for the placeholders.
    let marker = match conn {
        AnyConnection::Sqlite(_) => "?",
        AnyConnection::Postgresql(_) => "$",
    };
    diesel::sql_query(UPSERT.replace('#', marker))
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now + window_secs)
        .bind::<BigInt, _>(now)
        .get_result(conn)
}

/// Takes one event back from `key`'s open window (an attempt counted
/// before it was known to be no failure).
pub fn take_back(conn: &mut AnyConnection, key: &str, now: i64) -> QueryResult<()> {
    diesel::update(
        rate_limits::table
            .find(key)
            .filter(rate_limits::reset_at.gt(now))
            .filter(rate_limits::count.gt(0)),
    )
    .set(rate_limits::count.eq(rate_limits::count - 1))
    .execute(conn)
    .map(drop)
}

/// Forgets `key` (a successful login clears its failures).
pub fn reset(conn: &mut AnyConnection, key: &str) -> QueryResult<()> {
    diesel::delete(rate_limits::table.find(key))
        .execute(conn)
        .map(drop)
}

/// The count of `key`'s open window (0 when none is open).
pub fn peek(conn: &mut AnyConnection, key: &str, now: i64) -> QueryResult<i32> {
    let count = rate_limits::table
        .find(key)
        .filter(rate_limits::reset_at.gt(now))
        .select(rate_limits::count)
        .first(conn)
        .optional()?;
    Ok(count.unwrap_or(0))
}

/// Fills `key`'s window: nothing more is allowed under it until it ends.
pub fn exhaust(conn: &mut AnyConnection, key: &str, window_secs: i64, now: i64) -> QueryResult<()> {
    hit(conn, key, window_secs, now)?;
    diesel::update(rate_limits::table.find(key))
        .set(rate_limits::count.eq(i32::MAX / 2))
        .execute(conn)
        .map(drop)
}

/// Forgets every key that starts with `prefix` and ends with `suffix`.
pub fn reset_matching(conn: &mut AnyConnection, prefix: &str, suffix: &str) -> QueryResult<()> {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    };
    let pattern = format!("{}%{}", escape(prefix), escape(suffix));
    diesel::delete(rate_limits::table.filter(rate_limits::key.like(pattern).escape('\\')))
        .execute(conn)
        .map(drop)
}

/// Deletes counters whose window has ended.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(rate_limits::table.filter(rate_limits::reset_at.le(now))).execute(conn)
}

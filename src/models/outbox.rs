use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::outbox;

/// A message waiting to be sent, as the sender claims it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct Queued {
    pub id: String,
    pub kind: String,
    pub user_id: Option<i32>,
    pub recipient: String,
    pub new_email: Option<String>,
    pub created_at: i64,
    pub attempts: i32,
    /// The address and device of a reset request.
    pub client_ip: Option<String>,
    pub device: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
pub struct NewQueued<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub user_id: Option<i32>,
    pub recipient: &'a str,
    pub new_email: Option<&'a str>,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub client_ip: Option<&'a str>,
    pub device: Option<&'a str>,
}

pub fn insert(conn: &mut AnyConnection, new: &NewQueued<'_>) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// Up to `limit` ids due at `now` that no instance holds a lease on,
/// oldest first.
pub fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> QueryResult<Vec<String>> {
    outbox::table
        .filter(outbox::next_attempt_at.le(now))
        .filter(
            outbox::lease_until
                .is_null()
                .or(outbox::lease_until.le(now)),
        )
        .order((outbox::next_attempt_at.asc(), outbox::created_at.asc()))
        .select(outbox::id)
        .limit(limit)
        .load(conn)
}

/// Takes the lease on a due row until `lease_until`; `None` when another
/// instance took it first. The condition is checked again by the update
/// itself, so of instances racing for a row exactly one wins.
pub fn claim(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    lease_until: i64,
) -> QueryResult<Option<Queued>> {
    let claimed = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::next_attempt_at.le(now))
            .filter(
                outbox::lease_until
                    .is_null()
                    .or(outbox::lease_until.le(now)),
            ),
    )
    .set((
        outbox::lease_until.eq(lease_until),
        outbox::attempts.eq(outbox::attempts + 1),
    ))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(None);
    }
    outbox::table
        .find(id)
        .select(Queued::as_select())
        .first(conn)
        .optional()
}

/// A message sent (or given up): gone.
pub fn delete(conn: &mut AnyConnection, id: &str) -> QueryResult<()> {
    diesel::delete(outbox::table.find(id))
        .execute(conn)
        .map(drop)
}

/// A failed try: the lease goes, the next try is at `next_attempt_at`.
pub fn retry_at(
    conn: &mut AnyConnection,
    id: &str,
    next_attempt_at: i64,
    error: &str,
) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::lease_until.eq(None::<i64>),
            outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}

/// How many messages are waiting (for tests and the operator).
pub fn waiting(conn: &mut AnyConnection) -> QueryResult<i64> {
    outbox::table.count().get_result(conn)
}

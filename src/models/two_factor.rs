use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{recovery_codes, two_factor};

/// The sealed secret of an account with two-factor on, and its newest
/// accepted step.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = two_factor)]
pub struct TwoFactor {
    pub user_id: i32,
    pub secret: String,
    pub last_step: i64,
}

pub fn find(conn: &mut AnyConnection, user_id: i32) -> QueryResult<Option<TwoFactor>> {
    two_factor::table
        .find(user_id)
        .select(TwoFactor::as_select())
        .first(conn)
        .optional()
}

pub fn is_on(conn: &mut AnyConnection, user_id: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(two_factor::table.find(user_id))).get_result(conn)
}

/// Turns two-factor on with `secret`, the step just used counted as used.
pub fn enable(
    conn: &mut AnyConnection,
    user_id: i32,
    secret: &str,
    step: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(two_factor::table)
        .values((
            two_factor::user_id.eq(user_id),
            two_factor::secret.eq(secret),
            two_factor::last_step.eq(step),
            two_factor::enabled_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Records `step` as used, unless it or a later one was: `false` then
/// (the same code twice, or two requests racing with one code).
pub fn use_step(conn: &mut AnyConnection, user_id: i32, step: i64) -> QueryResult<bool> {
    let updated = diesel::update(
        two_factor::table
            .find(user_id)
            .filter(two_factor::last_step.lt(step)),
    )
    .set(two_factor::last_step.eq(step))
    .execute(conn)?;
    Ok(updated > 0)
}

/// Turns two-factor off; its recovery codes go too. `false` when it was off.
pub fn disable(conn: &mut AnyConnection, user_id: i32) -> QueryResult<bool> {
    delete_recovery_codes(conn, user_id)?;
    Ok(diesel::delete(two_factor::table.find(user_id)).execute(conn)? > 0)
}

pub fn delete_recovery_codes(conn: &mut AnyConnection, user_id: i32) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .map(drop)
}

pub fn insert_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i32,
    hashes: &[String],
) -> QueryResult<()> {
    // One statement each: diesel's multi-backend connection has no batch insert.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(hash),
                recovery_codes::user_id.eq(user_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses a recovery code of the user up; `false` when it is not one of
/// theirs (or was used).
pub fn use_recovery_code(conn: &mut AnyConnection, user_id: i32, hash: &str) -> QueryResult<bool> {
    let deleted = diesel::delete(
        recovery_codes::table
            .find(hash)
            .filter(recovery_codes::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

pub fn recovery_codes_left(conn: &mut AnyConnection, user_id: i32) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .count()
        .get_result(conn)
}

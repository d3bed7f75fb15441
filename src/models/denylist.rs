use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use crate::db::AnyConnection;
use crate::schema::denylisted_tokens;

/// Keeps `jti` on the denylist until `expires_at` (Unix seconds). Listing a
/// token twice (two logouts racing) is not an error.
pub fn denylist_token(conn: &mut AnyConnection, jti: &str, expires_at: i64) -> QueryResult<()> {
    match diesel::insert_into(denylisted_tokens::table)
        .values((
            denylisted_tokens::jti.eq(jti),
            denylisted_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
    {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the rows of tokens that have expired anyway; returns how many.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(denylisted_tokens::table.filter(denylisted_tokens::expires_at.lt(now)))
        .execute(conn)
}

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::link_tokens;

/// A live link, found by the hash of its token.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = link_tokens)]
pub struct LinkToken {
    pub token_hash: String,
    pub user_id: i32,
    pub purpose: String,
    pub new_email: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = link_tokens)]
pub struct NewLinkToken<'a> {
    pub token_hash: &'a str,
    pub user_id: i32,
    pub purpose: &'a str,
    pub new_email: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut AnyConnection, new: &NewLinkToken<'_>) -> QueryResult<()> {
    diesel::insert_into(link_tokens::table)
        .values(new)
        .execute(conn)
        .map(drop)
}

/// The link with this token hash, unless it has expired.
pub fn find_live(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> QueryResult<Option<LinkToken>> {
    link_tokens::table
        .find(token_hash)
        .filter(link_tokens::expires_at.gt(now))
        .select(LinkToken::as_select())
        .first(conn)
        .optional()
}

/// Uses a link up; `false` when another request used it first.
pub fn delete(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<bool> {
    Ok(diesel::delete(link_tokens::table.find(token_hash)).execute(conn)? > 0)
}

/// Deletes the user's links of these purposes.
pub fn delete_of(conn: &mut AnyConnection, user_id: i32, purposes: &[&str]) -> QueryResult<()> {
    diesel::delete(
        link_tokens::table
            .filter(link_tokens::user_id.eq(user_id))
            .filter(link_tokens::purpose.eq_any(purposes)),
    )
    .execute(conn)
    .map(drop)
}

/// Deletes links that have expired.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(link_tokens::table.filter(link_tokens::expires_at.le(now))).execute(conn)
}

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::server_secret;

/// Returns the stored secret, storing `candidate` first when there is none.
/// Instances starting together all end up with the first one written.
pub fn load_or_store_secret(conn: &mut AnyConnection, candidate: &str) -> QueryResult<String> {
    let row = (server_secret::id.eq(1), server_secret::secret.eq(candidate));
    // The upsert is spelled per backend: the multi-connection has no on_conflict.
    match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(server_secret::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        AnyConnection::Postgresql(c) => diesel::insert_into(server_secret::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    server_secret::table
        .find(1)
        .select(server_secret::secret)
        .first(conn)
}

/// The secret an earlier version kept in the database, if any.
pub fn stored(conn: &mut AnyConnection) -> QueryResult<Option<String>> {
    server_secret::table
        .find(1)
        .select(server_secret::secret)
        .first(conn)
        .optional()
}

/// Forgets the stored secret (it has moved to the key file).
pub fn forget(conn: &mut AnyConnection) -> QueryResult<()> {
    diesel::delete(server_secret::table).execute(conn).map(drop)
}

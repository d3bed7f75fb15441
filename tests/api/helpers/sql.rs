//! SQL straight on the server's database, behind its back: to set up what
//! no route can (old rows, a million events) and to read what no route shows.

use diesel::connection::SimpleConnection;
use diesel::sqlite::Sqlite;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

/// A connection of the kind `url` names. On SQLite it waits for the server's
/// own writes (the outbox, the activity log) instead of failing with
/// "database is locked".
enum Raw {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

fn connect(url: &str) -> Raw {
    if url.starts_with("postgres") {
        Raw::Postgres(PgConnection::establish(url).expect("connect to PostgreSQL"))
    } else {
        let path = url.trim_start_matches("sqlite://");
        let mut conn = SqliteConnection::establish(path).expect("open the SQLite file");
        conn.batch_execute("PRAGMA busy_timeout = 10000")
            .expect("busy_timeout");
        Raw::Sqlite(conn)
    }
}

/// Runs one or more statements.
pub fn run_sql(url: &str, sql: &str) {
    match connect(url) {
        Raw::Postgres(mut conn) => conn.batch_execute(sql),
        Raw::Sqlite(mut conn) => conn.batch_execute(sql),
    }
    .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

/// The rows of one query.
pub fn load_sql<T>(url: &str, sql: &str) -> Vec<T>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<Sqlite> + 'static,
{
    let query = diesel::sql_query(sql);
    match connect(url) {
        Raw::Postgres(mut conn) => query.load(&mut conn),
        Raw::Sqlite(mut conn) => query.load(&mut conn),
    }
    .unwrap_or_else(|e| panic!("{e}: {sql}"))
}

//! The database: one connection type for SQLite and PostgreSQL, chosen at
//! start from `DATABASE_URL`, a pool, and the embedded migrations.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

pub mod tls;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a request waits for a connection before it answers 503.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Opens connections of the backend the URL names. Diesel's own manager for
/// a multi-connection tries every backend and hides the real error; this one
/// reports libpq's or SQLite's message.
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // The busy timeout makes writers queue instead of failing with
                // "database is locked". WAL is set once, by `migrate`: it stays
                // in the file, and switching takes a lock a new connection
                // should not wait for.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Builds the pool without waiting for a connection: start-up checks the
/// database with [`migrate`] instead.
pub fn build_pool(url: &DatabaseUrl, max_size: u32) -> Pool {
    let sqlite = matches!(url, DatabaseUrl::Sqlite(_));
    let mut builder = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(CONNECTION_TIMEOUT)
        // A server may drop a connection, so PostgreSQL connections are
        // checked before each use; a SQLite file has nothing to drop.
        .test_on_check_out(!sqlite);
    if url.is_memory() {
        // Each in-memory connection is its own database: keep the one.
        builder = builder.max_lifetime(None).idle_timeout(None);
    }
    let url = match url {
        // Once per pool, not per connection.
        DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(tls::resolve_system_roots(raw)),
        DatabaseUrl::Sqlite(_) => url.clone(),
    };
    builder.build_unchecked(ConnectionManager { url })
}

/// Creates a new SQLite database file readable by its owner only (SQLite
/// gives its `-wal` and `-shm` files the same mode), and warns once about
/// an existing one that others can read: it holds every password hash and,
/// unless the secret is configured, the key that signs tokens.
pub fn protect_sqlite_file(url: &DatabaseUrl) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let DatabaseUrl::Sqlite(path) = url else {
        return Ok(());
    };
    if url.is_memory() || path.starts_with("file:") {
        return Ok(());
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "the database file {path} can be read by other users (mode {:o}); \
                     make it private with: chmod 600 {path}*",
                    mode & 0o777
                );
            }
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot create the database file {path}: {e}"
        )),
    }
}

/// The PostgreSQL advisory lock that instances take turns on while they
/// migrate and bootstrap the secret (any number, fixed for gatehouse).
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// Runs `work` while no other process does the same on this database:
/// diesel's migrations take no lock, so instances starting together on a
/// fresh database would race to create the same tables. PostgreSQL holds a
/// session advisory lock; SQLite an immediate transaction, which other
/// writers wait for (the busy timeout).
pub fn with_migration_lock<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .map_err(|e| anyhow::anyhow!("waiting for the migration lock: {e}"))?;
            let outcome = work(conn);
            let unlocked =
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            let value = outcome?;
            unlocked.map_err(|e| anyhow::anyhow!("releasing the migration lock: {e}"))?;
            Ok(value)
        }
        AnyConnection::Sqlite(lite) => {
            // WAL cannot be switched on inside a transaction.
            set_wal(lite)?;
            write_transaction(conn, |conn| work(conn))
        }
    }
}

/// Runs `work` in a transaction whose `COMMIT` is its own statement, so a
/// commit that fails (a full disk, an I/O error) is an error here and never
/// a success: SQLite commits an `INSERT … RETURNING` outside a transaction
/// when the statement is reset, and that error is lost. On SQLite the
/// transaction is `IMMEDIATE`: it takes the write lock at once (waiting for
/// it within the busy timeout) instead of failing when a read inside turns
/// into a write. `work`'s error rolls everything back.
pub fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    // The multi-connection's manager ends a transaction on either backend;
    // nested ones (the migration harness's) become savepoints.
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match conn {
        AnyConnection::Sqlite(lite) => {
            AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN IMMEDIATE")?;
        }
        AnyConnection::Postgresql(_) => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            let _ = Manager::rollback_transaction(conn);
            Err(error)
        }
    }
}

/// WAL lets readers run beside the one writer; the mode is kept in the
/// database file, so it is set once, here.
fn set_wal(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    conn.batch_execute("PRAGMA journal_mode = WAL")
        .map_err(|e| anyhow::anyhow!("switching SQLite to WAL: {e}"))
}

/// Applies the pending migrations of the connection's backend.
pub fn migrate(conn: &mut AnyConnection) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

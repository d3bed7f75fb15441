//! The operator's commands besides `serve`.

use anyhow::Context;

use crate::config::Settings;
use crate::db::{self, PooledConnection};
use crate::domain::Email;
use crate::models::user;
use crate::startup::purge_expired;

/// One connection to a migrated database.
fn migrated_connection(settings: &Settings) -> anyhow::Result<PooledConnection> {
    let pool = db::build_pool(&settings.database_url, 1);
    let mut conn = pool
        .get()
        .with_context(|| format!("cannot connect to the database ({})", settings.database_url))?;
    let applied = db::migrate(&mut conn)?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "migrations applied");
    }
    Ok(conn)
}

/// `gatehouse migrate`.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    migrated_connection(settings).map(drop)
}

/// `gatehouse purge-denylist`: returns how many denylist rows went.
pub fn purge_denylist(settings: &Settings) -> anyhow::Result<usize> {
    Ok(purge_expired(&mut *migrated_connection(settings)?)?)
}

/// `gatehouse user revoke-sessions EMAIL`: every token of the user stops
/// working; `false` when no user has that email.
pub fn revoke_sessions(settings: &Settings, email: &str) -> anyhow::Result<bool> {
    let mut conn = migrated_connection(settings)?;
    Ok(user::revoke_sessions(&mut conn, &Email::normalize(email))?)
}

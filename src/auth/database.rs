//! Database work off the async workers: each call takes a pooled
//! connection on a blocking thread, inside the caller's tracing span.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::auth::Error;
use crate::db::{AnyConnection, Pool, write_transaction};
use crate::telemetry::spawn_blocking_in_span;

#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// Calls made, for tests that compare the work of two paths.
    operations: Arc<AtomicU64>,
}

impl Database {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            operations: Arc::default(),
        }
    }

    /// How many calls ([`run`](Self::run) or [`write`](Self::write)) were made.
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// How many of the pool's connections are taken now.
    pub fn connections_in_use(&self) -> u32 {
        let state = self.pool.state();
        state.connections.saturating_sub(state.idle_connections)
    }

    /// Runs `work` with a connection; no connection free within the pool's
    /// timeout is `Error::Unavailable`.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool.clone();
        spawn_blocking_in_span(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }

    /// [`run`](Self::run) in one transaction that either commits, checked,
    /// or leaves nothing behind: for every write.
    pub async fn write<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| write_transaction(conn, work)).await
    }
}

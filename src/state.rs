use std::net::IpAddr;
use std::sync::Arc;

use actix_web::web;

use crate::auth::TokenKeys;
use crate::auth::cache::AuthCache;
use crate::auth::hash_pool::HashPool;
use crate::auth::password::PasswordHasher;
use crate::config::RateLimits;
use crate::db::{AnyConnection, Pool};
use crate::error::AppError;

/// What every request shares; built once at start.
pub struct AppState {
    pub pool: Pool,
    pub tokens: TokenKeys,
    pub hasher: Arc<PasswordHasher>,
    pub hash_pool: HashPool,
    pub auth_cache: AuthCache,
    pub cookie_secure: bool,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpAddr>,
}

impl AppState {
    /// Runs database work on a blocking thread with a pooled connection;
    /// no pool slot is free within the pool's timeout → 503.
    pub async fn with_conn<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }

    /// Runs bcrypt on the hashing pool, holding no connection.
    pub async fn with_hasher<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let hasher = Arc::clone(&self.hasher);
        self.hash_pool.run(move || work(&hasher)).await
    }
}

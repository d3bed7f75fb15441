//! Builds the app: the database, the keys, every route and middleware.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, QueryPayloadError, UrlencodedError};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use rand::distr::{Alphanumeric, SampleString};

use crate::auth::TokenKeys;
use crate::auth::cache::AuthCache;
use crate::auth::hash_pool::HashPool;
use crate::auth::password::PasswordHasher;
use crate::auth::token::unix_now;
use crate::config::{Secret, Settings};
use crate::db::{self, Pool};
use crate::domain::FieldError;
use crate::error::AppError;
use crate::middleware::{BODY_LIMIT, error_pages, limit_body_size, security_headers};
use crate::models::{denylist, rate_limit, secret};
use crate::routes::{account, api, health, home, login, logout, not_found, register, static_files};
use crate::session::session_middleware;
use crate::state::AppState;
use crate::telemetry::log_requests;

/// How often expired denylist rows are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

pub struct Application {
    server: Server,
    address: SocketAddr,
}

impl Application {
    /// Migrates the database, loads the secret and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::build_pool(&settings.database_url, settings.db_pool_size);
        let secret = prepare_database(&pool, settings.secret.clone(), &settings).await?;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            tokens: TokenKeys::new(secret.expose(), settings.token_ttl),
            hasher: std::sync::Arc::new(PasswordHasher::new(settings.bcrypt_cost)),
            hash_pool: HashPool::new(settings.hash_threads, settings.hash_queue),
            auth_cache: AuthCache::new(settings.auth_cache_ttl),
            cookie_secure: settings.cookie_secure,
            rate_limits: settings.rate_limits,
            trusted_proxies: settings.trusted_proxies.clone(),
        });
        // The session key is derived from the secret, never equal to it.
        let session_key = Key::derive_from(secret.expose());
        let secure = settings.cookie_secure;

        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let address = listener.local_addr()?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(form_config())
                .app_data(json_config())
                .app_data(query_config())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .wrap(from_fn(limit_body_size))
                .wrap(from_fn(error_pages))
                .wrap(session_middleware(session_key.clone(), secure))
                .wrap(from_fn(security_headers))
                .wrap(from_fn(log_requests))
                .route("/", web::get().to(home::home))
                .service(
                    web::resource("/register")
                        .get(register::register_form)
                        .post(register::register),
                )
                .service(
                    web::resource("/login")
                        .get(login::login_form)
                        .post(login::login),
                )
                .service(web::resource("/logout").post(logout::logout))
                .service(web::resource("/logout-everywhere").post(logout::logout_everywhere))
                .service(web::resource("/me").get(account::account))
                .service(web::resource("/healthz").get(health::healthz))
                .service(web::resource("/static/{name}").get(static_files::static_file))
                .service(
                    web::scope("/api")
                        .service(web::resource("/register").post(api::register))
                        .service(web::resource("/login").post(api::login))
                        .service(web::resource("/logout").post(api::logout))
                        .service(web::resource("/me").get(api::me)),
                )
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .run();

        actix_web::rt::spawn(purge_periodically(pool));
        tracing::info!(
            backend = settings.database_url.backend_name(),
            database = %settings.database_url,
            "listening on http://{address}"
        );
        Ok(Self { server, address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGINT or SIGTERM; requests in flight finish first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Applies migrations and returns the secret: the configured one, else the
/// one kept in the database (written by the first instance to start).
async fn prepare_database(
    pool: &Pool,
    configured: Option<Secret>,
    settings: &Settings,
) -> anyhow::Result<Secret> {
    let pool = pool.clone();
    let url = settings.database_url.clone();
    web::block(move || -> anyhow::Result<Secret> {
        let mut conn = pool
            .get()
            .with_context(|| format!("cannot connect to the database ({url})"))?;
        for migration in db::migrate(&mut conn)? {
            tracing::info!(%migration, "applied migration");
        }
        match configured {
            Some(secret) => Ok(secret),
            None => {
                let candidate = Alphanumeric.sample_string(&mut rand::rng(), 64);
                let stored = secret::load_or_store_secret(&mut conn, &candidate)
                    .context("loading the secret")?;
                Ok(Secret::parse(stored, "the stored secret")?)
            }
        }
    })
    .await?
}

async fn purge_periodically(pool: Pool) {
    let mut interval = actix_web::rt::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        let pool = pool.clone();
        let purged =
            web::block(move || -> anyhow::Result<usize> { Ok(purge_expired(&mut *pool.get()?)?) })
                .await;
        match purged {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "purged expired denylist rows"),
            Ok(Err(error)) => {
                tracing::warn!(error = format!("{error:#}"), "purging the denylist failed")
            }
            Err(error) => tracing::warn!(%error, "purging the denylist failed"),
        }
    }
}

/// Deletes denylist rows and rate-limit counters that no longer matter;
/// returns how many denylist rows went.
pub fn purge_expired(conn: &mut db::AnyConnection) -> diesel::QueryResult<usize> {
    let now = unix_now();
    rate_limit::purge_expired(conn, now)?;
    denylist::purge_expired(conn, now)
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|error, _| {
            match error {
                UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
                UrlencodedError::ContentType => AppError::UnsupportedMediaType(
                    "Send the form as application/x-www-form-urlencoded",
                ),
                _ => AppError::BadRequest("The form could not be read"),
            }
            .into()
        })
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .content_type_required(true)
        .error_handler(|error, _| {
            match error {
                JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                    AppError::PayloadTooLarge
                }
                JsonPayloadError::ContentType => AppError::UnsupportedMediaType("Send a JSON body with Content-Type: application/json"),
                JsonPayloadError::Deserialize(e) if e.is_data() => AppError::Invalid(vec![FieldError {
                    field: "body",
                    message: "Expected a JSON object with the fields of this request, each a string",
                }]),
                _ => AppError::BadRequest("The body is not valid JSON"),
            }
            .into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_: QueryPayloadError, _| {
        AppError::BadRequest("The query string could not be read").into()
    })
}

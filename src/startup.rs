//! Builds the app: the accounts service, the keys, every route and
//! middleware.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::error::{JsonPayloadError, QueryPayloadError, UrlencodedError};
use actix_web::middleware::from_fn;
use actix_web::{App, FromRequest, Handler, HttpServer, Resource, Responder, web};
use anyhow::Context;

use crate::auth::{self, Accounts};
use crate::config::Settings;
use crate::domain::FieldError;
use crate::mail::Mailer;
use crate::routes::{
    account, activity, api, api_not_found, email, health, home, login, logout, not_found, password,
    register, sessions, static_files, two_factor,
};
use crate::web::caller::remember_socket;
use crate::web::metrics::{RecordRequests, install_recorder, keep_up, metrics_server};
use crate::web::middleware::{
    AllowedHosts, BODY_LIMIT, RoutePattern, framework_errors, request_span, screen_request,
    security_headers,
};
use crate::web::session::{LoginFormKey, session_middleware};
use crate::web::{ApiError, AppError, AuthCookies, DeviceCookies, TrustedProxies};

/// How often expired denylist rows are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

pub struct Application {
    server: Server,
    address: SocketAddr,
}

impl Application {
    /// Migrates the database, loads the secret and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Bound first: links in emails name the address listened on unless
        // a public URL is set.
        let listener = TcpListener::bind(&settings.bind[..])
            .with_context(|| format!("binding {:?}", settings.bind))?;
        let address = listener.local_addr()?;
        // Recording starts before anything can be counted.
        let metrics = match &settings.metrics_bind {
            Some(bind) => {
                let listener = TcpListener::bind(&bind[..])
                    .with_context(|| format!("binding GATEHOUSE_METRICS_BIND {bind:?}"))?;
                Some((listener, install_recorder()?))
            }
            None => None,
        };
        let record_requests = RecordRequests(metrics.is_some());
        let mailer = Mailer::new(&settings.mail)?;
        let link_base = settings.mail.link_base(address);
        if settings.mail.public_url.is_none() && !address.ip().is_loopback() {
            tracing::warn!(
                "GATEHOUSE_PUBLIC_URL is not set: links in emails start with {link_base}, which may not be how users reach this server"
            );
        }
        let (accounts, secret) = Accounts::open(&settings, settings.db_pool_size).await?;
        accounts.learn_typical_cost().await?;
        accounts
            .hear_revocations()
            .context("starting the revocation channel's thread")?;
        let accounts = web::Data::new(accounts);
        let cookies = web::Data::new(AuthCookies {
            secure: settings.cookie_secure,
            ttl: settings.token_ttl,
            remember_for: settings.remember_for,
        });
        let devices = web::Data::new(DeviceCookies::new(
            secret.expose(),
            settings.cookie_secure,
            settings.remember_for,
        ));
        let proxies = web::Data::new(TrustedProxies(settings.trusted_proxies.clone()));
        let openapi = web::Data::new(
            api::openapi::OpenApiJson::build().context("serializing the OpenAPI document")?,
        );
        let allowed_hosts = AllowedHosts::new(&settings.allowed_hosts);
        // The session key is derived from the secret, never equal to it.
        let session_key = Key::derive_from(secret.expose());
        let login_forms = web::Data::new(LoginFormKey::new(secret.expose()));
        let secure = settings.cookie_secure;

        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let connections_per_worker = connection_budget(settings.db_pool_size, workers);
        let purging = accounts.clone();
        let sending = accounts.clone();
        let measured = accounts.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(accounts.clone())
                .app_data(cookies.clone())
                .app_data(devices.clone())
                .app_data(login_forms.clone())
                .app_data(proxies.clone())
                .app_data(openapi.clone())
                .app_data(form_config())
                .app_data(json_config())
                .app_data(query_config())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(allowed_hosts.clone())
                .app_data(record_requests)
                .wrap(security_headers(secure))
                .wrap(from_fn(request_span))
                // The router tries the routes in this order, and a route with
                // a parameter is a regular expression to run: the API first
                // (one prefix to compare), then the pages by their plain
                // paths, and the routes with parameters last; in each the route
                // requested most (`/api/me`, `/me`) comes first. Only the
                // pages keep a session: the API takes no cookies.
                .service(
                    web::scope("/api")
                        .wrap(from_fn(screen_request))
                        .wrap(from_fn(framework_errors))
                        .service(get("/me", api::me).delete(api::delete_me))
                        .service(web::resource("/register").post(api::register))
                        .service(web::resource("/login").post(api::login))
                        .service(web::resource("/refresh").post(api::refresh))
                        .service(web::resource("/logout").post(api::logout))
                        .service(web::resource("/me/verify-email").post(api::resend_confirmation))
                        .service(web::resource("/me/password").post(api::change_password))
                        .service(web::resource("/password/forgot").post(api::forgot_password))
                        .service(web::resource("/password/reset").post(api::reset_password))
                        .service(get("/sessions", sessions::api_list))
                        .service(
                            web::resource("/sessions/{id}")
                                .delete(sessions::api_end)
                                .app_data(RoutePattern("/api/sessions/{id}")),
                        )
                        .service(get("/openapi.json", api::openapi::document))
                        .default_service(web::to(api_not_found)),
                )
                .service(
                    web::scope("")
                        .wrap(from_fn(screen_request))
                        .wrap(from_fn(framework_errors))
                        .wrap(session_middleware(session_key.clone(), secure))
                        .service(get("/me", account::account))
                        .service(get("/", home::home))
                        .service(get("/register", register::register_form).post(register::register))
                        .service(get("/login", login::login_form).post(login::login))
                        .service(web::resource("/logout").post(logout::logout))
                        .service(
                            web::resource("/logout-everywhere").post(logout::logout_everywhere),
                        )
                        .service(web::resource("/me/verify-email").post(email::resend))
                        .service(get("/me/password", password::change_form).post(password::change))
                        .service(get("/me/email", email::change_form).post(email::change))
                        .service(get("/me/delete", account::delete_form).post(account::delete))
                        .service(
                            get("/me/two-factor", two_factor::settings).post(two_factor::enable),
                        )
                        .service(get("/me/two-factor/setup", two_factor::setup))
                        .service(web::resource("/me/two-factor/disable").post(two_factor::disable))
                        .service(
                            web::resource("/me/two-factor/recovery-codes")
                                .post(two_factor::recovery_codes),
                        )
                        .service(
                            get("/login/two-factor", two_factor::login_form)
                                .post(two_factor::login),
                        )
                        .service(
                            get("/password/forgot", password::forgot_form).post(password::forgot),
                        )
                        .service(get("/me/activity", activity::activity_page))
                        .service(get("/me/sessions", sessions::sessions_page))
                        .service(
                            web::resource("/me/sessions/end-others").post(sessions::end_others),
                        )
                        .service(get("/healthz", health::healthz))
                        .service(
                            get("/verify-email/{token}", email::confirm_form)
                                .post(email::confirm)
                                .app_data(RoutePattern("/verify-email/{token}")),
                        )
                        .service(
                            get("/password/reset/{token}", password::reset_form)
                                .post(password::reset)
                                .app_data(RoutePattern("/password/reset/{token}")),
                        )
                        .service(
                            web::resource("/me/sessions/{id}/end")
                                .post(sessions::end_one)
                                .app_data(RoutePattern("/me/sessions/{id}/end")),
                        )
                        .service(
                            get("/static/{name}", static_files::static_file)
                                .app_data(RoutePattern("/static/{name}")),
                        )
                        .default_service(web::to(not_found)),
                )
        })
        .on_connect(remember_socket)
        .workers(workers)
        .max_connections(connections_per_worker)
        .backlog(BACKLOG)
        .listen(listener)?
        .run();

        actix_web::rt::spawn(purge_periodically(purging));
        tracing::info!(mail = %mailer.describe(), links = %link_base, "sending mail");
        actix_web::rt::spawn(async move { sending.send_mail(mailer, link_base).await });
        if let Some((listener, handle)) = metrics {
            let metrics_address = listener.local_addr()?;
            actix_web::rt::spawn(keep_up(handle.clone()));
            actix_web::rt::spawn(metrics_server(listener, handle, measured)?);
            tracing::info!("metrics on http://{metrics_address}/metrics");
        }
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

/// Connections the kernel queues before they are accepted; past it, new
/// ones are refused at once instead of piling up.
const BACKLOG: u32 = 1024;

/// How many connections each worker holds open at most: what the open-file
/// limit (raised to its hard maximum first) leaves after the database
/// connections (a SQLite connection holds three files) and a margin for the
/// logs and libraries, shared between the workers; each connection holds
/// two (its socket and the handle kept to see whether its client left). Past it a worker stops
/// accepting until one closes, instead of failing `accept` with "too many
/// open files".
fn connection_budget(pool_size: u32, workers: usize) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let reserved = 64 + 3 * u64::from(pool_size);
    let per_worker = files.saturating_sub(reserved) / 2 / workers.max(1) as u64;
    usize::try_from(per_worker)
        .unwrap_or(usize::MAX)
        .clamp(16, 25_000)
}

/// A resource that answers GET, and HEAD the same way: the HTTP layer sends
/// HEAD the GET's status and headers without the body.
fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args> + Clone,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .get(handler.clone())
        .route(web::head().to(handler))
}

async fn purge_periodically(accounts: web::Data<Accounts>) {
    let mut interval = actix_web::rt::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        match accounts.purge_expired().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "purged expired denylist rows"),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "purging the denylist failed")
            }
        }
        if let Err(error) = accounts.learn_typical_cost().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "reading the stored bcrypt costs failed"
            );
        }
    }
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
            let error = match error {
                JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                    AppError::PayloadTooLarge
                }
                JsonPayloadError::ContentType => AppError::UnsupportedMediaType("Send a JSON body with Content-Type: application/json"),
                JsonPayloadError::Deserialize(e) if e.is_data() => auth::Error::Invalid(vec![FieldError {
                    field: "body",
                    message: "Expected a JSON object with the fields of this request, each a string",
                }]).into(),
                _ => AppError::BadRequest("The body is not valid JSON"),
            };
            ApiError(error).into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_: QueryPayloadError, _| {
        AppError::BadRequest("The query string could not be read").into()
    })
}

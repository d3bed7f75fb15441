//! What a registration, a login, a logout and an authenticated request do,
//! for pages, the API and the command line alike. What the email links do
//! (confirming, resetting, changing) and the mail sender are in the child
//! modules.

mod confirmation;
mod delivery;
mod history;
mod operator;
mod recovery;
mod settings;
mod two_factor;

pub use history::PAGE_EVENTS;
pub use operator::AccountSummary;
pub use recovery::PasswordReset;
pub use settings::PasswordChange;
pub use two_factor::PendingLogin;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use rand::distr::{Alphanumeric, SampleString};

use crate::auth::activity::{self, Event};
use crate::auth::cache::{AuthCache, Ticket};
use crate::auth::hash_pool::HashPool;
use crate::auth::key_file;
use crate::auth::links;
use crate::auth::outbox::{self, Kind};
use crate::auth::password::PasswordHasher;
use crate::auth::sessions::{self, Device, SessionInfo, SessionLimits, Started};
use crate::auth::throttle::{LoginAttempt, Throttle};
use crate::auth::token::{Claims, LEEWAY_SECS, TokenKeys, unix_now, unix_now_millis};
use crate::auth::two_factor::SecretBox;
use crate::auth::{Client, Database, Error, Presence};
use crate::config::{DatabaseUrl, RevocationChannel, Secret, Settings};
use crate::db::{self, AnyConnection};
use crate::domain::{Email, Password, Registration};
use crate::models::session::{self, EndReason};
use crate::models::two_factor as models_two_factor;
use crate::models::user::{self, NewUser, User};
use crate::models::{denylist, event, link_token, rate_limit, secret};

/// A user holding a valid, not-denylisted token of their current version.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: Arc<User>,
    pub claims: Arc<Claims>,
}

/// A login: a freshly issued access token in a new session.
pub struct Issued {
    pub user: User,
    pub token: String,
    pub session: Started,
}

/// A registration as submitted, not yet checked.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    /// The form's second password field; the API has none.
    pub password_confirm: Option<String>,
    /// Whether the client still waits (no bcrypt round for one gone).
    pub presence: Presence,
}

/// An email and password as submitted.
pub struct Credentials {
    pub email: String,
    pub password: String,
    /// The account this browser has logged in to before (its device
    /// cookie), exempt from that account's per-email limit.
    pub device_cookie: Option<i32>,
    /// The `User-Agent`, for the session list.
    pub user_agent: String,
    /// "Keep me logged in": the session lasts `GATEHOUSE_REMEMBER_FOR`.
    pub remember: bool,
    /// Whether the client still waits (no bcrypt round for one gone).
    pub presence: Presence,
    /// A two-factor or recovery code sent with the password (the API);
    /// `None` for an account with two-factor on is `TwoFactorRequired`.
    pub code: Option<String>,
}

/// The accounts service: everything the server and the command line do
/// with users and tokens.
pub struct Accounts {
    db: Database,
    tokens: TokenKeys,
    hash_pool: HashPool,
    cache: Arc<AuthCache>,
    /// Where revocations made elsewhere are heard, if anywhere.
    revocations: RevocationChannel,
    throttle: Throttle,
    sessions: SessionLimits,
    links: LinkRules,
    /// Wakes this instance's mail sender when a message is queued.
    mail_queued: Arc<tokio::sync::Notify>,
    /// Seals two-factor secrets for the database.
    secrets: SecretBox,
    /// Seconds account events are kept.
    activity_retention: i64,
}

/// How long links live, and whether logins wait for a confirmed address.
#[derive(Debug, Clone, Copy)]
struct LinkRules {
    verify_ttl: i64,
    reset_ttl: i64,
    require_verified_email: bool,
}

impl LinkRules {
    fn ttl(self, purpose: links::Purpose) -> i64 {
        match purpose {
            links::Purpose::ResetPassword => self.reset_ttl,
            links::Purpose::ConfirmAddress | links::Purpose::ConfirmNewAddress => self.verify_ttl,
        }
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

impl Accounts {
    pub fn new(db: Database, secret: &Secret, settings: &Settings) -> Self {
        let sessions = SessionLimits::new(settings);
        Self {
            db,
            tokens: TokenKeys::new(secret.expose(), settings.token_ttl),
            hash_pool: HashPool::new(
                PasswordHasher::new(settings.bcrypt_cost),
                settings.hash_threads,
                settings.hash_queue,
            ),
            cache: Arc::new(AuthCache::new(
                settings.auth_cache_ttl,
                sessions.pushed_cache_ttl(),
            )),
            throttle: Throttle::new(settings.rate_limits),
            revocations: settings.revocations.clone(),
            sessions,
            links: LinkRules {
                verify_ttl: secs(settings.mail.verify_ttl),
                reset_ttl: secs(settings.mail.reset_ttl),
                require_verified_email: settings.mail.require_verified_email,
            },
            mail_queued: Arc::new(tokio::sync::Notify::new()),
            secrets: SecretBox::new(secret.expose()),
            activity_retention: secs(settings.activity_retention),
        }
    }

    /// Connects, applies pending migrations and loads the secret: the
    /// configured one, else the generated one, made by the first instance
    /// to start and kept in a key file beside a SQLite database (in the
    /// database on PostgreSQL). Instances starting together take turns.
    pub async fn open(settings: &Settings, pool_size: u32) -> anyhow::Result<(Self, Secret)> {
        // Before the pool, which opens (and so creates) the file at once.
        db::protect_sqlite_file(&settings.database_url)?;
        let pool = db::build_pool(&settings.database_url, pool_size);
        let configured = settings.secret.clone();
        let url = settings.database_url.clone();
        let db = Database::new(pool.clone());
        let secret = crate::telemetry::spawn_blocking_in_span(move || -> anyhow::Result<Secret> {
            let mut conn = pool
                .get()
                .with_context(|| format!("cannot connect to the database ({url})"))?;
            db::with_migration_lock(&mut conn, |conn| {
                for migration in db::migrate(conn)? {
                    tracing::info!(%migration, "applied migration");
                }
                load_secret(conn, configured, &url)
            })
        })
        .await??;
        Ok((Self::new(db, &secret, settings), secret))
    }

    /// How long an issued token lives.
    pub fn token_ttl(&self) -> Duration {
        self.tokens.ttl()
    }

    /// Whether logins wait for a confirmed address.
    pub fn requires_verified_email(&self) -> bool {
        self.links.require_verified_email
    }

    /// The hasher, for counting its work in tests.
    pub fn hasher(&self) -> &PasswordHasher {
        self.hash_pool.hasher()
    }

    /// Creates the account (no session: a page registration starts one with
    /// [`Accounts::start_session`], the API's does not). Every attempt from
    /// `client` counts against the registration limit, invalid ones too. A
    /// taken email or username is `Error::Conflict`, also when another
    /// registration wins a race (the database's unique index decides).
    pub async fn register(&self, input: NewAccount, device: Device) -> Result<User, Error> {
        let (throttle, client) = (self.throttle, device.client);
        self.count(move |conn| throttle.count_registration(conn, client, unix_now()))
            .await?;
        let registration = Registration::parse(
            &input.username,
            &input.email,
            &input.password,
            input.password_confirm.as_deref(),
        )
        .map_err(Error::Invalid)?;
        self.create(registration, &input.presence, device, false)
            .await
    }

    /// Creates a checked registration's account, with `account.created`
    /// from `device`. Unless `confirmed`, the confirmation email is queued
    /// in the same write. A taken email or username is `Error::Conflict`.
    async fn create(
        &self,
        registration: Registration,
        presence: &Presence,
        device: Device,
        confirmed: bool,
    ) -> Result<User, Error> {
        let Registration {
            username,
            email,
            password,
        } = registration;
        let (email_for_check, key_for_check) = (email.as_str().to_owned(), username.key());
        // Checked before hashing, so a taken address costs no bcrypt round.
        if let Some(taken) = self
            .db
            .run(move |conn| Ok(user::find_taken(conn, &email_for_check, &key_for_check)?))
            .await?
        {
            return Err(Error::Conflict(taken));
        }
        let hashed = self
            .hash_pool
            .run(presence, move |hasher| hasher.hash_password(&password))
            .await?
            .map_err(Error::internal)?;
        let created = self
            .db
            .write(move |conn| {
                let now = time::OffsetDateTime::now_utc();
                let new = NewUser {
                    username: username.as_str(),
                    username_key: &username.key(),
                    email: email.as_str(),
                    hashed_password: &hashed,
                    created_at: time::PrimitiveDateTime::new(now.date(), now.time()),
                    email_verified: confirmed,
                };
                let id = user::insert_user(conn, &new).map_err(|e| match e {
                    Ok(taken) => Error::Conflict(taken),
                    Err(db) => db.into(),
                })?;
                let now = unix_now();
                activity::record(conn, id, Event::AccountCreated, &device, now)?;
                if confirmed {
                    activity::record(conn, id, Event::EmailConfirmed, &device, now)?;
                } else {
                    outbox::queue(
                        conn,
                        Kind::ConfirmAddress,
                        Some(id),
                        email.as_str(),
                        None,
                        now,
                    )?;
                    activity::record(conn, id, Event::EmailConfirmationSent, &device, now)?;
                }
                Ok(User {
                    id,
                    username: username.as_str().to_owned(),
                    email: email.as_str().to_owned(),
                    hashed_password: hashed,
                    token_version: 0,
                    email_verified: confirmed,
                    disabled: false,
                })
            })
            .await;
        if created.is_ok() {
            metrics::counter!("gatehouse_registrations_total").increment(1);
        }
        if created.is_ok() && !confirmed {
            self.mail_queued.notify_one();
        }
        created
    }

    /// After a write that changed how the account logs in and queued a
    /// notice: this instance forgets the account's cached tokens (other
    /// instances within the cache's lifetime) and its sender wakes.
    fn account_changed(&self, user_id: i32) {
        self.cache.forget_user(user_id);
        self.mail_queued.notify_one();
    }

    /// Runs a throttle count in its own write. One whose commit fails is
    /// refused like one past its limit: the throttle fails closed.
    async fn count<T, F>(&self, work: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        match self.db.write(work).await {
            Err(Error::Internal(error)) => {
                tracing::error!(%error, "cannot count an attempt; refusing it");
                Err(self.throttle.closed())
            }
            other => other,
        }
    }

    /// Logs `user` in on `device` without a password (they just proved who
    /// they are some other way, such as registering): a new session.
    pub async fn start_session(
        &self,
        user: User,
        device: Device,
        remembered: bool,
    ) -> Result<Issued, Error> {
        let limits = self.sessions;
        let user_id = user.id;
        let started = self
            .db
            .write(move |conn| {
                let now = unix_now();
                activity::record(conn, user_id, Event::LoginSucceeded, &device, now)?;
                Ok(sessions::start(
                    conn, limits, user_id, &device, remembered, now,
                )?)
            })
            .await?;
        self.issue(user, started)
    }

    /// Checks an email and password from `client`.
    ///
    /// The attempt is counted against the limits first, in one write that
    /// commits before any password is looked at: past a limit it gets
    /// `TooManyRequests`, a right password like a wrong one, and no bcrypt
    /// work. Then unknown or invalid email and wrong password take the same
    /// path: one bcrypt verification, `InvalidCredentials`.
    pub async fn log_in(&self, credentials: Credentials, client: Client) -> Result<Issued, Error> {
        counted_login(self.check_password(credentials, client).await)
    }

    async fn check_password(
        &self,
        credentials: Credentials,
        client: Client,
    ) -> Result<Issued, Error> {
        let password = Password::for_login(&credentials.password);
        // An address that breaks the email rules has no account (and may hold
        // what a database cannot store, such as NUL): nothing is looked up,
        // but the client's attempt counts all the same.
        let email = Email::parse(&credentials.email)
            .ok()
            .map(|e| e.as_str().to_owned());
        let mut attempt = LoginAttempt::new(email.as_deref(), client);
        let throttle = self.throttle;
        let device_cookie = credentials.device_cookie;

        let (user, attempt) = if throttle.is_on() {
            let counted = self
                .count(move |conn| {
                    let user = match &email {
                        Some(email) => user::find_user_by_email(conn, email)?,
                        None => None,
                    };
                    if device_cookie.is_some() && device_cookie == user.as_ref().map(|u| u.id) {
                        attempt.exempt_from_email_limit();
                    }
                    throttle.count_login(conn, &attempt, unix_now())?;
                    Ok((user, attempt))
                })
                .await;
            match counted {
                Err(refused @ Error::TooManyRequests { .. }) => {
                    self.record_throttled(&credentials, client).await;
                    return Err(refused);
                }
                other => other?,
            }
        } else {
            let user = match email {
                Some(email) => {
                    self.db
                        .run(move |conn| Ok(user::find_user_by_email(conn, &email)?))
                        .await?
                }
                None => None,
            };
            (user, attempt)
        };
        let (valid, user, rehashed) = self
            .hash_pool
            .run(&credentials.presence, move |hasher| {
                let valid = hasher
                    .verify_password(&password, user.as_ref().map(|u| u.hashed_password.as_str()));
                // A hash made at another cost is redone while the password is here.
                let rehashed = match &user {
                    Some(user) if valid && hasher.needs_rehash(&user.hashed_password) => {
                        tracing::info!("rehashing a password made at another bcrypt cost");
                        hasher.hash_password(&password).ok()
                    }
                    _ => None,
                };
                (valid, user, rehashed)
            })
            .await?;

        let device = Device {
            client,
            user_agent: credentials.user_agent,
        };
        // A wrong password was counted already: what is left is the
        // account's event, and a log line for tools that ban addresses.
        let mut user = match user {
            Some(user) if valid => user,
            known => {
                tracing::info!(%client, "failed login");
                if let Some(user) = known {
                    self.record_failed_login(user.id, device).await?;
                }
                return Err(Error::InvalidCredentials);
            }
        };
        let id = user.id;
        // Only someone who knows the password learns that the account is
        // disabled; the attempt stays counted as a failure.
        if user.disabled {
            tracing::info!(%client, "login refused: the account is disabled");
            self.record_failed_login(id, device).await?;
            return Err(Error::AccountDisabled);
        }
        if let Some(hash) = &rehashed {
            user.hashed_password.clone_from(hash);
        }
        let limits = self.sessions;
        let remembered = credentials.remember;
        let unconfirmed = self.links.require_verified_email && !user.email_verified;
        let address = user.email.clone();
        let code = credentials.code;
        let secrets = self.secrets.clone();
        let outcome = self
            .db
            .write(move |conn| {
                // Disabled while the password was being checked: no session.
                if !user::is_active(conn, id)? {
                    return Ok(LoginStep::Disabled);
                }
                if let Some(hash) = rehashed {
                    user::update_password_hash(conn, id, &hash)?;
                    tracing::info!("stored the rehashed password");
                }
                if unconfirmed {
                    throttle.record_success(conn, &attempt, unix_now())?;
                    return Ok(LoginStep::Unconfirmed(device));
                }
                // A code sent for an account without two-factor is ignored.
                let second = match (models_two_factor::is_on(conn, id)?, code) {
                    (false, _) => None,
                    (true, None) => {
                        // The password was right; the code comes next. The
                        // failures so far are forgiven only with a right code.
                        throttle.take_back(conn, &attempt, unix_now())?;
                        return Ok(LoginStep::NeedsCode);
                    }
                    (true, Some(code)) => {
                        match two_factor::check_code(conn, &secrets, id, &code)? {
                            // A wrong code leaves the attempt counted as failed.
                            two_factor::Checked::Wrong => {
                                activity::record(
                                    conn,
                                    id,
                                    Event::LoginFailed,
                                    &device,
                                    unix_now(),
                                )?;
                                return Ok(LoginStep::WrongCode);
                            }
                            checked => Some(checked),
                        }
                    }
                };
                let now = unix_now();
                throttle.record_success(conn, &attempt, now)?;
                let started = sessions::start(conn, limits, id, &device, remembered, now)?;
                activity::record(conn, id, Event::LoginSucceeded, &device, now)?;
                let recovered = second == Some(two_factor::Checked::Recovery);
                if recovered {
                    two_factor::after_recovery_code(conn, id, &address, &started.id)?;
                    activity::record(conn, id, Event::RecoveryCodeUsed, &device, now)?;
                }
                Ok(LoginStep::Started(started, recovered))
            })
            .await?;
        let started = match outcome {
            LoginStep::Started(started, recovered) => {
                if recovered {
                    self.account_changed(id);
                }
                started
            }
            LoginStep::NeedsCode => return Err(Error::TwoFactorRequired { user_id: id }),
            LoginStep::Disabled => return Err(Error::AccountDisabled),
            LoginStep::WrongCode => return Err(Error::InvalidCode),
            LoginStep::Unconfirmed(device) => {
                // The right password of an account that must confirm its
                // address: a new link, unless one went out within the cooldown.
                if let Err(error) = self
                    .queue_confirmation(id, user.email.clone(), device)
                    .await
                {
                    tracing::debug!(%error, "no new confirmation link for this login");
                }
                return Err(Error::EmailNotConfirmed);
            }
        };
        self.issue(user, started)
    }

    /// A wrong password for an existing account: its `login.failed`.
    async fn record_failed_login(&self, user_id: i32, device: Device) -> Result<(), Error> {
        self.db
            .write(move |conn| {
                Ok(activity::record(
                    conn,
                    user_id,
                    Event::LoginFailed,
                    &device,
                    unix_now(),
                )?)
            })
            .await
    }

    /// A login refused by a limit: the account's `login.throttled`, at most
    /// once a minute per account (an attacker's burst is one event, not a
    /// row per attempt). Best effort: the refusal stands either way.
    async fn record_throttled(&self, credentials: &Credentials, client: Client) {
        let Ok(email) = Email::parse(&credentials.email) else {
            return;
        };
        let email = email.as_str().to_owned();
        let device = Device {
            client,
            user_agent: credentials.user_agent.clone(),
        };
        tracing::info!(%client, "login refused by a limit");
        let recorded = self
            .db
            .write(move |conn| {
                let Some(user) = user::find_user_by_email(conn, &email)? else {
                    return Ok(());
                };
                let now = unix_now();
                // The first refusal of the minute is recorded; the key is a
                // counter of its own, indexed and purged like the limits.
                let key = format!("throttled-event:{}", user.id);
                if rate_limit::hit(conn, &key, 60, now)?.count == 1 {
                    activity::record(conn, user.id, Event::LoginThrottled, &device, now)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, "cannot record a refused login");
        }
    }

    fn issue(&self, user: User, session: Started) -> Result<Issued, Error> {
        let (token, _) = self
            .tokens
            .issue(user.id, user.token_version, &session.id, unix_now())
            .map_err(Error::internal)?;
        Ok(Issued {
            user,
            token,
            session,
        })
    }

    /// Trades a refresh credential for a new access token and a new
    /// credential; the old one is spent. A spent credential presented again
    /// was stolen (or copied): its whole session ends, the newest tokens
    /// with it. Empty, unknown or ended: `InvalidRefreshToken`.
    pub async fn refresh(&self, credential: &str, device: Device) -> Result<Issued, Error> {
        enum Outcome {
            Rotated(User, Started),
            Reused(String),
            Unknown,
        }
        if credential.is_empty() {
            return Err(Error::InvalidRefreshToken);
        }
        let hash = sessions::hash_refresh(credential);
        let outcome = self
            .db
            .write(move |conn| {
                let now = unix_now();
                if let Some(session::ByRefresh {
                    user,
                    id,
                    remembered,
                    ..
                }) = session::find_live_by_refresh(conn, &hash, now)?
                {
                    let refresh = sessions::new_refresh();
                    session::rotate(conn, &id, &hash, &sessions::hash_refresh(&refresh), now)?;
                    return Ok(Outcome::Rotated(
                        user,
                        Started {
                            id,
                            refresh,
                            remembered,
                        },
                    ));
                }
                match session::spent_by(conn, &hash)? {
                    Some((id, user_id)) => {
                        if session::end(conn, user_id, &id, EndReason::RefreshReused, now)? {
                            activity::record(conn, user_id, Event::SessionEnded, &device, now)?;
                        }
                        Ok(Outcome::Reused(id))
                    }
                    None => Ok(Outcome::Unknown),
                }
            })
            .await?;
        match outcome {
            Outcome::Rotated(user, started) => {
                // The spent credential renews nothing from here on.
                self.cache.forget_session(&started.id);
                metrics::counter!("gatehouse_sessions_renewed_total").increment(1);
                self.issue(user, started)
            }
            Outcome::Reused(id) => {
                self.cache.forget_session(&id);
                tracing::warn!("a spent refresh token was presented again; its session has ended");
                Err(Error::InvalidRefreshToken)
            }
            Outcome::Unknown => Err(Error::InvalidRefreshToken),
        }
    }

    /// A browser's silent renewal: its refresh credential, still naming a
    /// live session, buys a new access token in that session. The
    /// credential is not rotated, so tabs racing with one cookie all
    /// succeed. `None` when the credential names no live session.
    pub async fn renew(&self, credential: &str) -> Result<Option<(Authenticated, String)>, Error> {
        // Before the cache is read: a revocation from here on keeps both
        // the credential and the new token out of it.
        let ticket = self.cache.ticket();
        let Some(live) = self.live_session_of_refresh(credential, ticket).await? else {
            return Ok(None);
        };
        let (token, claims) = self
            .tokens
            .issue(
                live.user.id,
                live.user.token_version,
                &live.claims.sid,
                unix_now(),
            )
            .map_err(Error::internal)?;
        metrics::counter!("gatehouse_sessions_renewed_total").increment(1);
        let claims = Arc::new(claims);
        self.cache.insert(
            &token,
            Arc::clone(&live.user),
            Arc::clone(&claims),
            live.claims.exp,
            ticket,
        );
        Ok(Some((
            Authenticated {
                user: live.user,
                claims,
            },
            token,
        )))
    }

    /// The id of the live session a refresh credential names, without
    /// renewing it; `None` when it names none.
    pub async fn session_of_refresh(&self, credential: &str) -> Result<Option<String>, Error> {
        let ticket = self.cache.ticket();
        let live = self.live_session_of_refresh(credential, ticket).await?;
        Ok(live.map(|live| live.claims.sid.clone()))
    }

    /// The user and session (standing in for claims: its id as `sid`, its
    /// end as `exp`) of the live session a refresh credential names.
    ///
    /// A credential found live is remembered in the token cache like a
    /// token (under `r:` and its hash, which no token starts with), so the
    /// same revocations drop it, and a rotation drops it too.
    async fn live_session_of_refresh(
        &self,
        credential: &str,
        ticket: Ticket,
    ) -> Result<Option<Authenticated>, Error> {
        if credential.is_empty() {
            return Ok(None);
        }
        let hash = sessions::hash_refresh(credential);
        let key = format!("r:{hash}");
        if let Some(hit) = self.cache.get(&key, unix_now_millis()) {
            return Ok(Some(Authenticated {
                user: hit.user,
                claims: hit.claims,
            }));
        }
        let now = unix_now();
        let found = self
            .db
            .run(move |conn| Ok(session::find_live_by_refresh(conn, &hash, now)?))
            .await?;
        let Some(session::ByRefresh {
            user,
            id: sid,
            last_used_at,
            expires_at,
            ..
        }) = found
        else {
            return Ok(None);
        };
        self.record_use(&sid, last_used_at, now).await?;
        let user = Arc::new(user);
        let session = Arc::new(Claims {
            sub: user.id.to_string(),
            exp: expires_at,
            iat: now,
            jti: String::new(),
            iss: String::new(),
            ver: user.token_version,
            sid,
            nbf: None,
        });
        self.cache.insert(
            &key,
            Arc::clone(&user),
            Arc::clone(&session),
            expires_at,
            ticket,
        );
        Ok(Some(Authenticated {
            user,
            claims: session,
        }))
    }

    /// Ends the session a refresh credential names (a logout whose access
    /// token has expired); nothing when it names none.
    pub async fn log_out_refresh(&self, credential: &str, device: Device) -> Result<(), Error> {
        if credential.is_empty() {
            return Ok(());
        }
        let hash = sessions::hash_refresh(credential);
        let ended = self
            .db
            .write(move |conn| {
                let now = unix_now();
                let Some(found) = session::find_live_by_refresh(conn, &hash, now)? else {
                    return Ok(None);
                };
                let id = found.id;
                if session::end(conn, found.user.id, &id, EndReason::LoggedOut, now)? {
                    activity::record(conn, found.user.id, Event::Logout, &device, now)?;
                }
                Ok(Some(id))
            })
            .await?;
        if let Some(id) = ended {
            self.cache.forget_session(&id);
        }
        Ok(())
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions_of(&self, user_id: i32) -> Result<Vec<SessionInfo>, Error> {
        let rows = self
            .db
            .run(move |conn| Ok(session::list_live(conn, user_id, unix_now())?))
            .await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// Ends one live session of the user; `false` when they have no such
    /// session (another user's id changes nothing).
    pub async fn end_session(
        &self,
        user_id: i32,
        session_id: &str,
        device: Device,
    ) -> Result<bool, Error> {
        // No session id holds a NUL, and PostgreSQL refuses one in any text.
        if session_id.contains('\0') {
            return Ok(false);
        }
        let id = session_id.to_owned();
        let ended = self
            .db
            .write(move |conn| {
                let now = unix_now();
                let ended = session::end(conn, user_id, &id, EndReason::EndedByUser, now)?;
                if ended {
                    activity::record(conn, user_id, Event::SessionEnded, &device, now)?;
                }
                Ok(ended)
            })
            .await?;
        if ended {
            self.cache.forget_session(session_id);
        }
        Ok(ended)
    }

    /// The user with this email (any case), for the operator's commands.
    pub async fn find_user(&self, email: &str) -> Result<Option<User>, Error> {
        let email = Email::normalize(email);
        self.db
            .run(move |conn| Ok(user::find_user_by_email(conn, &email)?))
            .await
    }

    /// Ends `token` and its session when the token is one of ours: the
    /// token stays on the denylist until it would be refused anyway (`exp`
    /// plus the leeway). Anything else (expired, forged, garbage) has
    /// nothing to end.
    pub async fn log_out(&self, token: &str, device: Device) -> Result<(), Error> {
        let Some(claims) = self.tokens.verify(token) else {
            return Ok(());
        };
        let Some(user_id) = claims.user_id() else {
            return Ok(());
        };
        let until = claims.exp.saturating_add(LEEWAY_SECS as i64);
        let (jti, sid) = (claims.jti.clone(), claims.sid.clone());
        self.db
            .write(move |conn| {
                let now = unix_now();
                denylist::denylist_token(conn, &jti, until)?;
                if session::end(conn, user_id, &sid, EndReason::LoggedOut, now)? {
                    activity::record(conn, user_id, Event::Logout, &device, now)?;
                }
                Ok(())
            })
            .await?;
        self.cache.forget_session(&claims.sid);
        Ok(())
    }

    /// Ends every session of the user, on every instance: their tokens and
    /// refresh credentials are refused from then on.
    pub async fn log_out_everywhere(&self, user: &User, device: Device) -> Result<(), Error> {
        self.end_sessions(user.id, None, EndReason::LoggedOutEverywhere, device)
            .await
            .map(drop)
    }

    /// The one way sessions end in bulk at someone's request ("log out
    /// everywhere", "end other sessions", the operator): every session of
    /// the user but `keep`, and, unless one is kept, every token issued so
    /// far (the token version moves on). One `session.ended` event records
    /// it. Returns how many sessions ended.
    pub async fn end_sessions(
        &self,
        user_id: i32,
        keep: Option<String>,
        reason: EndReason,
        device: Device,
    ) -> Result<usize, Error> {
        let ended = self
            .db
            .write(move |conn| {
                let ended = end_sessions_in(conn, user_id, keep.as_deref(), reason)?;
                if ended > 0 {
                    activity::record(conn, user_id, Event::SessionEnded, &device, unix_now())?;
                }
                Ok(ended)
            })
            .await?;
        self.cache.forget_user(user_id);
        Ok(ended)
    }

    /// The operator's "log out everywhere", by email (any case); `false`
    /// when no user has it.
    pub async fn revoke_sessions(&self, email: &str) -> Result<bool, Error> {
        let Some(user) = self.find_user(email).await? else {
            return Ok(false);
        };
        self.end_sessions(
            user.id,
            None,
            EndReason::EndedByOperator,
            activity::operator(),
        )
        .await?;
        Ok(true)
    }

    /// Turns a token into its user: signature and claims first (no database
    /// work for a forged token), then the denylist, the account and its
    /// token version.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>, Error> {
        if let Some(hit) = self.cache.get(token, unix_now_millis()) {
            return Ok(Some(Authenticated {
                user: hit.user,
                claims: hit.claims,
            }));
        }
        let ticket = self.cache.ticket();
        let Some(claims) = self.tokens.verify(token) else {
            return Ok(None);
        };
        let Some(user_id) = claims.user_id() else {
            return Ok(None);
        };
        let (jti, sid) = (claims.jti.clone(), claims.sid.clone());
        let now = unix_now();
        let found = self
            .db
            .run(move |conn| {
                Ok(session::find_user_of_live_session(
                    conn, user_id, &sid, &jti, now,
                )?)
            })
            .await?
            .filter(|(user, _, _)| user.token_version == claims.ver);
        let Some((user, last_used, session_ends)) = found else {
            return Ok(None);
        };
        self.record_use(&claims.sid, last_used, now).await?;
        let (user, claims) = (Arc::new(user), Arc::new(claims));
        self.cache.insert(
            token,
            Arc::clone(&user),
            Arc::clone(&claims),
            session_ends,
            ticket,
        );
        Ok(Some(Authenticated { user, claims }))
    }

    /// Writes a session's last use when the recorded one is stale: to the
    /// minute (or a tenth of the idle limit), not on every request.
    async fn record_use(&self, sid: &str, last_used: i64, now: i64) -> Result<(), Error> {
        if now - last_used < self.sessions.touch_every() {
            return Ok(());
        }
        let sid = sid.to_owned();
        self.db
            .write(move |conn| Ok(session::touch(conn, &sid, now)?))
            .await
    }

    /// Deletes denylist rows, rate-limit counters, sessions, links and
    /// account events that no longer matter; returns how many denylist rows
    /// went.
    pub async fn purge_expired(&self) -> Result<usize, Error> {
        let retention = self.activity_retention;
        self.db
            .write(move |conn| {
                let now = unix_now();
                rate_limit::purge_expired(conn, now)?;
                link_token::purge_expired(conn, now)?;
                session::purge_ended(conn, now)?;
                event::purge_before(conn, now - retention)?;
                Ok(denylist::purge_expired(conn, now)?)
            })
            .await
    }

    /// Makes unknown emails cost what most stored hashes cost to verify:
    /// the server learns it at start and again with every purge.
    pub async fn learn_typical_cost(&self) -> Result<(), Error> {
        if let Some(cost) = self
            .db
            .run(|conn| Ok(user::most_common_cost(conn)?))
            .await?
        {
            self.hash_pool.hasher().set_typical_cost(cost);
        }
        Ok(())
    }

    /// An online, consistent copy of a SQLite database at `path`
    /// (`VACUUM INTO`: one read transaction, writers carry on).
    pub async fn back_up_sqlite(&self, path: std::path::PathBuf) -> Result<(), Error> {
        self.db
            .run(move |conn| {
                let target = path.to_string_lossy().replace('\'', "''");
                Ok(conn.batch_execute(&format!("VACUUM INTO '{target}'"))?)
            })
            .await
    }

    /// Whether the database answers a query.
    pub async fn check_database(&self) -> Result<(), Error> {
        self.db
            .run(|conn| Ok(conn.batch_execute("SELECT 1")?))
            .await
    }

    /// Starts hearing revocations made elsewhere, when there is a channel.
    pub fn hear_revocations(&self) -> std::io::Result<()> {
        match &self.revocations {
            RevocationChannel::Off => Ok(()),
            RevocationChannel::Postgres(url) => {
                crate::auth::revocation_channel::spawn(url, Arc::clone(&self.cache))
            }
        }
    }

    /// What waits and what is busy right now. The connections are read
    /// before the outbox is counted, which takes one.
    pub async fn workload(&self) -> Workload {
        let hashes_waiting = self.hash_pool.waiting();
        let connections_in_use = self.db.connections_in_use();
        let emails_waiting = self
            .db
            .run(|conn| Ok(crate::models::outbox::waiting(conn)?))
            .await
            .ok();
        Workload {
            hashes_waiting,
            connections_in_use,
            emails_waiting,
            revocation_channel_up: match self.revocations {
                RevocationChannel::Off => None,
                RevocationChannel::Postgres(_) => Some(self.cache.channel_up()),
            },
        }
    }
}

/// A moment's load, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Password hashes waiting for a hashing thread.
    pub hashes_waiting: usize,
    /// Database connections of this process taken.
    pub connections_in_use: u32,
    /// Emails in the outbox (every instance's); `None` when the database
    /// does not answer.
    pub emails_waiting: Option<i64>,
    /// Whether revocations made elsewhere are heard at once right now;
    /// `None` without a channel (SQLite, or turned off).
    pub revocation_channel_up: Option<bool>,
}

/// Counts a login attempt (a password, or the code of a pending login) in
/// `gatehouse_logins_total` under its outcome.
fn counted_login(result: Result<Issued, Error>) -> Result<Issued, Error> {
    let outcome = match &result {
        Ok(_) => "succeeded",
        Err(Error::InvalidCredentials | Error::InvalidCode) => "failed",
        Err(Error::TooManyRequests { .. }) => "throttled",
        Err(Error::TwoFactorRequired { .. }) => "two_factor_required",
        Err(Error::EmailNotConfirmed) => "unconfirmed",
        Err(Error::AccountDisabled) => "disabled",
        Err(Error::PendingLoginExpired) => "expired",
        Err(Error::Overloaded) => "overloaded",
        Err(_) => "error",
    };
    metrics::counter!("gatehouse_logins_total", "outcome" => outcome).increment(1);
    result
}

/// Where a checked password leads.
enum LoginStep {
    /// Logged in; `true` when a recovery code was used (every other
    /// session has ended).
    Started(Started, bool),
    /// Two-factor is on and no code came with the password.
    NeedsCode,
    WrongCode,
    /// The address must be confirmed first.
    Unconfirmed(Device),
    /// The operator disabled the account after its password was read.
    Disabled,
}

/// [`Accounts::end_sessions`] inside the caller's transaction (the cache is
/// the caller's to clear).
fn end_sessions_in(
    conn: &mut AnyConnection,
    user_id: i32,
    keep: Option<&str>,
    reason: EndReason,
) -> diesel::QueryResult<usize> {
    if keep.is_none() {
        user::bump_token_version(conn, user_id)?;
    }
    session::end_all(conn, user_id, keep, reason, unix_now())
}

/// A change to how the account logs in (password, two-factor): every
/// session ends but `keep` (none: every token too), and the address gets
/// the notice `kind`, in the caller's transaction.
fn end_sessions_with_notice(
    conn: &mut AnyConnection,
    account: &User,
    keep: Option<&str>,
    reason: EndReason,
    kind: Kind,
) -> diesel::QueryResult<()> {
    end_sessions_in(conn, account.id, keep, reason)?;
    outbox::queue(
        conn,
        kind,
        Some(account.id),
        &account.email,
        None,
        unix_now(),
    )
}

/// The secret: the configured one, else the generated one. With a SQLite
/// file it lives in the key file beside it (one an earlier version kept in
/// the database moves there); otherwise in the database, where the first
/// instance to start stores it.
fn load_secret(
    conn: &mut AnyConnection,
    configured: Option<Secret>,
    url: &DatabaseUrl,
) -> anyhow::Result<Secret> {
    if let Some(secret) = configured {
        return Ok(secret);
    }
    let generated = || Alphanumeric.sample_string(&mut rand::rng(), 64);
    let raw = match url {
        DatabaseUrl::Sqlite(path) if !url.is_memory() => {
            key_file::load_or_move(conn, &key_file::beside(path), generated)?
        }
        _ => secret::load_or_store_secret(conn, &generated()).context("loading the secret")?,
    };
    Ok(Secret::parse(raw, "the generated secret")?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{DatabaseUrl, Limit, RateLimits};

    const PASSWORD: &str = "tangerine-kettle-47";

    pub(super) fn accounts(dir: &tempfile::TempDir, rate_limits: bool, cost: u32) -> Accounts {
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db").display().to_string());
        let pool = db::build_pool(&url, 2);
        db::migrate(&mut pool.get().expect("connection")).expect("migrations");
        let limit = Limit {
            max: 2,
            window: Duration::from_secs(60),
        };
        let mut settings = Settings::from_lookup(|_| None).expect("defaults");
        settings.bcrypt_cost = cost;
        settings.hash_threads = 1;
        settings.rate_limits = RateLimits {
            enabled: rate_limits,
            login_pair: limit,
            login_email: limit,
            login_address: Limit {
                max: 100,
                window: Duration::from_secs(60),
            },
            register: limit,
            reset_mail: limit,
        };
        let random = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let secret = Secret::parse(random, "test").expect("secret");
        Accounts::new(Database::new(pool), &secret, &settings)
    }

    fn credentials(email: &str, password: &str) -> Credentials {
        Credentials {
            email: email.to_owned(),
            password: password.to_owned(),
            device_cookie: None,
            user_agent: String::new(),
            remember: false,
            presence: Presence::default(),
            code: None,
        }
    }

    pub(super) async fn alice(accounts: &Accounts) {
        let input = NewAccount {
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: PASSWORD.into(),
            password_confirm: None,
            presence: Presence::default(),
        };
        accounts
            .register(input, Device::default())
            .await
            .expect("registered");
    }

    #[tokio::test]
    async fn an_unknown_email_costs_one_verification_like_a_wrong_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let accounts = accounts(&dir, false, 4);
        alice(&accounts).await;
        let before = accounts.hasher().verifications();
        let client = Client::default();

        let unknown = accounts
            .log_in(credentials("nobody@example.com", PASSWORD), client)
            .await;
        assert_eq!(accounts.hasher().verifications(), before + 1);
        let wrong = accounts
            .log_in(credentials("alice@example.com", "wrong password"), client)
            .await;
        assert_eq!(accounts.hasher().verifications(), before + 2);

        let (Err(unknown), Err(wrong)) = (unknown, wrong) else {
            panic!("both logins must fail");
        };
        assert!(matches!(unknown, Error::InvalidCredentials));
        assert_eq!(unknown.to_string(), wrong.to_string());
        let right = accounts
            .log_in(credentials("ALICE@example.com", PASSWORD), client)
            .await;
        assert!(right.is_ok());
        assert_eq!(accounts.hasher().verifications(), before + 3);
    }

    #[tokio::test]
    async fn a_throttled_login_is_refused_before_any_verification() {
        let dir = tempfile::tempdir().expect("temp dir");
        let accounts = accounts(&dir, true, 4);
        alice(&accounts).await;
        let client = Client::default();
        for _ in 0..2 {
            let failed = accounts
                .log_in(credentials("alice@example.com", "wrong password"), client)
                .await;
            assert!(matches!(failed, Err(Error::InvalidCredentials)));
        }
        let before = accounts.hasher().verifications();
        let right = accounts
            .log_in(credentials("alice@example.com", PASSWORD), client)
            .await;
        let wrong = accounts
            .log_in(credentials("alice@example.com", "wrong password"), client)
            .await;
        assert!(matches!(right, Err(Error::TooManyRequests { .. })));
        assert!(matches!(wrong, Err(Error::TooManyRequests { .. })));
        assert_eq!(accounts.hasher().verifications(), before);
    }

    #[tokio::test]
    async fn a_login_rehashes_a_password_of_another_cost() {
        let dir = tempfile::tempdir().expect("temp dir");
        alice(&accounts(&dir, false, 4)).await;
        let stronger = accounts(&dir, false, 5);
        let issued = stronger
            .log_in(
                credentials("alice@example.com", PASSWORD),
                Client::default(),
            )
            .await
            .expect("login");
        assert!(issued.user.hashed_password.starts_with("$2b$05$"));
        let stored = stronger
            .db
            .run(|conn| Ok(user::find_user_by_email(conn, "alice@example.com")?))
            .await
            .expect("query")
            .expect("user");
        assert!(stored.hashed_password.starts_with("$2b$05$"));
        let again = stronger
            .log_in(
                credentials("alice@example.com", PASSWORD),
                Client::default(),
            )
            .await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn a_logged_out_token_no_longer_authenticates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let accounts = accounts(&dir, false, 4);
        alice(&accounts).await;
        let issued = accounts
            .log_in(
                credentials("alice@example.com", PASSWORD),
                Client::default(),
            )
            .await
            .expect("login");
        assert!(
            accounts
                .authenticate(&issued.token)
                .await
                .ok()
                .flatten()
                .is_some()
        );
        accounts
            .log_out(&issued.token, Device::default())
            .await
            .expect("logout");
        assert!(
            accounts
                .authenticate(&issued.token)
                .await
                .ok()
                .flatten()
                .is_none()
        );
        // Garbage has nothing to end and is no error.
        assert!(
            accounts
                .log_out("not a token", Device::default())
                .await
                .is_ok()
        );
    }
}

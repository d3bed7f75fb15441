//! What a registration, a login, a logout and an authenticated request do,
//! for pages and API alike.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::web;

use crate::auth::throttle;
use crate::auth::token::{Claims, LEEWAY_SECS, unix_now};
use crate::domain::{Email, Password, Registration};
use crate::error::AppError;
use crate::models::denylist;
use crate::models::rate_limit;
use crate::models::user::{self, NewUser, User};
use crate::state::AppState;

/// A user holding a valid, not-denylisted token of their current version.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: Arc<User>,
    pub claims: Arc<Claims>,
}

/// A freshly issued token.
pub struct Issued {
    pub user: User,
    pub token: String,
}

/// Counts a registration attempt from `client`; refuses it past the limit.
/// Runs before validation, so failed attempts count too.
pub async fn count_registration(
    state: &web::Data<AppState>,
    client: Option<IpAddr>,
) -> Result<(), AppError> {
    let limits = state.rate_limits;
    if !limits.enabled {
        return Ok(());
    }
    state
        .with_conn(move |conn| {
            throttle::count_and_check(
                conn,
                &throttle::register_key(client),
                limits.register,
                unix_now(),
            )
        })
        .await
}

/// Creates the account and issues its first token. A taken email or
/// username is `AppError::Conflict`, also when another registration wins a
/// race (the database's unique index decides).
pub async fn register(
    state: &web::Data<AppState>,
    registration: Registration,
) -> Result<Issued, AppError> {
    let Registration {
        username,
        email,
        password,
    } = registration;
    let (email_for_check, key_for_check) = (email.as_str().to_owned(), username.key());
    // Checked before hashing, so a taken address costs no bcrypt round.
    if let Some(taken) = state
        .with_conn(move |conn| Ok(user::find_taken(conn, &email_for_check, &key_for_check)?))
        .await?
    {
        return Err(AppError::Conflict(taken));
    }
    let hashed = state
        .with_hasher(move |hasher| hasher.hash_password(&password))
        .await?
        .map_err(AppError::internal)?;
    let user = state
        .with_conn(move |conn| {
            let now = time::OffsetDateTime::now_utc();
            let new = NewUser {
                username: username.as_str(),
                username_key: &username.key(),
                email: email.as_str(),
                hashed_password: &hashed,
                created_at: time::PrimitiveDateTime::new(now.date(), now.time()),
            };
            let id = user::insert_user(conn, &new).map_err(|e| match e {
                Ok(taken) => AppError::Conflict(taken),
                Err(db) => db.into(),
            })?;
            Ok(User {
                id,
                username: username.as_str().to_owned(),
                email: email.as_str().to_owned(),
                hashed_password: hashed,
                token_version: 0,
            })
        })
        .await?;
    issue(state, user)
}

/// Checks an email and password from `client`.
///
/// Unknown or invalid email and wrong password take the same path: one bcrypt
/// verification, then `InvalidCredentials`. Past the failure limits of the
/// (email, client) pair or of the email, every attempt gets
/// `TooManyRequests` before any password is looked at, so a right and a
/// wrong password get the same answer.
pub async fn log_in(
    state: &web::Data<AppState>,
    client: Option<IpAddr>,
    email: &str,
    password: &str,
) -> Result<Issued, AppError> {
    let password = Password::for_login(password);
    // An address that breaks the email rules has no account (and may hold
    // what a database cannot store, such as NUL): the same verification,
    // nothing looked up, nothing counted.
    let Ok(email) = Email::parse(email).map(|email| email.as_str().to_owned()) else {
        state
            .with_hasher(move |hasher| hasher.verify_password(&password, None))
            .await?;
        return Err(AppError::InvalidCredentials);
    };
    let limits = state.rate_limits;
    let pair_key = throttle::login_pair_key(&email, client);
    let email_key = throttle::login_email_key(&email);

    let user = state
        .with_conn({
            let (pair_key, email_key, email) = (pair_key.clone(), email_key.clone(), email.clone());
            move |conn| {
                if limits.enabled {
                    let checks = [
                        (pair_key.as_str(), limits.login_pair),
                        (email_key.as_str(), limits.login_email),
                    ];
                    throttle::refuse_if_exhausted(conn, &checks, unix_now())?;
                }
                Ok(user::find_user_by_email(conn, &email)?)
            }
        })
        .await?;
    let (valid, user, rehashed) = state
        .with_hasher(move |hasher| {
            let valid = hasher
                .verify_password(&password, user.as_ref().map(|u| u.hashed_password.as_str()));
            // A hash made at another cost is redone while the password is here.
            let rehashed = match &user {
                Some(user) if valid && hasher.needs_rehash(&user.hashed_password) => {
                    hasher.hash_password(&password).ok()
                }
                _ => None,
            };
            (valid, user, rehashed)
        })
        .await?;

    match user {
        Some(mut user) if valid => {
            let id = user.id;
            if let Some(hash) = &rehashed {
                user.hashed_password.clone_from(hash);
            }
            if rehashed.is_some() || limits.enabled {
                state
                    .with_conn(move |conn| {
                        if let Some(hash) = rehashed {
                            user::update_password_hash(conn, id, &hash)?;
                        }
                        if limits.enabled {
                            rate_limit::reset(conn, &pair_key)?;
                        }
                        Ok(())
                    })
                    .await?;
            }
            issue(state, user)
        }
        _ => {
            if limits.enabled {
                state
                    .with_conn(move |conn| {
                        let now = unix_now();
                        throttle::count(conn, &pair_key, limits.login_pair, now)?;
                        throttle::count(conn, &email_key, limits.login_email, now)
                    })
                    .await?;
            }
            Err(AppError::InvalidCredentials)
        }
    }
}

fn issue(state: &web::Data<AppState>, user: User) -> Result<Issued, AppError> {
    let (token, _) = state
        .tokens
        .issue(user.id, user.token_version, unix_now())
        .map_err(AppError::internal)?;
    Ok(Issued { user, token })
}

/// Denylists the token until it would be refused anyway: `exp` plus leeway.
pub async fn log_out(state: &web::Data<AppState>, claims: &Claims) -> Result<(), AppError> {
    let until = claims.exp.saturating_add(LEEWAY_SECS as i64);
    let jti = claims.jti.clone();
    state
        .with_conn(move |conn| Ok(denylist::denylist_token(conn, &jti, until)?))
        .await?;
    state.auth_cache.forget_token(&claims.jti);
    Ok(())
}

/// Kills every token of the user, on every instance: their token version
/// moves on, and each request compares it with the token's.
pub async fn log_out_everywhere(state: &web::Data<AppState>, user: &User) -> Result<(), AppError> {
    let email = user.email.clone();
    state
        .with_conn(move |conn| Ok(user::revoke_sessions(conn, &email)?))
        .await?;
    state.auth_cache.forget_user(user.id);
    Ok(())
}

/// Turns a token into its user: signature and claims first (no database
/// work for a forged token), then the denylist, the account and its token
/// version.
pub async fn authenticate(
    state: &web::Data<AppState>,
    token: &str,
) -> Result<Option<Authenticated>, AppError> {
    if let Some(hit) = state.auth_cache.get(token, unix_now()) {
        return Ok(Some(Authenticated {
            user: hit.user,
            claims: hit.claims,
        }));
    }
    let Some(claims) = state.tokens.verify(token) else {
        return Ok(None);
    };
    let Some(user_id) = claims.user_id() else {
        return Ok(None);
    };
    let jti = claims.jti.clone();
    let user = state
        .with_conn(move |conn| Ok(user::find_user_unless_denylisted(conn, user_id, &jti)?))
        .await?
        .filter(|user| user.token_version == claims.ver);
    Ok(user.map(|user| {
        let (user, claims) = (Arc::new(user), Arc::new(claims));
        state
            .auth_cache
            .insert(token, Arc::clone(&user), Arc::clone(&claims));
        Authenticated { user, claims }
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::auth::TokenKeys;
    use crate::auth::cache::AuthCache;
    use crate::auth::hash_pool::HashPool;
    use crate::auth::password::PasswordHasher;
    use crate::config::{DatabaseUrl, Limit, RateLimits};
    use crate::db;

    const PASSWORD: &str = "tangerine-kettle-47";

    fn app_state(dir: &tempfile::TempDir, rate_limits: bool, cost: u32) -> web::Data<AppState> {
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db").display().to_string());
        let pool = db::build_pool(&url, 2);
        db::migrate(&mut pool.get().expect("connection")).expect("migrations");
        let limit = Limit {
            max: 2,
            window: Duration::from_secs(60),
        };
        web::Data::new(AppState {
            pool,
            tokens: TokenKeys::new(&[7; 32], Duration::from_secs(60)),
            hasher: Arc::new(PasswordHasher::new(cost)),
            hash_pool: HashPool::new(1, 16),
            auth_cache: AuthCache::new(Duration::from_millis(500)),
            cookie_secure: false,
            rate_limits: RateLimits {
                enabled: rate_limits,
                login_pair: limit,
                login_email: limit,
                register: limit,
            },
            trusted_proxies: Vec::new(),
        })
    }

    async fn alice(state: &web::Data<AppState>) {
        let registration =
            Registration::parse("alice", "alice@example.com", PASSWORD, None).expect("valid");
        register(state, registration).await.expect("registered");
    }

    #[actix_web::test]
    async fn an_unknown_email_costs_one_verification_like_a_wrong_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = app_state(&dir, false, 4);
        alice(&state).await;
        let before = state.hasher.verifications();

        let unknown = log_in(&state, None, "nobody@example.com", PASSWORD).await;
        assert_eq!(state.hasher.verifications(), before + 1);
        let wrong = log_in(&state, None, "alice@example.com", "wrong password").await;
        assert_eq!(state.hasher.verifications(), before + 2);

        let (Err(unknown), Err(wrong)) = (unknown, wrong) else {
            panic!("both logins must fail");
        };
        assert!(matches!(unknown, AppError::InvalidCredentials));
        assert_eq!(unknown.to_string(), wrong.to_string());
        assert!(
            log_in(&state, None, "ALICE@example.com", PASSWORD)
                .await
                .is_ok()
        );
        assert_eq!(state.hasher.verifications(), before + 3);
    }

    #[actix_web::test]
    async fn a_throttled_login_is_refused_before_any_verification() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = app_state(&dir, true, 4);
        alice(&state).await;
        for _ in 0..2 {
            let failed = log_in(&state, None, "alice@example.com", "wrong password").await;
            assert!(matches!(failed, Err(AppError::InvalidCredentials)));
        }
        let before = state.hasher.verifications();
        let right = log_in(&state, None, "alice@example.com", PASSWORD).await;
        let wrong = log_in(&state, None, "alice@example.com", "wrong password").await;
        assert!(matches!(right, Err(AppError::TooManyRequests { .. })));
        assert!(matches!(wrong, Err(AppError::TooManyRequests { .. })));
        assert_eq!(state.hasher.verifications(), before);
    }

    #[actix_web::test]
    async fn a_login_rehashes_a_password_of_another_cost() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = app_state(&dir, false, 4);
        alice(&state).await;
        let stronger = app_state(&dir, false, 5);
        let issued = log_in(&stronger, None, "alice@example.com", PASSWORD)
            .await
            .expect("login");
        assert!(issued.user.hashed_password.starts_with("$2b$05$"));
        let stored = stronger
            .with_conn(|conn| Ok(user::find_user_by_email(conn, "alice@example.com")?))
            .await
            .expect("query")
            .expect("user");
        assert!(stored.hashed_password.starts_with("$2b$05$"));
        assert!(
            log_in(&stronger, None, "alice@example.com", PASSWORD)
                .await
                .is_ok()
        );
    }
}

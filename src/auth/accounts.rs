//! What a registration, a login, a logout and an authenticated request do,
//! for pages and API alike.

use actix_web::web;

use crate::auth::token::{Claims, LEEWAY_SECS, unix_now};
use crate::domain::{Email, Password, Registration};
use crate::error::AppError;
use crate::models::denylist;
use crate::models::user::{self, NewUser, User};
use crate::state::AppState;

/// A user holding a valid, not-denylisted token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub claims: Claims,
}

/// A freshly issued token.
pub struct Issued {
    pub user: User,
    pub token: String,
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
            })
        })
        .await?;
    issue(state, user)
}

/// Checks an email and password. Unknown email and wrong password take the
/// same path: one bcrypt verification, then `InvalidCredentials`.
pub async fn log_in(
    state: &web::Data<AppState>,
    email: &str,
    password: &str,
) -> Result<Issued, AppError> {
    let email = Email::normalize(email);
    let password = Password::for_login(password);
    let user = state
        .with_conn(move |conn| Ok(user::find_user_by_email(conn, &email)?))
        .await?;
    let (valid, user) = state
        .with_hasher(move |hasher| {
            let valid = hasher
                .verify_password(&password, user.as_ref().map(|u| u.hashed_password.as_str()));
            (valid, user)
        })
        .await?;
    match user {
        Some(user) if valid => issue(state, user),
        _ => Err(AppError::InvalidCredentials),
    }
}

fn issue(state: &web::Data<AppState>, user: User) -> Result<Issued, AppError> {
    let (token, _) = state
        .tokens
        .issue(user.id, unix_now())
        .map_err(AppError::internal)?;
    Ok(Issued { user, token })
}

/// Denylists the token until it would be refused anyway: `exp` plus leeway.
pub async fn log_out(state: &web::Data<AppState>, claims: Claims) -> Result<(), AppError> {
    let until = claims.exp.saturating_add(LEEWAY_SECS as i64);
    state
        .with_conn(move |conn| Ok(denylist::denylist_token(conn, &claims.jti, until)?))
        .await
}

/// Turns a token into its user: signature and claims first (no database
/// work for a forged token), then the denylist and the account.
pub async fn authenticate(
    state: &web::Data<AppState>,
    token: &str,
) -> Result<Option<Authenticated>, AppError> {
    let Some(claims) = state.tokens.verify(token) else {
        return Ok(None);
    };
    let Some(user_id) = claims.user_id() else {
        return Ok(None);
    };
    state
        .with_conn(move |conn| {
            if denylist::is_denylisted(conn, &claims.jti)? {
                return Ok(None);
            }
            Ok(user::find_user_by_id(conn, user_id)?.map(|user| Authenticated { user, claims }))
        })
        .await
}

//! The JSON API: bearer tokens, no cookies, no CSRF.

mod body;

use crate::auth::Device;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use self::body::{JsonObject, flag_field, string_fields};
use crate::auth::{Accounts, Credentials, Issued, NewAccount, PasswordChange, PasswordReset};
use crate::models::User;
use crate::web::{ApiError, ApiUser, Remote};

#[derive(Serialize)]
struct UserBody<'a> {
    id: i32,
    username: &'a str,
    email: &'a str,
    email_verified: bool,
}

impl<'a> From<&'a User> for UserBody<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: &user.username,
            email: &user.email,
            email_verified: user.email_verified,
        }
    }
}

pub async fn register(
    accounts: web::Data<Accounts>,
    device: Device,
    Remote(_, presence, _): Remote,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [username, email, password] =
        string_fields(&body, ["username", "email", "password"], false)?;
    let input = NewAccount {
        username,
        email,
        password,
        password_confirm: None,
        presence,
    };
    let user = accounts.register(input, device).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(UserBody::from(&user)))
}

pub async fn login(
    accounts: web::Data<Accounts>,
    Remote(client, presence, user_agent): Remote,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [email, password] = string_fields(&body, ["email", "password"], true)?;
    let remember = flag_field(&body, "remember")?;
    let [code] = string_fields(&body, ["code"], false)?;
    let code = Some(code).filter(|c| !c.trim().is_empty());
    let issued = accounts
        .log_in(
            Credentials {
                email,
                password,
                device_cookie: None,
                user_agent,
                remember,
                presence,
                code,
            },
            client,
        )
        .await?;
    Ok(token_answer(&accounts, issued))
}

/// A refresh token for a new pair.
pub async fn refresh(
    accounts: web::Data<Accounts>,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [refresh_token] = string_fields(&body, ["refresh_token"], true)?;
    let issued = accounts.refresh(&refresh_token).await?;
    Ok(token_answer(&accounts, issued))
}

/// The answer of a login or a refresh: a new access token and refresh token.
fn token_answer(accounts: &Accounts, issued: Issued) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_in": accounts.token_ttl().as_secs(),
            "refresh_token": issued.session.refresh,
        }))
}

pub async fn logout(
    accounts: web::Data<Accounts>,
    device: Device,
    ApiUser { token, .. }: ApiUser,
) -> Result<HttpResponse, ApiError> {
    accounts.log_out(&token, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(ApiUser { auth, .. }: ApiUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(UserBody::from(auth.user.as_ref()))
}

/// A new confirmation link: 202 whether or not one was needed (a
/// confirmed address gets none), 429 within the cooldown.
pub async fn resend_confirmation(
    accounts: web::Data<Accounts>,
    device: Device,
    ApiUser { auth, .. }: ApiUser,
) -> Result<HttpResponse, ApiError> {
    let detail = if accounts.resend_confirmation(auth.user.id, device).await? {
        "We have sent a new confirmation link"
    } else {
        "Your email address is confirmed already"
    };
    Ok(HttpResponse::Accepted().json(json!({ "detail": detail })))
}

/// 202 for every address, known or not.
pub async fn forgot_password(
    accounts: web::Data<Accounts>,
    device: Device,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [email] = string_fields(&body, ["email"], true)?;
    accounts.request_password_reset(&email, device).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "detail": "If an account exists for that address, we have sent it a link to reset the password."
    })))
}

pub async fn reset_password(
    accounts: web::Data<Accounts>,
    device: Device,
    Remote(_, presence, _): Remote,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [token, password] = string_fields(&body, ["token", "password"], true)?;
    let reset = PasswordReset {
        token,
        password,
        password_confirm: None,
        presence,
    };
    accounts.reset_password(reset, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// 204: the calling session stays, every other one ends.
pub async fn change_password(
    accounts: web::Data<Accounts>,
    device: Device,
    Remote(_, presence, _): Remote,
    ApiUser { auth, .. }: ApiUser,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [current_password, new_password] =
        string_fields(&body, ["current_password", "new_password"], true)?;
    let change = PasswordChange {
        current_password,
        new_password,
        new_password_confirm: None,
        presence,
    };
    accounts.change_password(&auth, change, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_me(
    accounts: web::Data<Accounts>,
    Remote(client, presence, _): Remote,
    ApiUser { auth, .. }: ApiUser,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let [current_password] = string_fields(&body, ["current_password"], true)?;
    accounts
        .delete_account(auth.user.id, &current_password, client, &presence)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

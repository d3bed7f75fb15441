//! The JSON API: bearer tokens, no cookies, no CSRF.

mod body;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use self::body::{JsonObject, flag_field, string_fields};
use crate::auth::{Accounts, Credentials, Issued, NewAccount};
use crate::models::User;
use crate::web::{ApiError, ApiUser, Remote};

#[derive(Serialize)]
struct UserBody<'a> {
    id: i32,
    username: &'a str,
    email: &'a str,
}

impl<'a> From<&'a User> for UserBody<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: &user.username,
            email: &user.email,
        }
    }
}

pub async fn register(
    accounts: web::Data<Accounts>,
    Remote(client, presence, _): Remote,
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
    let user = accounts.register(input, client).await?;
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
    let issued = accounts
        .log_in(
            Credentials {
                email,
                password,
                device_cookie: None,
                user_agent,
                remember,
                presence,
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
    ApiUser { token, .. }: ApiUser,
) -> Result<HttpResponse, ApiError> {
    accounts.log_out(&token).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(ApiUser { auth, .. }: ApiUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(UserBody::from(auth.user.as_ref()))
}

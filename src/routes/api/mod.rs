//! The JSON API: bearer tokens, no cookies, no CSRF.

mod body;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use self::body::{JsonObject, string_fields};
use super::client::client_ip;
use crate::auth::{self, ApiUser};
use crate::domain::Registration;
use crate::error::AppError;
use crate::models::User;
use crate::state::AppState;

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
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, AppError> {
    auth::count_registration(&state, client_ip(&req, &state)).await?;
    let [username, email, password] =
        string_fields(&body, ["username", "email", "password"], false)?;
    let registration =
        Registration::parse(&username, &email, &password, None).map_err(AppError::Invalid)?;
    let issued = auth::register(&state, registration).await?;
    Ok(HttpResponse::Created().json(UserBody::from(&issued.user)))
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, AppError> {
    let client = client_ip(&req, &state);
    let [email, password] = string_fields(&body, ["email", "password"], true)?;
    let issued = auth::log_in(&state, client, &email, &password).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_in": state.tokens.ttl().as_secs(),
        })))
}

pub async fn logout(
    state: web::Data<AppState>,
    ApiUser(auth): ApiUser,
) -> Result<HttpResponse, AppError> {
    auth::log_out(&state, &auth.claims).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(ApiUser(auth): ApiUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(UserBody::from(auth.user.as_ref()))
}

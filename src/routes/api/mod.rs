//! The JSON API: bearer tokens, no cookies, no CSRF. Each handler carries
//! its part of the OpenAPI document (`openapi.rs` gathers them).

mod body;
pub mod openapi;

use crate::auth::{Device, Presence};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use self::body::{
    DeleteAccountRequest, ForgotPasswordRequest, JsonObject, LoginRequest, PasswordChangeRequest,
    RefreshRequest, RegisterRequest, ResetPasswordRequest,
};
use self::openapi::{ServerFaults, Unauthenticated};
use crate::auth::{Accounts, Credentials, Issued, NewAccount, PasswordChange, PasswordReset};
use crate::models::User;
use crate::web::error::{Detail, FieldErrors, LoginRefusal};
use crate::web::page::no_store;
use crate::web::{ApiError, ApiUser, Remote};

/// An account.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
struct UserBody<'a> {
    id: i32,
    username: &'a str,
    email: &'a str,
    /// Whether the address has been confirmed through an emailed link.
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

/// A new access token and refresh token, of a login or a refresh.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT to send as `Authorization: Bearer …`.
    access_token: String,
    token_type: TokenType,
    /// Seconds the access token lives (`GATEHOUSE_TOKEN_TTL`).
    expires_in: u64,
    /// Buys the next pair at `POST /api/refresh`, once.
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum TokenType {
    Bearer,
}

/// Creates an account.
///
/// Queues the email that confirms the address. No session starts: log in
/// next.
#[utoipa::path(
    post,
    path = "/api/register",
    tag = "account",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account, created", body = UserBody),
        (status = 409, description = "The email or the username is taken (`Email already registered`, `Username already taken`)", body = Detail),
        (status = 422, description = "A field breaks its rules: each is listed", body = FieldErrors),
        (status = 429, description = "Too many registrations from this client address (`GATEHOUSE_REGISTER_LIMIT`)", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is counted"))),
        ServerFaults,
    )
)]
pub async fn register(
    accounts: web::Data<Accounts>,
    device: Device,
    presence: Presence,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let RegisterRequest {
        username,
        email,
        password,
    } = RegisterRequest::read(&body)?;
    let input = NewAccount {
        username,
        email,
        password,
        password_confirm: None,
        presence,
    };
    let user = accounts.register(input, device).await?;
    Ok(HttpResponse::Created()
        .insert_header(no_store())
        .json(UserBody::from(&user)))
}

/// Logs in: a new session and its tokens.
///
/// An account with two-factor authentication on needs its code too.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "tokens",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in: the tokens of a new session", body = TokenPair),
        (status = 401, description = "`Invalid email or password`; for an account with two-factor on, `Two-factor code required` (with `two_factor_required`) without a code and `Invalid code` with a wrong one", body = LoginRefusal),
        (status = 403, description = "The right password of an account the operator has disabled (`This account is disabled`), or of one that has not confirmed its address while `GATEHOUSE_REQUIRE_VERIFIED_EMAIL` is on (a new link is sent)", body = Detail),
        (status = 422, description = "`email` or `password` missing or not a string, `remember` not a boolean, `code` not a string", body = FieldErrors),
        (status = 429, description = "Too many failed logins for this email and client address, this email or this client address (the right password too)", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until the limit's window ends"))),
        ServerFaults,
    )
)]
pub async fn login(
    accounts: web::Data<Accounts>,
    Remote(client, presence, user_agent): Remote,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        password,
        remember,
        code,
    } = LoginRequest::read(&body)?;
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

/// Trades a refresh token for a new pair.
///
/// The pair is of the same session; the refresh token sent is spent.
#[utoipa::path(
    post,
    path = "/api/refresh",
    tag = "tokens",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair in the same session", body = TokenPair),
        (status = 401, description = "`Invalid or expired refresh token`: empty, unknown, or of an ended session; a spent one presented again also ends its session", body = Detail),
        (status = 422, description = "`refresh_token` missing or not a string", body = FieldErrors),
        ServerFaults,
    )
)]
pub async fn refresh(
    accounts: web::Data<Accounts>,
    device: Device,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let RefreshRequest { refresh_token } = RefreshRequest::read(&body)?;
    let issued = accounts.refresh(&refresh_token, device).await?;
    Ok(token_answer(&accounts, issued))
}

/// The answer of a login or a refresh: a new access token and refresh token.
fn token_answer(accounts: &Accounts, issued: Issued) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(TokenPair {
            access_token: issued.token,
            token_type: TokenType::Bearer,
            expires_in: accounts.token_ttl().as_secs(),
            refresh_token: issued.session.refresh,
        })
}

/// Logs the token out.
///
/// The token is denylisted and its session ends.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        Unauthenticated,
        ServerFaults,
    )
)]
pub async fn logout(
    accounts: web::Data<Accounts>,
    device: Device,
    ApiUser { token, .. }: ApiUser,
) -> Result<HttpResponse, ApiError> {
    accounts.log_out(&token, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserBody),
        Unauthenticated,
        ServerFaults,
    )
)]
pub async fn me(ApiUser { auth, .. }: ApiUser) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .json(UserBody::from(auth.user.as_ref()))
}

/// Sends a new confirmation link.
///
/// 202 whether or not one was needed (a confirmed address gets none), 429
/// within a minute of the last one.
#[utoipa::path(
    post,
    path = "/api/me/verify-email",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "`We have sent a new confirmation link`, or `Your email address is confirmed already` (nothing sent)", body = Detail),
        Unauthenticated,
        (status = 429, description = "A link was sent less than a minute ago", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until a new link can be sent"))),
        ServerFaults,
    )
)]
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
    Ok(HttpResponse::Accepted().json(Detail::new(detail)))
}

/// Asks for a password-reset link.
///
/// The answer is the same for every well-formed address, known or not.
#[utoipa::path(
    post,
    path = "/api/password/forgot",
    tag = "password",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "`If an account exists for that address, we have sent it a link to reset the password.`", body = Detail),
        (status = 422, description = "`email` missing, not a string or not an email address", body = FieldErrors),
        (status = 429, description = "Too many requests from this client address", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until the limit's window ends"))),
        ServerFaults,
    )
)]
pub async fn forgot_password(
    accounts: web::Data<Accounts>,
    device: Device,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let ForgotPasswordRequest { email } = ForgotPasswordRequest::read(&body)?;
    accounts.request_password_reset(&email, device).await?;
    Ok(HttpResponse::Accepted().json(Detail::new(
        "If an account exists for that address, we have sent it a link to reset the password.",
    )))
}

/// Sets a new password with the token of a reset link.
///
/// Every session of the account ends.
#[utoipa::path(
    post,
    path = "/api/password/reset",
    tag = "password",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is changed"),
        (status = 400, description = "`Invalid or expired token`: unknown, used, replaced or expired", body = Detail),
        (status = 422, description = "A field missing or not a string, or the new password breaks the rules", body = FieldErrors),
        ServerFaults,
    )
)]
pub async fn reset_password(
    accounts: web::Data<Accounts>,
    device: Device,
    presence: Presence,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let ResetPasswordRequest { token, password } = ResetPasswordRequest::read(&body)?;
    let reset = PasswordReset {
        token,
        password,
        password_confirm: None,
        presence,
    };
    accounts.reset_password(reset, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the password.
///
/// The calling session stays, every other one ends.
#[utoipa::path(
    post,
    path = "/api/me/password",
    tag = "account",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "The password is changed"),
        Unauthenticated,
        (status = 422, description = "A field missing or not a string, `Current password is incorrect`, or the new password breaks the rules", body = FieldErrors),
        (status = 429, description = "Too many wrong passwords from this client address (a check of the current password counts as a login)", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until the limit's window ends"))),
        ServerFaults,
    )
)]
pub async fn change_password(
    accounts: web::Data<Accounts>,
    device: Device,
    presence: Presence,
    ApiUser { auth, .. }: ApiUser,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChangeRequest {
        current_password,
        new_password,
    } = PasswordChangeRequest::read(&body)?;
    let change = PasswordChange {
        current_password,
        new_password,
        new_password_confirm: None,
        presence,
    };
    accounts.change_password(&auth, change, device).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the account.
///
/// Its sessions, links and waiting mail go with it.
#[utoipa::path(
    delete,
    path = "/api/me",
    tag = "account",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account is gone"),
        Unauthenticated,
        (status = 422, description = "`current_password` missing, not a string or incorrect", body = FieldErrors),
        (status = 429, description = "Too many wrong passwords from this client address (a check of the current password counts as a login)", body = Detail,
            headers(("Retry-After" = u64, description = "Seconds until the limit's window ends"))),
        ServerFaults,
    )
)]
pub async fn delete_me(
    accounts: web::Data<Accounts>,
    Remote(client, presence, _): Remote,
    ApiUser { auth, .. }: ApiUser,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let DeleteAccountRequest { current_password } = DeleteAccountRequest::read(&body)?;
    accounts
        .delete_account(auth.user.id, &current_password, client, &presence)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

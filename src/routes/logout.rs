use actix_session::Session;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::form::Form;
use super::page::see_other;
use crate::auth::cookie::{AUTH_COOKIE, cleared_auth_cookie};
use crate::auth::extract::cookie_user;
use crate::auth::{log_out, log_out_everywhere};
use crate::error::AppError;
use crate::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: Option<String>,
}

/// Denylists the cookie's token when it is one of ours, and always clears the
/// cookie: a visitor with a stale cookie can still log out.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref())?;
    if let Some(claims) = req
        .cookie(AUTH_COOKIE)
        .and_then(|c| state.tokens.verify(c.value()))
    {
        log_out(&state, &claims).await?;
    }
    Ok(logged_out(&session, &state, "You have been logged out"))
}

/// Kills every token of the logged-in user, on every device and instance.
pub async fn logout_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref())?;
    if let Some(auth) = cookie_user(&req).await? {
        log_out_everywhere(&state, &auth.user).await?;
    }
    Ok(logged_out(
        &session,
        &state,
        "You have been logged out everywhere",
    ))
}

/// 303 to the login page with the cookie cleared, the session started over
/// and the browser's cache of our pages dropped (not its cookies: the flash
/// message lives in one).
fn logged_out(session: &Session, state: &AppState, message: &str) -> HttpResponse {
    session::restart(session);
    session::set_flash(session, message);
    see_other("/login")
        .cookie(cleared_auth_cookie(state.cookie_secure))
        .insert_header(("Clear-Site-Data", HeaderValue::from_static("\"cache\"")))
        .finish()
}

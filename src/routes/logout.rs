use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::page::see_other;
use crate::auth::cookie::{AUTH_COOKIE, cleared_auth_cookie};
use crate::auth::log_out;
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
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&session, form.csrf_token.as_deref())?;
    if let Some(claims) = req
        .cookie(AUTH_COOKIE)
        .and_then(|c| state.tokens.verify(c.value()))
    {
        log_out(&state, claims).await?;
    }
    session::restart(&session);
    session::set_flash(&session, "You have been logged out");
    Ok(see_other("/login")
        .cookie(cleared_auth_cookie(state.cookie_secure))
        .finish())
}

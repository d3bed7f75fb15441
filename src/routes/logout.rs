use crate::auth::Device;
use actix_session::Session;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::Accounts;
use crate::web::caller::refresh_cookie;
use crate::web::form::Form;
use crate::web::page::see_other;
use crate::web::session::PageSession;
use crate::web::{AppError, AuthCookies, MaybeUser, PageTokens, session};

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: Option<String>,
}

/// Ends every auth cookie's token that is one of ours (two cookies: both,
/// so a planted one cannot shield the real one), and always clears the
/// cookie: a visitor with a stale cookie can still log out.
pub async fn logout(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    cookies: web::Data<AuthCookies>,
    session: PageSession,
    PageTokens(tokens): PageTokens,
    device: Device,
    Form(form): Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    for token in &tokens {
        accounts.log_out(token, device.clone()).await?;
    }
    // The access token may have expired: the refresh cookie still names
    // the session, which ends too.
    if let Some(refresh) = refresh_cookie(&req) {
        accounts.log_out_refresh(&refresh, device).await?;
    }
    Ok(logged_out(
        &session,
        &cookies,
        "/login",
        "You have been logged out",
    ))
}

/// Kills every token of the logged-in user, on every device and instance.
/// Without a valid login there is nobody to log out: the visitor is sent to
/// log in, and nothing claims it worked.
pub async fn logout_everywhere(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    device: Device,
    cookies: web::Data<AuthCookies>,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    Form(form): Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let Some(auth) = user else {
        return Err(AppError::LoginRequired { next: "/me".into() });
    };
    accounts.log_out_everywhere(&auth.user, device).await?;
    Ok(logged_out(
        &session,
        &cookies,
        "/login",
        "You have been logged out everywhere",
    ))
}

/// 303 to `location` (the login page, or the start page after a deletion)
/// with the cookie cleared, the session started over
/// and the browser's cache of our pages dropped (not its cookies: the flash
/// message lives in one).
pub fn logged_out(
    session: &Session,
    cookies: &AuthCookies,
    location: &str,
    message: &str,
) -> HttpResponse {
    session::restart(session);
    session::set_flash(session, message);
    see_other(location)
        .cookie(cookies.cleared())
        .cookie(cookies.refresh_cleared())
        .insert_header(("Clear-Site-Data", HeaderValue::from_static("\"cache\"")))
        .finish()
}

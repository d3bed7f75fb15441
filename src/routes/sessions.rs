//! The user's sessions: the page that lists them and ends them, and the
//! same for the API.

use crate::auth::Device;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::sessions::rfc3339 as utc;
use crate::auth::token::unix_now;
use crate::auth::{Accounts, SessionInfo};
use crate::models::session::EndReason;
use crate::routes::api::openapi::{ServerFaults, Unauthenticated};
use crate::web::error::Detail;
use crate::web::form::Form;
use crate::web::page::{Layout, render, see_other};
use crate::web::session::PageSession;
use crate::web::{ApiError, ApiUser, AppError, PageUser, session};

/// One row of the sessions page.
pub struct Row {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub signed_in: String,
    pub last_active: String,
    pub last_active_ago: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub layout: Layout,
    pub rows: Vec<Row>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

pub async fn sessions_page(
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    let now = unix_now();
    let rows = accounts
        .sessions_of(auth.user.id)
        .await?
        .into_iter()
        .map(|s| Row {
            current: s.id == auth.claims.sid,
            signed_in: utc(s.created_at),
            last_active: utc(s.last_used_at),
            last_active_ago: ago(now - s.last_used_at),
            id: s.id,
            device: s.device,
            ip: if s.ip.is_empty() {
                "unknown".into()
            } else {
                s.ip
            },
        })
        .collect();
    render(
        StatusCode::OK,
        &SessionsPage {
            layout: Layout::new("Your sessions", &session, Some(&auth)),
            rows,
        },
    )
}

pub async fn end_one(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    device: Device,
    PageUser(auth): PageUser,
    id: web::Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    if !accounts.end_session(auth.user.id, &id, device).await? {
        return Err(AppError::NotFound);
    }
    session::set_flash(&session, "Session ended");
    Ok(see_other("/me/sessions").finish())
}

pub async fn end_others(
    req: HttpRequest,
    session: PageSession,
    accounts: web::Data<Accounts>,
    PageUser(auth): PageUser,
    device: Device,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let current = auth.claims.sid.clone();
    accounts
        .end_sessions(auth.user.id, Some(current), EndReason::EndedByUser, device)
        .await?;
    session::set_flash(&session, "Other sessions ended");
    Ok(see_other("/me/sessions").finish())
}

/// A live session of the caller's.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
struct ApiSession {
    /// What `DELETE /api/sessions/{id}` takes.
    id: String,
    /// In words, from the login's `User-Agent` ("Firefox on Linux").
    device: String,
    /// The client address of the login.
    ip: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339, UTC; written at most once a minute (a tenth of the idle
    /// limit when that is shorter).
    #[schema(format = DateTime)]
    last_used_at: String,
    /// Whether this is the session of the token that asks.
    current: bool,
}

/// The caller's live sessions.
#[utoipa::path(
    get,
    path = "/api/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every live session of the caller's", body = Vec<ApiSession>),
        Unauthenticated,
        ServerFaults,
    )
)]
pub async fn api_list(
    accounts: web::Data<Accounts>,
    ApiUser { auth, .. }: ApiUser,
) -> Result<HttpResponse, ApiError> {
    let list: Vec<ApiSession> = accounts
        .sessions_of(auth.user.id)
        .await?
        .into_iter()
        .map(|s: SessionInfo| ApiSession {
            current: s.id == auth.claims.sid,
            created_at: utc(s.created_at),
            last_used_at: utc(s.last_used_at),
            id: s.id,
            device: s.device,
            ip: s.ip,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(list))
}

/// Ends one of the caller's sessions.
///
/// Its tokens stop working at once.
#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    operation_id = "end_session",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The `id` of a session in `GET /api/sessions`")),
    responses(
        (status = 204, description = "The session has ended"),
        Unauthenticated,
        (status = 404, description = "`Page not found`: no live session of the caller's has this id", body = Detail),
        ServerFaults,
    )
)]
pub async fn api_end(
    accounts: web::Data<Accounts>,
    device: Device,
    ApiUser { auth, .. }: ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !accounts.end_session(auth.user.id, &id, device).await? {
        return Err(AppError::NotFound.into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// How long ago, in words: "just now", "5 minutes ago", "3 days ago".
pub fn ago(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        ..60 => "just now".to_owned(),
        60..3600 => plural(seconds / 60, "minute"),
        3600..86_400 => plural(seconds / 3600, "hour"),
        _ => plural(seconds / 86_400, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_and_said_in_words() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(ago(3 * 86_400 + 5), "3 days ago");
    }
}

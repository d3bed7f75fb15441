use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use super::client::client_ip;
use super::form::Form;
use super::page::{Layout, render, see_other};
use crate::auth::cookie::auth_cookie;
use crate::auth::{self, MaybePageUser};
use crate::domain::next_path;
use crate::error::AppError;
use crate::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    csrf_token: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    /// Where to go after logging in; always a local path.
    pub next: String,
    pub error: Option<String>,
}

pub async fn login_form(
    session: Session,
    MaybePageUser(user): MaybePageUser,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        layout: Layout::new("Log in", &session, user.as_ref()),
        email: String::new(),
        next: next_path(query.next.as_deref()).to_owned(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref())?;
    let next = next_path(form.next.as_deref()).to_owned();
    let client = client_ip(&req, &state);
    match auth::log_in(&state, client, &form.email, &form.password).await {
        Ok(issued) => {
            session::restart(&session);
            session::set_flash(&session, format!("Welcome, {}", issued.user.username));
            Ok(see_other(&next)
                .cookie(auth_cookie(
                    issued.token,
                    state.tokens.ttl(),
                    state.cookie_secure,
                ))
                .finish())
        }
        Err(error @ (AppError::InvalidCredentials | AppError::TooManyRequests { .. })) => {
            let page = LoginPage {
                layout: Layout::new("Log in", &session, None),
                email: form.email,
                next,
                error: Some(error.to_string()),
            };
            let mut response = render(error.status_code(), &page)?;
            if let AppError::TooManyRequests { retry_after } = error {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, retry_after.into());
            }
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

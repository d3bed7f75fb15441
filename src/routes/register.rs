use actix_session::Session;
use actix_web::ResponseError;
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::client::client_ip;
use super::form::Form;
use super::page::{Layout, render, see_other};
use crate::auth::cookie::auth_cookie;
use crate::auth::{self, MaybePageUser};
use crate::domain::{FieldError, Registration};
use crate::error::AppError;
use crate::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    csrf_token: Option<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    pub layout: Layout,
    pub username: String,
    pub email: String,
    pub has_errors: bool,
    /// Said above the form instead of "Please correct the marked fields".
    pub summary: Option<String>,
    pub username_error: Option<&'static str>,
    pub email_error: Option<&'static str>,
    pub password_error: Option<&'static str>,
    pub password_confirm_error: Option<&'static str>,
}

impl RegisterPage {
    fn new(layout: Layout, username: String, email: String, errors: &[FieldError]) -> Self {
        let message = |field| errors.iter().find(|e| e.field == field).map(|e| e.message);
        Self {
            layout,
            username,
            email,
            has_errors: !errors.is_empty(),
            summary: None,
            username_error: message("username"),
            email_error: message("email"),
            password_error: message("password"),
            password_confirm_error: message("password_confirm"),
        }
    }
}

pub async fn register_form(
    session: Session,
    MaybePageUser(user): MaybePageUser,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::new("Register", &session, user.as_ref());
    render(
        StatusCode::OK,
        &RegisterPage::new(layout, String::new(), String::new(), &[]),
    )
}

pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref())?;
    let RegisterForm {
        username,
        email,
        password,
        password_confirm,
        ..
    } = form;
    let show_again = |status, errors: &[FieldError], summary: Option<String>| {
        let layout = Layout::new("Register", &session, None);
        let mut page = RegisterPage::new(layout, username.clone(), email.clone(), errors);
        page.summary = summary;
        render(status, &page)
    };
    if let Err(error @ AppError::TooManyRequests { retry_after }) =
        auth::count_registration(&state, client_ip(&req, &state)).await
    {
        let mut response = show_again(error.status_code(), &[], Some(error.to_string()))?;
        response
            .headers_mut()
            .insert(RETRY_AFTER, retry_after.into());
        return Ok(response);
    }
    let registration =
        match Registration::parse(&username, &email, &password, Some(&password_confirm)) {
            Ok(registration) => registration,
            Err(errors) => return show_again(StatusCode::UNPROCESSABLE_ENTITY, &errors, None),
        };
    match auth::register(&state, registration).await {
        Ok(issued) => {
            session::restart(&session);
            session::set_flash(&session, format!("Welcome, {}", issued.user.username));
            Ok(see_other("/me")
                .cookie(auth_cookie(
                    issued.token,
                    state.tokens.ttl(),
                    state.cookie_secure,
                ))
                .finish())
        }
        Err(AppError::Conflict(taken)) => {
            let errors = [FieldError {
                field: taken.field(),
                message: taken.message(),
            }];
            show_again(StatusCode::CONFLICT, &errors, None)
        }
        Err(other) => Err(other),
    }
}

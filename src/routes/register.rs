use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, Accounts, Device, NewAccount};
use crate::domain::FieldError;
use crate::web::form::Form;
use crate::web::page::{Layout, form_again, render, see_other};
use crate::web::session::PageSession;
use crate::web::{AppError, AuthCookies, MaybeUser, Remote, session};

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
    session: PageSession,
    MaybeUser(user): MaybeUser,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::new("Register", &session, user.as_ref());
    render(
        StatusCode::OK,
        &RegisterPage::new(layout, String::new(), String::new(), &[]),
    )
}

pub async fn register(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    cookies: web::Data<AuthCookies>,
    session: PageSession,
    Remote(client, presence, user_agent): Remote,
    Form(form): Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let (username, email) = (form.username.clone(), form.email.clone());
    let input = NewAccount {
        username: form.username,
        email: form.email,
        password: form.password,
        password_confirm: Some(form.password_confirm),
        presence,
    };
    let registered = match accounts
        .register(
            input,
            Device {
                client,
                user_agent: user_agent.clone(),
            },
        )
        .await
    {
        Ok(_) if accounts.requires_verified_email() => {
            session::set_flash(
                &session,
                "Confirm your email address: we have sent you a link",
            );
            return Ok(see_other("/login").finish());
        }
        Ok(user) => {
            let device = Device { client, user_agent };
            accounts.start_session(user, device, false).await
        }
        Err(error) => Err(error),
    };
    let error = match registered {
        Ok(issued) => {
            session::restart(&session);
            session::set_flash(&session, format!("Welcome, {}", issued.user.username));
            return Ok(see_other("/me")
                .cookie(cookies.holding(issued.token))
                .cookie(cookies.refresh(issued.session.refresh, false))
                .finish());
        }
        Err(error) => error,
    };
    let (errors, summary) = match &error {
        auth::Error::Invalid(errors) => (errors.clone(), None),
        auth::Error::Conflict(taken) => (
            vec![FieldError {
                field: taken.field(),
                message: taken.message(),
            }],
            None,
        ),
        auth::Error::TooManyRequests { .. } => (Vec::new(), Some(error.to_string())),
        _ => return Err(error.into()),
    };
    let layout = Layout::new("Register", &session, None);
    let mut page = RegisterPage::new(layout, username, email, &errors);
    page.summary = summary;
    form_again(&error.into(), &page)
}

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, Accounts, Credentials};
use crate::domain::next_path;
use crate::web::form::Form;
use crate::web::page::{Layout, form_again, render, see_other};
use crate::web::session::PageSession;
use crate::web::{AppError, AuthCookies, DeviceCookies, MaybeUser, Remote, session};

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
    /// The "Keep me logged in" checkbox: present when ticked.
    remember: Option<String>,
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
    session: PageSession,
    MaybeUser(user): MaybeUser,
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
    accounts: web::Data<Accounts>,
    cookies: web::Data<AuthCookies>,
    devices: web::Data<DeviceCookies>,
    session: PageSession,
    Remote(client, presence, user_agent): Remote,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let next = next_path(form.next.as_deref()).to_owned();
    let credentials = Credentials {
        email: form.email.clone(),
        password: form.password,
        device_cookie: devices.account(&req),
        user_agent,
        remember: form.remember.is_some(),
        presence,
        code: None,
    };
    match accounts.log_in(credentials, client).await {
        Ok(issued) => {
            session::restart(&session);
            session::set_flash(&session, format!("Welcome, {}", issued.user.username));
            Ok(see_other(&next)
                .cookie(cookies.holding(issued.token))
                .cookie(cookies.refresh(issued.session.refresh, issued.session.remembered))
                .cookie(devices.naming(issued.user.id))
                .finish())
        }
        Err(auth::Error::TwoFactorRequired { user_id }) => {
            Ok(crate::routes::two_factor::start_pending(
                &session,
                user_id,
                form.remember.is_some(),
                &next,
            ))
        }
        Err(
            error @ (auth::Error::InvalidCredentials
            | auth::Error::TooManyRequests { .. }
            | auth::Error::EmailNotConfirmed
            | auth::Error::AccountDisabled),
        ) => {
            let page = LoginPage {
                layout: Layout::new("Log in", &session, None),
                email: form.email,
                next,
                error: Some(error.to_string()),
            };
            form_again(&error.into(), &page)
        }
        Err(other) => Err(other.into()),
    }
}

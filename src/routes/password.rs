//! The password pages: forgotten, reset by link, changed while logged in.

use crate::auth::{Device, Presence};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, Accounts, PasswordChange, PasswordReset};
use crate::web::form::Form;
use crate::web::form_page::{Field, FormPage};
use crate::web::page::{Layout, render, see_other};
use crate::web::session::PageSession;
use crate::web::{AppError, MaybeUser, PageUser, Remote, session};

const PASSWORD_HINT: Option<&str> = Some("At least 8 characters.");

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
    csrf_token: Option<String>,
}

fn forgot_page(
    session: &PageSession,
    user: Option<&auth::Authenticated>,
    email: String,
) -> FormPage {
    FormPage::new(
        "Forgot your password?",
        session,
        user,
        "/password/forgot",
        vec![Field::email("email", "Email", email)],
        "Send the link",
    )
    .lead(
        "Enter the email address of your account. We will send it a link to choose a new password.",
    )
    .back("/login", "Back to log in")
}

pub async fn forgot_form(
    session: PageSession,
    MaybeUser(user): MaybeUser,
) -> Result<HttpResponse, AppError> {
    forgot_page(&session, user.as_ref(), String::new()).show()
}

pub async fn forgot(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    device: Device,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    Form(form): Form<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts.request_password_reset(&form.email, device).await {
        Ok(()) => {
            session::set_flash(
                &session,
                "If an account exists for that address, we have sent it a link to reset the password.",
            );
            Ok(see_other("/login").finish())
        }
        Err(error) => forgot_page(&session, user.as_ref(), form.email).again(error),
    }
}

#[derive(Template)]
#[template(path = "link_invalid.html")]
pub struct LinkInvalidPage {
    pub layout: Layout,
    pub next_href: &'static str,
    pub next_text: &'static str,
}

/// The 400 page of a bad link, pointing where a new one can be had.
pub fn link_invalid(
    session: &PageSession,
    user: Option<&auth::Authenticated>,
    next_href: &'static str,
    next_text: &'static str,
) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::BAD_REQUEST,
        &LinkInvalidPage {
            layout: Layout::new("This link is invalid or has expired", session, user),
            next_href,
            next_text,
        },
    )
}

fn reset_page(session: &PageSession, user: Option<&auth::Authenticated>, token: &str) -> FormPage {
    FormPage::new(
        "Choose a new password",
        session,
        user,
        format!("/password/reset/{token}"),
        vec![
            Field::new_password("password", "New password", PASSWORD_HINT),
            Field::new_password("password_confirm", "Confirm new password", None),
        ],
        "Set the new password",
    )
    .lead("Every session of the account ends when the password is reset.")
}

pub async fn reset_form(
    accounts: web::Data<Accounts>,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match accounts.check_reset_link(&token).await {
        Ok(()) => reset_page(&session, user.as_ref(), &token).show(),
        Err(auth::Error::InvalidLink) => link_invalid(
            &session,
            user.as_ref(),
            "/password/forgot",
            "Send a new link",
        ),
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    csrf_token: Option<String>,
}

pub async fn reset(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    Remote(client, presence, user_agent): Remote,
    token: web::Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let reset = PasswordReset {
        token: token.clone(),
        password: form.password,
        password_confirm: Some(form.password_confirm),
        presence,
    };
    match accounts
        .reset_password(reset, Device { client, user_agent })
        .await
    {
        Ok(()) => {
            session::set_flash(
                &session,
                "Your password has been reset. Log in with your new password.",
            );
            Ok(see_other("/login").finish())
        }
        Err(auth::Error::InvalidLink) => link_invalid(
            &session,
            user.as_ref(),
            "/password/forgot",
            "Send a new link",
        ),
        Err(error) => reset_page(&session, user.as_ref(), &token).again(error),
    }
}

fn change_page(session: &PageSession, user: &auth::Authenticated) -> FormPage {
    FormPage::new(
        "Change your password",
        session,
        Some(user),
        "/me/password",
        vec![
            Field::current_password("current_password", "Current password"),
            Field::new_password("new_password", "New password", PASSWORD_HINT),
            Field::new_password("new_password_confirm", "Confirm new password", None),
        ],
        "Change password",
    )
    .lead("Every other session of your account ends; this one stays logged in.")
    .back("/me", "Back to your account")
}

pub async fn change_form(
    session: PageSession,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    change_page(&session, &auth).show()
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
    csrf_token: Option<String>,
}

pub async fn change(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    device: Device,
    session: PageSession,
    PageUser(auth): PageUser,
    presence: Presence,
    Form(form): Form<ChangeForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let change = PasswordChange {
        current_password: form.current_password,
        new_password: form.new_password,
        new_password_confirm: Some(form.new_password_confirm),
        presence,
    };
    match accounts.change_password(&auth, change, device).await {
        Ok(()) => {
            session::set_flash(&session, "Your password has been changed");
            Ok(see_other("/me").finish())
        }
        Err(error) => change_page(&session, &auth).again(error),
    }
}

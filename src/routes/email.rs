//! The address: the page of a link sent to it, a new confirmation link,
//! and a change of address.

use crate::auth::Device;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::links::Purpose;
use crate::auth::{self, Accounts, Authenticated};
use crate::routes::password::link_invalid;
use crate::web::form::Form;
use crate::web::form_page::{Field, FormPage};
use crate::web::page::see_other;
use crate::web::session::PageSession;
use crate::web::{AppError, MaybeUser, PageUser, Remote, session};

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

fn confirm_page(
    session: &PageSession,
    user: Option<&Authenticated>,
    token: &str,
    purpose: Purpose,
) -> FormPage {
    let lead = match purpose {
        Purpose::ConfirmNewAddress => {
            "Confirm this address as the new email address of your account."
        }
        _ => "Confirm the email address of your account.",
    };
    FormPage::new(
        "Confirm your email address",
        session,
        user,
        format!("/verify-email/{token}"),
        Vec::new(),
        "Confirm my email address",
    )
    .lead(lead)
}

/// The page of a confirmation link: a button, so that opening the link
/// (as mail scanners do) uses nothing up.
pub async fn confirm_form(
    accounts: web::Data<Accounts>,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    match accounts.check_address_link(&token).await {
        Ok(purpose) => confirm_page(&session, user.as_ref(), &token, purpose).show(),
        Err(auth::Error::InvalidLink) => {
            link_invalid(&session, user.as_ref(), "/me", "Go to your account")
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn confirm(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    device: Device,
    session: PageSession,
    MaybeUser(user): MaybeUser,
    token: web::Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts.confirm_address(&token, device).await {
        Ok(_) => {
            session::set_flash(&session, "Your email address is confirmed");
            Ok(see_other("/me").finish())
        }
        Err(auth::Error::InvalidLink) => {
            link_invalid(&session, user.as_ref(), "/me", "Go to your account")
        }
        Err(error) => {
            confirm_page(&session, user.as_ref(), &token, Purpose::ConfirmNewAddress).again(error)
        }
    }
}

/// `/me`'s "send a new link".
pub async fn resend(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    device: Device,
    session: PageSession,
    PageUser(auth): PageUser,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    let flash = if accounts.resend_confirmation(auth.user.id, device).await? {
        format!(
            "We have sent a new confirmation link to {}",
            auth.user.email
        )
    } else {
        "Your email address is confirmed already".to_owned()
    };
    session::set_flash(&session, flash);
    Ok(see_other("/me").finish())
}

fn change_page(session: &PageSession, user: &Authenticated, new_email: String) -> FormPage {
    FormPage::new(
        "Change your email address",
        session,
        Some(user),
        "/me/email",
        vec![
            Field::email("new_email", "New email address", new_email),
            Field::current_password("current_password", "Current password"),
        ],
        "Send the confirmation link",
    )
    .lead(format!(
        "Your address is {}. It changes when you open the link we send to the new address.",
        user.user.email
    ))
    .back("/me", "Back to your account")
}

pub async fn change_form(
    session: PageSession,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    change_page(&session, &auth, String::new()).show()
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    current_password: String,
    csrf_token: Option<String>,
}

pub async fn change(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    session: PageSession,
    PageUser(auth): PageUser,
    Remote(client, presence, user_agent): Remote,
    Form(form): Form<ChangeForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts
        .request_email_change(
            &auth.user,
            &form.new_email,
            &form.current_password,
            Device { client, user_agent },
            &presence,
        )
        .await
    {
        Ok(new_email) => {
            session::set_flash(
                &session,
                format!("We have sent a confirmation link to {new_email}"),
            );
            Ok(see_other("/me").finish())
        }
        Err(error) => change_page(&session, &auth, form.new_email).again(error),
    }
}

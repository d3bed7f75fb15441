use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{Accounts, Authenticated};
use crate::models::User;
use crate::routes::logout::logged_out;
use crate::web::form::Form;
use crate::web::form_page::{Field, FormPage};
use crate::web::page::{Layout, render};
use crate::web::session::PageSession;
use crate::web::{AppError, AuthCookies, PageUser, Remote, session};

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub user: Arc<User>,
}

pub async fn account(
    session: PageSession,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &AccountPage {
            layout: Layout::new("Your account", &session, Some(&auth)),
            user: Arc::clone(&auth.user),
        },
    )
}

fn delete_page(session: &PageSession, user: &Authenticated) -> FormPage {
    FormPage::new(
        "Delete your account",
        session,
        Some(user),
        "/me/delete",
        vec![Field::current_password("current_password", "Current password")],
        "Delete my account",
    )
    .lead(format!(
        "This deletes the account {} ({}) at once and for good: every session ends, and the username and email address can be registered again.",
        user.user.username, user.user.email
    ))
    .danger()
    .back("/me", "Keep my account")
}

pub async fn delete_form(
    session: PageSession,
    PageUser(auth): PageUser,
) -> Result<HttpResponse, AppError> {
    delete_page(&session, &auth).show()
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    current_password: String,
    csrf_token: Option<String>,
}

pub async fn delete(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    cookies: web::Data<AuthCookies>,
    session: PageSession,
    PageUser(auth): PageUser,
    Remote(client, presence, _): Remote,
    Form(form): Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_form(&req, &session, form.csrf_token.as_deref()).await?;
    match accounts
        .delete_account(auth.user.id, &form.current_password, client, &presence)
        .await
    {
        Ok(()) => Ok(logged_out(
            &session,
            &cookies,
            "/",
            "Your account has been deleted",
        )),
        Err(error) => delete_page(&session, &auth).again(error),
    }
}

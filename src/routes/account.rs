use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::web::page::{Layout, render};
use crate::web::{AppError, PageUser};

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub username: String,
    pub email: String,
}

pub async fn account(session: Session, PageUser(auth): PageUser) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &AccountPage {
            layout: Layout::new("Your account", &session, Some(&auth)),
            username: auth.user.username.clone(),
            email: auth.user.email.clone(),
        },
    )
}

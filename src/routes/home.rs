use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::page::{Layout, render};
use crate::auth::MaybePageUser;
use crate::error::AppError;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
}

pub async fn home(
    session: Session,
    MaybePageUser(user): MaybePageUser,
) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::new("Home", &session, user.as_ref()),
        },
    )
}

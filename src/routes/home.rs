use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::web::page::{Layout, render};
use crate::web::session::PageSession;
use crate::web::{AppError, MaybeUser};

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
}

pub async fn home(
    session: PageSession,
    MaybeUser(user): MaybeUser,
) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::new("Home", &session, user.as_ref()),
        },
    )
}

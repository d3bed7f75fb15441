//! What every page shares: the layout context and rendering.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use askama::Template;

use crate::auth::Authenticated;
use crate::models::User;
use crate::routes::static_files::STYLESHEET_URL;
use crate::web::error::AppError;
use crate::web::session::{self, PageSession};

/// The base template's context.
pub struct Layout {
    pub title: &'static str,
    /// The stylesheet's versioned URL.
    pub stylesheet: &'static str,
    /// The logged-in user, whose name the header shows.
    pub user: Option<Arc<User>>,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Layout {
    /// Takes the pending flash message out of the session; the page's forms
    /// get the session's CSRF token or, for a logged-in visitor without
    /// one, the login's (see [`session::form_token`]).
    pub fn new(title: &'static str, session: &PageSession, user: Option<&Authenticated>) -> Self {
        Self {
            title,
            stylesheet: STYLESHEET_URL.as_str(),
            user: user.map(|u| Arc::clone(&u.user)),
            csrf: session::form_token(session, user),
            flash: session::take_flash(session),
        }
    }

    /// For pages rendered without a session (error pages).
    pub fn bare(title: &'static str) -> Self {
        Self {
            title,
            stylesheet: STYLESHEET_URL.as_str(),
            user: None,
            csrf: String::new(),
            flash: None,
        }
    }
}

/// `Cache-Control: no-store`, ready made: a typed header would be
/// formatted into a new value on every answer.
pub fn no_store() -> (HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// `Content-Type` of a page.
fn html() -> (HeaderName, HeaderValue) {
    (
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    )
}

/// Renders a page with a status. Pages hold a CSRF token or personal data,
/// so no cache keeps them.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .insert_header(html())
        .insert_header(no_store())
        .body(body))
}

/// A form post that failed: its form again, with the status and headers
/// (such as `Retry-After`) of the error it met.
pub fn form_again(error: &AppError, page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(AppError::internal)?;
    Ok(error.response().insert_header(html()).body(body))
}

/// The answer to a successful form post: 303 to the next page.
pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header(no_store());
    response
}

//! HTTP handlers, one module per URL. Handlers parse, call one function of
//! `auth`, and map the result to a page, JSON or a redirect.

pub mod account;
pub mod api;
pub mod client;
pub mod form;
pub mod health;
pub mod home;
pub mod login;
pub mod logout;
pub mod page;
pub mod register;
pub mod static_files;

use crate::error::AppError;

/// Anything no route claims.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}

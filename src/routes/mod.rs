//! HTTP handlers, one module per URL. Handlers parse, call one method of
//! `auth::Accounts`, and map the result to a page, JSON or a redirect.

pub mod account;
pub mod activity;
pub mod api;
pub mod email;
pub mod health;
pub mod home;
pub mod login;
pub mod logout;
pub mod password;
pub mod register;
pub mod sessions;
pub mod static_files;
pub mod two_factor;

use crate::web::{ApiError, AppError};

/// Anything no page route claims.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// Anything no API route claims.
pub async fn api_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(AppError::NotFound.into())
}

//! Static files, compiled into the binary so it runs from any directory.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

use crate::error::AppError;

const STYLESHEET: &str = include_str!("../../static/style.css");

pub async fn static_file(name: web::Path<String>) -> Result<HttpResponse, AppError> {
    match name.as_str() {
        "style.css" => Ok(HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header(CacheControl(vec![
                CacheDirective::Public,
                CacheDirective::MaxAge(3600),
            ]))
            .body(STYLESHEET)),
        _ => Err(AppError::NotFound),
    }
}
